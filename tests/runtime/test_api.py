"""The Python API other tools use: `psflow.run`, `resume`, `jobs`, `job_detail`, `register`,
`workflows`, `send`; called in this process, on every backend.

`import psflow` must stay light (scripts import it for `block`): the API is loaded
on first use, so neither peewee nor libcst is imported until a function is called.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import psflow


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No job id leaking in from outside; the code cache of stored source under tmp_path."""
    monkeypatch.delenv("PSFLOW_JOB_ID", raising=False)
    monkeypatch.delenv("PSFLOW_DB", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _script(tmp_path: Path, name: str, source: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source).lstrip("\n"))
    return str(path)


GATED = """
    import sys
    from pathlib import Path

    with block("Prepare"):
        prepared = sys.argv[1:]
    if not Path(sys.argv[0]).with_suffix(".go").exists():
        stop("Waiting", reason="no go yet")
    print("finishing with", prepared)
"""


# ---- import psflow stays light --------------------------------------------------


def _modules_after(code: str) -> set[str]:
    found = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(found.stdout.splitlines()[-1]))


def test_import_psflow_loads_neither_peewee_nor_libcst():
    loaded = _modules_after("import psflow\nfrom psflow import block, stop, job\nassert callable(psflow.send)")

    heavy = {name for name in loaded if name.split(".")[0] in {"peewee", "libcst", "playhouse", "typer", "rich"}}
    assert heavy == set()
    assert "psflow.api" not in loaded


def test_the_api_loads_on_first_use():
    loaded = _modules_after("import psflow\npsflow.run")

    assert {"psflow.api", "peewee"} <= loaded
    assert "libcst" not in loaded  # the rewriter still waits for a script to compile


def test_the_api_names_are_public():
    names = ("run", "resume", "jobs", "job_detail", "register", "workflows", "send", "submit", "queues", "RunResult")
    for name in (*names, "set_queue_limit", "UsageError"):
        assert name in psflow.__all__ and name in dir(psflow)
        assert getattr(psflow, name) is not None
    assert psflow.run is __import__("psflow.api").api.run
    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        psflow.nosuch  # noqa: B018


# ---- run / resume / jobs / job_detail ----------------------------------------------


def test_run_resume_jobs_and_job_detail(db_url, tmp_path, capfd):
    script = _script(tmp_path, "gated.py", GATED)

    first = psflow.run(script, ["a", "b"], db=db_url)
    Path(script).with_suffix(".go").touch()
    resumed = psflow.resume(db=db_url)

    assert isinstance(first, psflow.RunResult)
    assert (first.status, first.exit_code, first.reason, first.ran) == ("Waiting", 3, "no go yet", 1)
    [again] = resumed
    assert (again.job_id, again.status, again.exit_code, again.replayed) == (first.job_id, "Completed", 0, 1)
    assert capfd.readouterr().out == "finishing with ['a', 'b']\n"  # printed by the worker process
    [listed] = psflow.jobs(db=db_url)
    assert (listed["id"], listed["status"], listed["args"], listed["attempts"]) == (
        first.job_id,
        "Completed",
        ["a", "b"],
        2,
    )
    detail = psflow.job_detail(first.job_id[:4], db=db_url)
    assert [block["name"] for block in detail["blocks"]] == ["Prepare"]
    assert [row["outcome"] for row in detail["attempt_history"]] == ["Waiting", "Completed"]


def test_run_with_a_chosen_job_id_and_resume_options(db_url, tmp_path, capsys):
    script = _script(tmp_path, "gated.py", GATED)
    for job_id in ("api-1", "api-2"):
        psflow.run(script, job_id=job_id, db=db_url)
    Path(script).with_suffix(".go").touch()
    seen = []

    only = psflow.resume(job_ids=["api-2"], db=db_url, on_result=seen.append)

    assert [result.job_id for result in only] == ["api-2"] and seen == only
    assert {job["id"]: job["status"] for job in psflow.jobs(statuses=["Waiting"], db=db_url)} == {"api-1": "Waiting"}
    assert psflow.run(script, job_id="api-2", db=db_url).skipped  # Completed: nothing runs
    capsys.readouterr()


def test_bad_input_raises_usage_error(db_url, tmp_path):
    with pytest.raises(psflow.UsageError, match="script not found"):
        psflow.run(tmp_path / "nosuch.py", db=db_url)
    with pytest.raises(psflow.UsageError, match="is not valid"):
        psflow.run(_script(tmp_path, "ok.py", "pass\n"), job_id="has space", db=db_url)
    with pytest.raises(psflow.UsageError, match="is not valid"):
        psflow.register("a/b", tmp_path / "ok.py", db=db_url)
    with pytest.raises(psflow.PsflowError, match=r"no psflow (database|tables)"):  # nothing was created
        psflow.jobs(db=db_url)
    with pytest.raises(psflow.PsflowError, match=r"no psflow (database|tables)"):  # it only reads: creates none
        psflow.queues(db=db_url)


# ---- queues: submit, limits, counts --------------------------------------------------


