"""The use cases (psflow.service), in-process on every backend.

A package, so that its test files may share names with those of tests/e2e.
"""
