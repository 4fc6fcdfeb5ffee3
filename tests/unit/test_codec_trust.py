"""A row of the shared database is data, never a way to run code: decoding a forged value of any
tag imports nothing and calls nothing it names, and fails with a clear ValueError.

The sentinels are real modules on sys.path whose top level writes a file when imported, plus a
fake `tzdata` package (what zoneinfo imports for a key it does not find on TZPATH).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from psflow.codec import decode, to_display

SENTINEL = """\
import dataclasses, enum, pathlib, typing
with open({marker!r}, "a") as file:
    file.write(__name__ + "\\n")

class Color(enum.Enum):
    RED = 1

@dataclasses.dataclass
class Point:
    x: int = 0

class Pair(typing.NamedTuple):
    a: int
    b: int
"""
SENTINELS = ("psflow_sentinel", "psflow_sentinel_pkg", "psflow_sentinel_pkg.__main__", "tzdata", "tzdata.zoneinfo")


@pytest.fixture
def marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The file a sentinel module writes when imported; it must never exist."""
    marker = tmp_path / "imported.txt"
    folder = tmp_path / "path"
    for name in (
        "psflow_sentinel.py",
        "psflow_sentinel_pkg/__init__.py",
        "psflow_sentinel_pkg/__main__.py",
        "tzdata/__init__.py",
        "tzdata/zoneinfo/__init__.py",
        "tzdata/zoneinfo/Psflow/__init__.py",
    ):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(SENTINEL.format(marker=str(marker)))
    (folder / "tzdata/zoneinfo/Psflow/Nowhere").write_bytes(b"TZif")
    monkeypatch.syspath_prepend(str(folder))
    assert not any(name in sys.modules for name in SENTINELS)
    yield marker
    for name in (*SENTINELS, "tzdata.zoneinfo.Psflow"):
        sys.modules.pop(name, None)


class Numberish:
    """What a forged payload could name in place of a number: none of these may run."""

    calls: list[str] = []

    def __index__(self) -> int:
        Numberish.calls.append("index")
        return 1

    def __float__(self) -> float:
        Numberish.calls.append("float")
        return 1.0

    def __complex__(self) -> complex:
        Numberish.calls.append("complex")
        return 1j

    def __iter__(self) -> Iterator[int]:
        Numberish.calls.append("iter")
        return iter([1, 2])


@dataclasses.dataclass
class Numbers(Numberish):
    pass


@dataclasses.dataclass
class Finalized:
    """A loaded dataclass whose copies would run code when dropped."""

    path: str = ""
    deleted = []  # type: ignore[var-annotated]

    def __del__(self) -> None:
        Finalized.deleted.append(self.path)


NUMBERS = {"$t": "dataclass", "v": [__name__, "Numbers", {}]}
UNLOADED = [
    {"$t": "module", "v": "psflow_sentinel"},
    {"$t": "module", "v": "psflow_sentinel_pkg.__main__"},
    {"$t": "module", "v": "psflow_sentinel_pkg"},
    {"$t": "enum", "v": ["psflow_sentinel", "Color", "RED"]},
    {"$t": "dataclass", "v": ["psflow_sentinel", "Point", {"x": 1}]},
    {"$t": "namedtuple", "v": ["psflow_sentinel", "Pair", [1, 2]]},
    {"$t": "dataclass", "v": ["psflow_sentinel_pkg.__main__", "Point", {}]},
    {"$t": "datetime", "v": ["2024-01-01T00:00:00", "Psflow/Nowhere", 0]},
    {"$t": "time", "v": ["12:00:00", "Psflow/Nowhere", 0]},
    {"$t": "datetime", "v": ["2024-01-01T00:00:00", "../../etc/passwd", 0]},
    [1, {"k": {"$t": "tuple", "v": [{"$t": "module", "v": "psflow_sentinel"}]}}],
    {"$t": "dict", "v": [[{"$t": "enum", "v": ["psflow_sentinel", "Color", "RED"]}, 1]]},
]
WRONG_KIND = [
    {"$t": "dataclass", "v": ["os", "system", {"command": "touch /tmp/psflow-pwned"}]},
    {"$t": "enum", "v": ["builtins", "eval", "1"]},
    {"$t": "enum", "v": ["os", "path", "sep"]},
    {"$t": "dataclass", "v": ["subprocess", "Popen", {"args": ["true"]}]},
    {"$t": "namedtuple", "v": ["builtins", "tuple", [1]]},
    {"$t": "namedtuple", "v": ["os", "stat_result", [1] * 10]},
    {"$t": "dataclass", "v": [__name__, "Finalized", {"path": "/etc/important"}]},
    {"$t": "dataclass", "v": [__name__, "Numbers.__init__", {}]},
    {"$t": "module", "v": "os.system"},
    {"$t": "path", "v": ["os.system", "x"]},
    {"$t": "range", "v": [NUMBERS, 2, 1]},
    {"$t": "timedelta", "v": [NUMBERS, 0, 0]},
    {"$t": "complex", "v": [NUMBERS, 1.0]},
    {"$t": "uuid", "v": NUMBERS},
    {"$t": "bytes", "v": NUMBERS},
    {"$t": "decimal", "v": NUMBERS},
    {"$t": "dict", "v": [NUMBERS]},
    {"$t": "int", "v": NUMBERS},
    {"$t": "str", "v": [NUMBERS]},
    {"$t": "ref", "v": 0},
    {"$t": "shared", "v": [0, [{"$t": "ref", "v": 0}]]},
    {"$t": "list", "v": []},
]


