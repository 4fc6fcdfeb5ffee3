"""Durations and times as people read and write them: `90s`, `1d12h`, `2026-12-01 06:00:00+01:00`.

Light on purpose: the script layer uses it too.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta

_AGE = re.compile(r"(?:(\d+(?:\.\d+)?)([smhdw]))+")
_AGE_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def to_seconds(duration: object, what: str, *, positive: bool = False) -> float:
    """`duration` (seconds or a timedelta; more than 0 if `positive`) as seconds; TypeError/ValueError
    naming `what` otherwise."""
    if isinstance(duration, timedelta):
        seconds = duration.total_seconds()
    elif isinstance(duration, (int, float)) and not isinstance(duration, bool):
        seconds = float(duration)
    else:
        raise TypeError(f"{what} needs seconds or a timedelta, not {type(duration).__name__}")
    if positive and not seconds > 0:
        raise ValueError(f"{what} needs more than 0 seconds, not {duration!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{what} needs a duration of 0 or more seconds, not {duration!r}")
    return seconds


def parse_age(text: str) -> float | None:
    """Seconds in `30d`, `12h`, `45m`, `90s`, `2w` or `1d12h`; None if `text` is not such a duration."""
    cleaned = text.strip().lower() if isinstance(text, str) else ""
    if not _AGE.fullmatch(cleaned):
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _AGE_PART.findall(cleaned))


def describe_duration(seconds: float) -> str:
    """A short duration for people: 45s, 1m30s, 1h, 2d3h, 0.5s."""
    if seconds < 60:
        return f"{seconds:g}s" if seconds != int(seconds) else f"{int(seconds)}s"
    whole = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts[:2])


def describe_time(epoch: float) -> str:
    """A moment for people, in this server's local time with its UTC offset."""
    return datetime.fromtimestamp(epoch).astimezone().isoformat(sep=" ", timespec="seconds")
