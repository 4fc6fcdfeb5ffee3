"""Scripts made of real code nobody here wrote: the doctest sessions in the standard library's
docstrings, each example in a block of its own.

Used by test_replay_equivalence.py. A session runs in its module's namespace, as doctest runs it.
An expression example binds its value to `out_N`, so what it computed is part of the state
compared; a `def` or `class` example stays outside blocks (psflow refuses them inside). After
the blocks the script prints its state (every name the examples bound), then stops Waiting unless
a file `go` exists: plain Python runs it with `go` present, psflow once without (a first attempt)
and once with (a replay).
"""

from __future__ import annotations

import ast
import doctest
import sysconfig
import textwrap
from dataclasses import dataclass
from pathlib import Path

STATE = "----- state -----"  # what a script prints after this line is its state

_PRELUDE = """\
import importlib as _importlib
import re as _re
from pathlib import Path as _Path

import psflow as _psflow

_module = _importlib.import_module({module!r})
globals().update({{key: value for key, value in vars(_module).items() if not key.startswith("__")}})
globals().setdefault({top!r}, _importlib.import_module({top!r}))  # examples often name the module too
from psflow import block  # after the module's names: a module may have its own `block`
_given = dict(globals())
"""

_EPILOGUE = """
print({state!r})
for _name in sorted(globals()):
    if not _name.startswith("_") and (_name not in _given or _given[_name] is not globals()[_name]):
        print(_name, "=", _re.sub(r" at 0x[0-9a-fA-F]+", " at 0x?", repr(globals()[_name])))
if not _Path("go").exists():
    _psflow.stop("Waiting")
"""


@dataclass(frozen=True)
class Session:
    """One docstring's doctest examples, from `module` at `where` (file:line)."""

    module: str
    where: str
    examples: tuple[str, ...]

    def script(self) -> str:
        parts = [_PRELUDE.format(module=self.module, top=self.module.partition(".")[0])]
        for number, source in enumerate(self.examples, 1):
            parts.append(_in_block(number, source))
        parts.append(_EPILOGUE.format(state=STATE))
        return "\n".join(parts)


def _in_block(number: int, source: str) -> str:
    tree = ast.parse(source)
    if any(
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)) for node in ast.walk(tree)
    ):
        return source  # psflow refuses definitions in blocks: they run outside, every time
    if len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
        source = f"out_{number} = {source}"
    return f'with block("e{number}"):\n{textwrap.indent(source, "    ")}'


def stdlib_sessions() -> list[Session]:
    """Every doctest session of two or more examples in the standard library's public modules
    whose examples expect no traceback and are all Python that parses here."""
    root = Path(sysconfig.get_paths()["stdlib"])
    parser = doctest.DocTestParser()
    sessions = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[0] in _NOT_RUN or any(part.startswith("_") and part != "__init__" for part in parts):
            continue
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            docstring = ast.get_docstring(node, clean=True)
            if not docstring or ">>>" not in docstring:
                continue
            try:
                examples = parser.get_examples(docstring)
            except ValueError:  # not well-formed doctest text
                continue
            if len(examples) < 2 or any(example.want.startswith("Traceback") for example in examples):
                continue
            sources = tuple(example.source.rstrip("\n") for example in examples)
            if all(_parses(source) for source in sources):
                line = getattr(node, "lineno", 1)
                sessions.append(Session(module, f"{path.relative_to(root)}:{line}", sources))
    return sessions


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except SyntaxError:
        return False
    return True


# What is not a module to import here, or whose examples act on the machine or need what it has not
# (a server, a display, a terminal, the network).
_NOT_RUN = frozenset(
    {"site-packages", "test", "idlelib", "tkinter", "turtle", "turtledemo", "lib2to3", "ensurepip", "venv"}
    | {"antigravity", "this", "pdb", "pydoc", "webbrowser", "tty", "pty", "getpass", "socketserver"}
    | {"ftplib", "nntplib", "poplib", "imaplib", "smtplib", "telnetlib", "urllib", "http", "xmlrpc"}
)
