"""What the `psflow` command prints (psflow.cli), in-process.

A package, so that its test files may share names with those of tests/e2e.
"""
