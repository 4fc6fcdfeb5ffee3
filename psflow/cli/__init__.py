"""The `psflow` command line: parse, call psflow.service, render. See psflow.cli.app."""

from psflow.cli.app import app, main
from psflow.cli import commands_running, commands_history, commands_control, commands_setup  # noqa: F401, E402 - register

__all__ = ["app", "main"]
