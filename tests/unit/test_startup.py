"""What the `psflow` command imports before it does anything: every run pays for it, and the suite
starts the command thousands of times. A command loads the layers it uses and nothing else
(bench/bench_startup.py times it).

Each case runs `psflow.cli.main`, as the console script does, in a fresh interpreter and reads
`sys.modules` as it exits.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "approval.py"
DATABASE = {"peewee", "playhouse", "psycopg2", "psflow.store"}  # the store, with the driver peewee imports
RUNNING = {"psflow.runtime", "cryptography"}  # an attempt, and the key that signs and verifies it
REWRITING = {"libcst", "psflow.transform"}
BELOW_THE_CLI = DATABASE | RUNNING | REWRITING | {"psflow.service", "psflow.codec", "psflow.signing", "psflow.script"}

_REPORT = "import atexit, sys; atexit.register(lambda: print(*sys.modules, sep='\\n', file=sys.stderr)); "


def loaded(code: str, tmp_path: Path, *, exit_code: int = 0) -> set[str]:
    """The modules (and their packages) loaded when Python has run `code`, which exits with `exit_code`."""
    env = {key: value for key, value in os.environ.items() if key not in {"PSFLOW_DB", "PSFLOW_JOB_ID"}}
    done = subprocess.run(
        [sys.executable, "-c", _REPORT + code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == exit_code, done.stderr
    return {name for line in done.stderr.splitlines() for name in _with_packages(line)}


def command(*args: str) -> str:
    """Python code that runs `psflow ARGS` as the console script does."""
    return f"sys.argv = ['psflow', *{list(args)!r}]; from psflow.cli import main; main()"


def _with_packages(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts) + 1)]


def test_importing_the_cli_loads_no_layer_below_it(tmp_path: Path) -> None:
    assert loaded("import psflow.cli", tmp_path) & BELOW_THE_CLI == set()


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["exec", "--help"], ["key", "--help"]])
def test_version_and_help_load_no_layer_below_the_cli(args: list[str], tmp_path: Path) -> None:
    assert loaded(command(*args), tmp_path) & BELOW_THE_CLI == set()


@pytest.mark.parametrize("name", ["show", "check"])
def test_show_and_check_load_the_rewriter_but_no_database(name: str, tmp_path: Path) -> None:
    modules = loaded(command(name, str(SAMPLE)), tmp_path)
    assert "libcst" in modules
    assert modules & (DATABASE | RUNNING) == set()


def test_listing_jobs_loads_the_database_but_neither_rewriter_nor_runtime(tmp_path: Path) -> None:
    database = tmp_path / "psflow.sqlite"
    loaded(command("init", "--sqlite", str(database)), tmp_path)
    modules = loaded(command("jobs", "--db", f"sqlite:///{database}"), tmp_path)
    assert "peewee" in modules
    assert modules & (REWRITING | RUNNING | {"psflow.codec"}) == set()


def test_a_missing_database_is_told_without_loading_the_rewriter(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'missing.sqlite'}"
    assert loaded(command("jobs", "--db", missing), tmp_path, exit_code=2) & (REWRITING | RUNNING) == set()


def test_psflow_offers_every_name_a_script_gets() -> None:
    """`from psflow import X` and the names a script has without importing: one list, read twice.
    psflow/__init__ cannot import psflow.script to read it (start-up), so this keeps them equal."""
    import psflow
    import psflow.script

    script_names = set(psflow.script.__all__) - {"NAMES", "provided"}
    assert set(psflow._SCRIPT) == script_names
    assert set(psflow.script.NAMES) <= script_names
    for name in script_names:
        assert getattr(psflow, name) is getattr(psflow.script, name)
