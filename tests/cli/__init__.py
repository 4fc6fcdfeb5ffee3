"""What the `psflow` command prints, tested in-process (psflow.cli). A package: its test files may share names with tests/e2e."""
