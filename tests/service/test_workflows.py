"""Registered workflows in-process, on every backend: psflow.service.workflows (register, list, versions)
and running one by name (psflow.service.running): its source lives in the database, so its jobs run
from any folder with no file at all. Which source a job's next attempt runs is in test_sources.py.
How the commands print is in tests/cli/test_commands_setup.py; the real command in tests/e2e/test_workflows.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from psflow.errors import ScriptError, UsageError
from psflow.service import history
from psflow.service.workflows import Registration, register, workflow_versions, workflows
from psflow.store import Store
from psflow.transform import TransformError
from support.running import run
from support.scripts import write_versioned

# ---- register -------------------------------------------------------------------


def test_register_makes_versions_and_identical_source_makes_none(store: Store, tmp_path: Path) -> None:
    script = write_versioned(tmp_path, "v1")

    first = register(store, "nightly", script)
    again = register(store, "nightly", script)
    write_versioned(tmp_path, "v2")
    second = register(store, "nightly", script)

    assert (first.name, first.version, first.created, first.same_as) == ("nightly", 1, True, None)
    assert (again.version, again.created) == (1, False)
    assert (second.version, second.created, second.same_as) == (2, True, None)
    assert first.source_sha256 != second.source_sha256
    [listed] = workflows(store)
    assert (listed["name"], listed["version"], listed["versions"], listed["script"]) == ("nightly", 2, 2, str(script))


def test_registering_an_older_source_again_makes_a_new_version_and_says_which(store: Store, tmp_path: Path) -> None:
    script = write_versioned(tmp_path, "v1")
    first = register(store, "nightly", script)
    write_versioned(tmp_path, "v2")
    register(store, "nightly", script)
    write_versioned(tmp_path, "v1")

    third = register(store, "nightly", script)

    assert third == Registration("nightly", 3, True, first.source_sha256, same_as=1)
    assert workflows(store)[0]["versions"] == 3


def test_workflows_are_listed_by_name_with_their_newest_version(store: Store, tmp_path: Path) -> None:
    script = write_versioned(tmp_path, "v1")
    for name in ("zeta", "alpha", "alpha"):
        register(store, name, script)
    write_versioned(tmp_path, "v2")
    register(store, "alpha", script)

    listed = workflows(store)

    assert [(row["name"], row["version"], row["versions"]) for row in listed] == [("alpha", 2, 2), ("zeta", 1, 1)]
    for row in listed:
        assert set(row) == {
            "name",
            "version",
            "versions",
            "script",
            "source_sha256",
            "registered",
            "first_registered",
            "user",
            "host",
            "signed",
        }
        assert row["signed"] is True
        assert isinstance(row["registered"], float) and row["first_registered"] <= row["registered"]
        assert len(row["source_sha256"]) == 64 and row["user"] and row["host"]
    assert listed[0]["first_registered"] < listed[0]["registered"]  # alpha v1 came first


def test_every_version_of_a_workflow_is_listed_oldest_first(store: Store, tmp_path: Path) -> None:
    script = write_versioned(tmp_path, "v1")
    register(store, "nightly", script)
    write_versioned(tmp_path, "v2")
    register(store, "nightly", script)

    versions = workflow_versions(store, "nightly")

    assert [row["version"] for row in versions] == [1, 2]
    assert versions[0]["source_sha256"] != versions[1]["source_sha256"]
    with pytest.raises(UsageError, match=r"^no workflow named 'nosuch' is registered: `psflow workflows` lists them$"):
        workflow_versions(store, "nosuch")


def test_no_workflows(store: Store) -> None:
    assert workflows(store) == []


# ---- running one by name -------------------------------------------------------------


def test_a_name_runs_the_newest_version_from_any_folder_and_says_so(
    store: Store, tmp_path: Path, elsewhere: Path, capsys
) -> None:
    script = write_versioned(tmp_path, "v1")
    register(store, "nightly", script)
    write_versioned(tmp_path, "v2")
    register(store, "nightly", script)
    told: list[str] = []
    capsys.readouterr()

    result = run(store, "nightly", announce=told.append)

    assert (result.status, result.exit_code) == ("Waiting", 3)
    assert capsys.readouterr().out == "running v2, prepared by v2\n"
    assert told == ["no file 'nightly' here: running registered workflow nightly v2 (its newest version)"]
    detail = history.job_detail(store, result.job_id)
    assert (detail["name"], detail["workflow"], detail["workflow_version"]) == ("nightly", "nightly", 2)
    assert detail["script"] == "<workflow nightly v2>"
    assert list(elsewhere.iterdir()) == []  # no file, no __pycache__ where it ran


def test_a_workflow_gets_its_arguments_and_argv0_names_it(store: Store, write, elsewhere: Path, capsys) -> None:
    register(store, "show-args", write("args.py", "import sys\nprint(sys.argv)\n"))
    capsys.readouterr()

    result = run(store, "show-args", args=["a", "--b"])

    assert result.status == "Completed"
    assert capsys.readouterr().out == "['<workflow show-args v1>', 'a', '--b']\n"


def test_a_file_of_that_name_wins_over_the_workflow(store: Store, write, capsys) -> None:
    write("nightly", "print('the file')\n")
    register(store, "nightly", write("registered.py", "print('the workflow')\n"))
    told: list[str] = []
    capsys.readouterr()

    result = run(store, "nightly", announce=told.append)

    assert result.status == "Completed"
    assert capsys.readouterr().out == "the file\n"
    assert not any("registered workflow" in line for line in told)


def test_a_name_with_an_existing_job_id_continues_it_on_its_own_version(
    store: Store, tmp_path: Path, elsewhere: Path, capsys
) -> None:
    script = write_versioned(tmp_path, "v1")
    register(store, "nightly", script)
    run(store, "nightly", "n1")
    write_versioned(tmp_path, "v2")
    register(store, "nightly", script)
    told: list[str] = []
    capsys.readouterr()

    again = run(store, "nightly", "n1", announce=told.append)

    assert (again.status, again.exit_code) == ("Waiting", 3)
    assert capsys.readouterr().out == "running v1, prepared by v1\n"
    assert told[0] == "job n1 runs workflow nightly v1; v2 is the newest (`psflow resume --latest` moves it there)"
    assert store.get_job("n1").attempts == 2


def test_a_name_under_the_id_of_an_ad_hoc_job_is_refused(store: Store, write, tmp_path: Path) -> None:
    run(store, write("other.py", "stop('Waiting')\n"), "adhoc")
    register(store, "nightly", write_versioned(tmp_path, "v1"))

    with pytest.raises(UsageError) as refused:
        run(store, "nightly", "adhoc")

    assert str(refused.value).startswith(f"job adhoc runs {tmp_path / 'other.py'}, not workflow nightly: ")
    assert store.get_job("adhoc").attempts == 1


def test_a_failing_workflow_shows_its_name_and_the_stored_line_in_the_traceback(
    store: Store, write, elsewhere: Path, capsys
) -> None:
    script = write("fails.py", "x = 1\n\nraise RuntimeError(f'broken {x}')\n")
    register(store, "fails", script)
    script.unlink()
    capsys.readouterr()

    result = run(store, "fails")

    assert (result.status, result.exit_code) == ("Failed", 1)
    err = capsys.readouterr().err
    assert 'File "<workflow fails v1>", line 3, in <module>' in err
    assert "    raise RuntimeError(f'broken {x}')" in err
    assert "RuntimeError: broken 1" in err
    assert "psflow/" not in err  # none of psflow's own frames


# ---- bad input: a message, nothing registered or run ----------------------------------


def test_registering_a_missing_script_or_one_that_does_not_compile_stores_nothing(
    store: Store, write, tmp_path: Path
) -> None:
    write("broken.py", "x = 1\nprint(x\n")

    with pytest.raises(ScriptError, match=f"^script not found: {tmp_path / 'nosuch.py'}"):
        register(store, "nightly", tmp_path / "nosuch.py")
    with pytest.raises(TransformError) as broken:
        register(store, "nightly", tmp_path / "broken.py")

    [shown] = [diagnostic.format() for diagnostic in broken.value.diagnostics]
    assert shown.startswith(f"{tmp_path / 'broken.py'}:2:6: error: syntax error") and "was never closed" in shown
    assert workflows(store) == []


@pytest.mark.parametrize(
    "name", ["has space", "-dash", ".dot", "a/b", "x" * 256, "caf\u00e9", ""], ids=lambda name: repr(name[:12])
)
def test_an_invalid_name_registers_nothing(store: Store, tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError, match=r"is not valid: use letters, digits, '_', '\.' or '-'"):
        register(store, name, write_versioned(tmp_path, "v1"))
    assert workflows(store) == []


def test_the_longest_name_is_fine(store: Store, tmp_path: Path) -> None:
    name = "n" * 255

    assert register(store, name, write_versioned(tmp_path, "v1")).version == 1
    assert workflows(store)[0]["name"] == name


def test_a_name_that_is_neither_a_file_nor_a_workflow_runs_nothing(store: Store, tmp_path: Path) -> None:
    register(store, "nightly", write_versioned(tmp_path, "v1"))

    with pytest.raises(UsageError) as refused:
        run(store, "nighty")

    assert str(refused.value) == (
        f"script not found: {tmp_path / 'nighty'}, and no workflow named 'nighty' is registered: "
        "give a script's path, or one of the names `psflow workflows` lists"
    )
    assert store.list_jobs() == []
