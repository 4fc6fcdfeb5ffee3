"""What `psflow register` and `psflow workflows` print, run in this process through psflow.cli.main.
What they store is tested in tests/service/test_workflows.py; the real command in tests/e2e/test_workflows.py."""

from __future__ import annotations

import json
from pathlib import Path

from psflow.service import workflows
from psflow.store import Store
from support.cli import assert_clean_error
from support.scripts import write_versioned


def test_register_says_which_version_it_made_or_that_it_made_none(cli, tmp_path: Path) -> None:
    write_versioned(tmp_path, "v1")
    first = cli("register", "nightly", "flow.py")
    again = cli("register", "nightly", "flow.py")
    write_versioned(tmp_path, "v2")
    second = cli("register", "nightly", "flow.py")
    write_versioned(tmp_path, "v1")
    third = cli("register", "nightly", "flow.py")

    assert [result.returncode for result in (first, again, second, third)] == [0, 0, 0, 0]
    assert first.stderr == "psflow: registered workflow nightly v1: `psflow exec nightly` runs it\n"
    assert again.stderr == "psflow: workflow nightly v1 already has this source: no new version\n"
    assert second.stderr == "psflow: registered workflow nightly v2: `psflow exec nightly` runs it\n"
    assert third.stderr == (
        "psflow: registered workflow nightly v3 (the same source as v1): `psflow exec nightly` runs it\n"
    )
    assert first.stdout + again.stdout + second.stdout + third.stdout == ""


def test_workflows_prints_a_table_or_json(cli, store: Store, tmp_path: Path) -> None:
    script = write_versioned(tmp_path, "v1")
    for name in ("zeta", "alpha", "alpha"):
        workflows.register(store, name, script)
    write_versioned(tmp_path, "v2")
    workflows.register(store, "alpha", script)

    table = cli("workflows")
    as_json = cli("workflows", "--json")

    header, *rows = table.stdout.splitlines()
    assert header.split() == ["NAME", "LATEST", "VERSIONS", "REGISTERED", "BY", "ON", "FROM"]
    assert [row.split()[:3] for row in rows] == [["alpha", "v2", "2"], ["zeta", "v1", "1"]]
    assert all(row.rstrip().endswith(str(script)) for row in rows)
    assert json.loads(as_json.stdout) == workflows.workflows(store)


def test_workflows_name_prints_every_version(cli, store: Store, tmp_path: Path) -> None:
    script = write_versioned(tmp_path, "v1")
    workflows.register(store, "nightly", script)
    write_versioned(tmp_path, "v2")
    workflows.register(store, "nightly", script)

    table = cli("workflows", "nightly")
    as_json = cli("workflows", "nightly", "--json")

    lines = table.stdout.splitlines()
    assert lines[0] == "workflow nightly"
    assert lines[1].split() == ["VERSION", "REGISTERED", "BY", "ON", "SHA256", "FROM"]
    assert [line.split()[0] for line in lines[2:]] == ["v1", "v2"]
    assert json.loads(as_json.stdout) == workflows.workflow_versions(store, "nightly")
    assert_clean_error(cli("workflows", "nosuch"), "no workflow named 'nosuch' is registered")


def test_no_workflows(cli, store: Store) -> None:
    assert store.list_jobs() == []  # the database exists: commands that only read never create one
    result = cli("workflows")

    assert (result.returncode, result.stdout) == (
        0,
        "no registered workflows: `psflow register NAME SCRIPT` adds one\n",
    )
    assert json.loads(cli("workflows", "--json").stdout) == []


def test_exec_passes_what_follows_the_name_to_the_workflow(cli, store: Store, tmp_path: Path) -> None:
    (tmp_path / "args.py").write_text("import sys\nprint(sys.argv)\n")
    workflows.register(store, "show-args", tmp_path / "args.py")
    (tmp_path / "args.py").unlink()

    result = cli("exec", "show-args", "a", "--b")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "['<workflow show-args v1>', 'a', '--b']\n"
