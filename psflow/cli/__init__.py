"""The `psflow` command line: parse, call psflow.service, render. See psflow.cli.app."""

from psflow.cli import commands_control, commands_history, commands_keys, commands_running, commands_setup  # noqa: F401 - register
from psflow.cli.app import app, main

__all__ = ["app", "main"]