def test_submit_puts_a_job_on_a_queue_without_running_it(db_url, tmp_path, capfd):
    script = _script(tmp_path, "nightly.py", "import sys\nprint('ran', sys.argv[1:])\n")

    first = psflow.submit(script, ["a"], queue="deploy", priority=5, job_id="sub-1", db=db_url)
    again = psflow.submit(script, ["a"], queue="deploy", priority=5, job_id="sub-1", db=db_url)

    assert (first["id"], first["status"], first["queue"], first["priority"], first["args"]) == (
        "sub-1",
        "Queued",
        "deploy",
        5,
        ["a"],
    )
    assert (first["created"], again["created"], again["id"]) == (True, False, "sub-1")  # an idempotency key
    assert capfd.readouterr().out == ""  # nothing ran here
    with pytest.raises(psflow.UsageError, match="exists already in queue deploy, not other"):
        psflow.submit(script, ["a"], queue="other", job_id="sub-1", db=db_url)
    with pytest.raises(psflow.UsageError, match="queue name 'no room' is not valid"):
        psflow.submit(script, queue="no room", db=db_url)
    [ran] = psflow.resume(statuses=["Queued"], queues=["deploy"], db=db_url)
    assert (ran.job_id, ran.status) == ("sub-1", "Completed")
    assert capfd.readouterr().out == "ran ['a']\n"


def test_a_queue_limit_and_the_queues_counts(db_url, tmp_path):
    script = _script(tmp_path, "nightly.py", "pass\n")
    for number in range(3):
        psflow.submit(script, [str(number)], queue="deploy", db=db_url)

    limited = psflow.set_queue_limit("deploy", 2, db=db_url)
    unlimited = psflow.set_queue_limit("reports", None, db=db_url)

    assert limited == {"name": "deploy", "limit": 2, "running": 0, "due": 3, "waiting": 0, "other": 0}
    assert unlimited["limit"] is None
    assert psflow.queues(db=db_url) == [limited, unlimited]
    with pytest.raises(psflow.UsageError, match="--limit 0 is not a limit"):
        psflow.set_queue_limit("deploy", 0, db=db_url)
    assert psflow.queues(db=db_url)[0]["limit"] == 2  # nothing was written


# ---- registered workflows ------------------------------------------------------------


def test_register_and_run_a_workflow_by_name(db_url, tmp_path, monkeypatch, capsys):
    script = _script(tmp_path, "flow.py", "import sys\nprint('v1', sys.argv)\n")
    registered = psflow.register("api-flow", script, db=db_url)
    same = psflow.register("api-flow", script, db=db_url)
    Path(script).unlink()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    told = []

    result = psflow.run("api-flow", ["x"], db=db_url, announce=told.append)

    assert (registered.version, registered.created, same.version, same.created) == (1, True, 1, False)
    assert (result.status, result.script) == ("Completed", "<workflow api-flow v1>")
    assert capsys.readouterr().out == "v1 ['<workflow api-flow v1>', 'x']\n"
    assert told == ["no file 'api-flow' here: running registered workflow api-flow v1 (its newest version)"]
    [listed] = psflow.workflows(db=db_url)
    assert (listed["name"], listed["version"], listed["versions"]) == ("api-flow", 1, 1)
    assert list(elsewhere.iterdir()) == []


def test_a_path_object_is_always_a_file(db_url, tmp_path):
    _script(tmp_path, "flow.py", "pass\n")
    psflow.register("api-flow", tmp_path / "flow.py", db=db_url)

    with pytest.raises(psflow.UsageError, match="script not found"):
        psflow.run(Path("api-flow"), db=db_url)


# ---- send --------------------------------------------------------------------------


def test_send_gives_a_waiting_job_its_input(db_url, tmp_path, capfd):
    script = _script(tmp_path, "ask.py", 'answer = wait_for("approval")\nprint("approved by", answer)\n')
    waiting = psflow.run(script, db=db_url)

    sent = psflow.send(waiting.job_id, approval="alice", db=db_url)
    [done] = psflow.resume(db=db_url)

    assert waiting.status == "Waiting"
    assert (sent.job_id, sent.names) == (waiting.job_id, ["approval"])
    assert done.status == "Completed"
    assert capfd.readouterr().out.endswith("approved by alice\n")


def test_send_takes_names_that_are_not_keywords_in_a_dict(db_url, tmp_path, capfd):
    script = _script(tmp_path, "ask.py", 'print(wait_for("db"))\n')
    waiting = psflow.run(script, db=db_url)

    psflow.send(waiting.job_id, {"db": "main"}, db=db_url)
    [done] = psflow.resume(db=db_url)

    assert done.status == "Completed"
    assert capfd.readouterr().out.endswith("main\n")


# ---- connections ---------------------------------------------------------------------


def test_repeated_calls_do_not_pile_up_connections(postgres_database, postgres_server):
    name = postgres_database.rsplit("/", 1)[1]
    from psflow.api import init

    init(postgres=postgres_database)  # jobs() only reads: it does not create the tables
    for _ in range(30):
        psflow.jobs(db=postgres_database)

    [(sessions,)] = postgres_server.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,))

    assert sessions <= 2