@pytest.mark.parametrize("row", UNLOADED, ids=[json.dumps(r)[:70] for r in UNLOADED])
def test_a_name_not_loaded_is_a_clear_error_and_is_never_imported(row: Any, marker: Path) -> None:
    before = set(sys.modules)
    with pytest.raises(ValueError, match=r"not loaded|time zone") as info:
        decode(json.dumps(row))
    assert set(sys.modules) == before
    assert not marker.exists(), marker.read_text()
    assert "psflow never imports" in str(info.value) or "time zone" in str(info.value)


def test_the_error_names_the_module() -> None:
    with pytest.raises(ValueError, match="module 'psflow_never_loaded' is not loaded"):
        decode('{"$t":"dataclass","v":["psflow_never_loaded","Point",{}]}')


@pytest.mark.parametrize("row", WRONG_KIND, ids=[json.dumps(r)[:70] for r in WRONG_KIND])
def test_a_name_of_the_wrong_kind_is_refused_without_calling_it(row: Any, marker: Path) -> None:
    Numberish.calls.clear()
    Finalized.deleted.clear()
    before = set(sys.modules)
    with pytest.raises(ValueError):
        decode(json.dumps(row))
    assert set(sys.modules) == before
    assert not marker.exists()
    assert Numberish.calls == [] and Finalized.deleted == []
    assert not Path("/tmp/psflow-pwned").exists()


def test_an_object_in_sys_modules_that_is_not_a_module_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    class Impostor:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"read {name}")

    monkeypatch.setitem(sys.modules, "psflow_impostor", Impostor())
    for row in ('{"$t":"module","v":"psflow_impostor"}', '{"$t":"dataclass","v":["psflow_impostor","X",{}]}'):
        with pytest.raises(ValueError, match="psflow_impostor"):
            decode(row)


def test_a_module_getattr_is_never_called(monkeypatch: pytest.MonkeyPatch) -> None:
    """A PEP 562 `__getattr__` (lazy loading) could import: names are read from the module's dict."""
    import types

    lazy = types.ModuleType("psflow_lazy")
    lazy.__getattr__ = lambda name: pytest.fail(f"module __getattr__({name!r}) ran")  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, "psflow_lazy", lazy)
    with pytest.raises(ValueError, match="does not name a class"):
        decode('{"$t":"dataclass","v":["psflow_lazy","Point",{}]}')


@pytest.mark.parametrize("row", UNLOADED + WRONG_KIND, ids=[json.dumps(r)[:70] for r in UNLOADED + WRONG_KIND])
def test_showing_a_forged_row_imports_and_builds_nothing(row: Any, marker: Path) -> None:
    Numberish.calls.clear()
    before = set(sys.modules)
    shown = to_display(json.dumps(row))
    json.dumps(shown)
    assert set(sys.modules) == before
    assert not marker.exists()
    assert Numberish.calls == []
