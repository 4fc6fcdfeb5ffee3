"""The use cases (psflow.service) tested in-process on every backend. A package: its test files may share names with tests/e2e."""
