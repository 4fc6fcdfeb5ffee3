"""The `psflow` command line: parse, call psflow.service, render. See psflow.cli.app."""

from psflow.cli import (  # noqa: F401 - register
    commands_control,
    commands_history,
    commands_keys,
    commands_queues,
    commands_running,
    commands_setup,
)
from psflow.cli.app import app, main

__all__ = ["app", "main"]
