"""`python -m psflow`: the `psflow` command."""

from psflow.cli import main

main()
