"""Input a person sends to a job (`psflow send JOB name=value`), read by `wait_for(name)`.

Names and the text form of values, shared by the CLI (which parses what people
type) and by `wait_for` under plain Python (which reads PSFLOW_INPUT_<NAME>).
Light on purpose: imported by the script layer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from psflow.errors import UsageError

MAX_NAME_LENGTH = 128
_NAME = re.compile(rf"[A-Za-z0-9_.:-]{{1,{MAX_NAME_LENGTH}}}")
_NOT_ENV = re.compile(r"[^A-Za-z0-9_]")


class InputError(UsageError, ValueError):
    """An input name or value that cannot be used; the message says what is expected."""


def check_name(name: object) -> str:
    """`name` if it is a valid input name, else InputError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        shown = repr(name) if isinstance(name, str) else f"a {type(name).__name__}"
        raise InputError(
            f"input name {shown} is not valid: use 1 to {MAX_NAME_LENGTH} letters, digits, '_', '.', ':' or '-'"
        )
    return name


def parse_value(text: str) -> Any:
    """What `name=TEXT` means: the JSON value if TEXT is JSON (`3`, `true`, `"3"`, `[1]`), else TEXT itself."""
    import json

    try:
        return json.loads(text, parse_constant=_refuse, parse_float=_finite)
    except ValueError:
        return text


def _refuse(literal: str) -> Any:
    raise ValueError(f"{literal} is not a value psflow takes from JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def parse_assignments(assignments: Iterable[str]) -> dict[str, Any]:
    """`["approval=yes", "count=3"]` → `{"approval": "yes", "count": 3}`."""
    inputs: dict[str, Any] = {}
    for assignment in assignments:
        name, equals, text = assignment.partition("=")
        if not equals:
            raise InputError(f"{assignment!r} is not NAME=VALUE (for example approval=yes)")
        _add(inputs, check_name(name), parse_value(text))
    return inputs


def parse_json_object(text: str) -> dict[str, Any]:
    """`'{"approval": "yes"}'` → `{"approval": "yes"}`: a JSON object of input names to values."""
    import json

    try:
        value = json.loads(text, parse_constant=_refuse, parse_float=_finite)
    except ValueError as error:
        raise InputError(f"--json is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise InputError(f"--json must be a JSON object of names to values, not a {type(value).__name__}")
    for name in value:
        check_name(name)
    return value


def merge(*groups: dict[str, Any]) -> dict[str, Any]:
    """All inputs of `groups`; a name given twice is an error."""
    inputs: dict[str, Any] = {}
    for group in groups:
        for name, value in group.items():
            _add(inputs, name, value)
    return inputs


def _add(inputs: dict[str, Any], name: str, value: Any) -> None:
    if name in inputs:
        raise InputError(f"input {name!r} is given twice: send one value per name")
    inputs[name] = value


def env_var(name: str) -> str:
    """The environment variable that gives input `name` to a script run by plain Python."""
    return "PSFLOW_INPUT_" + _NOT_ENV.sub("_", name).upper()
