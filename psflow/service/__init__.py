"""What psflow does, one module per reason to change: running, workers, history, control,
inputs, workflows, setup and preflight. Each function takes the Store to work on.

The CLI parses, calls these and renders what they return; psflow.api is the
public facade over them for other Python tools.
"""
