"""Every public function of the Python API, given one bad input a caller can give it, raises a
psflow.PsflowError (never a driver's, peewee's or Python's own error) and writes nothing.

A new public function without a case here fails `test_every_public_function_has_a_case`.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import psflow
from psflow import api
from psflow.errors import StoreError, UnknownJob, UsageError

BAD_DB = "Host=db01;Database=psflow;Password=s3cret;Bogus=1"  # an unknown key: refused, password unrepeated


def _cases(db: str, tmp: Path) -> dict[str, tuple]:
    """name: (call, the error class, a fragment of its message)."""
    missing = tmp / "nosuch.py"
    return {
        "run": (lambda: api.run(missing, db=db), UsageError, "script not found"),
        "resume": (lambda: api.resume(job_ids=["nosuch"], db=db), UnknownJob, "no job with id 'nosuch'"),
        "send": (lambda: api.send("nosuch", {"approval": "yes"}, db=db), UnknownJob, "no job with id"),
        "psflow.send": (lambda: psflow.send("nosuch", approval="yes", db=db), UnknownJob, "no job with id"),
        "jobs": (lambda: api.jobs(limit=0, db=db), UsageError, "limit must be 1 or more"),
        "job_detail": (lambda: api.job_detail("nosuch", db=db), UnknownJob, "no job with id"),
        "transcript": (lambda: api.transcript("nosuch", db=db), UnknownJob, "no job with id"),
        "rerun": (lambda: api.rerun("nosuch", from_block="A", db=db), UnknownJob, "no job with id"),
        "cancel": (lambda: api.cancel("nosuch", db=db), UnknownJob, "no job with id"),
        "retry": (lambda: api.retry("nosuch", db=db), UnknownJob, "no job with id"),
        "register": (lambda: api.register("a/b", missing, db=db), UsageError, "is not valid"),
        "workflow_versions": (lambda: api.workflow_versions("nosuch", db=db), UsageError, "no workflow named"),
        "workflows": (lambda: api.workflows(db=BAD_DB), StoreError, "unknown key 'Bogus'"),
        "check": (lambda: api.check(missing), UsageError, "script not found"),
        "transformed_source": (lambda: api.transformed_source(missing), UsageError, "script not found"),
        "connect": (lambda: api.connect(BAD_DB), StoreError, "unknown key 'Bogus'"),
        "init": (api.init, UsageError, "give exactly one database"),
        "config": (lambda: api.config(db=BAD_DB), None, "unknown key 'Bogus'"),  # reported, not raised
        "submit": (lambda: api.submit(missing, db=db), UsageError, "script not found"),
        "queues": (lambda: api.queues(db=BAD_DB), StoreError, "unknown key 'Bogus'"),
        "set_queue_limit": (lambda: api.set_queue_limit("deploy", 0, db=db), UsageError, "--limit 0 is not a limit"),
    }


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite database with psflow's tables and no job."""
    monkeypatch.delenv("PSFLOW_DB", raising=False)
    monkeypatch.delenv("PSFLOW_JOB_ID", raising=False)
    path = tmp_path / "psflow.sqlite"
    api.init(sqlite=str(path))
    return f"sqlite:///{path}"


def test_every_public_function_has_a_case(tmp_path):
    public = {name for name in api.__all__ if inspect.isfunction(getattr(api, name))}
    assert public | {"psflow.send"} == set(_cases("", tmp_path))


@pytest.mark.parametrize("name", sorted(_cases("", Path("."))))
def test_one_bad_input_raises_a_psflow_error(database, tmp_path, name):
    call, error, fragment = _cases(database, tmp_path)[name]
    before = psflow.jobs(db=database)

    if error is None:
        assert fragment in call()["error"]
    else:
        with pytest.raises(error, match=fragment) as raised:
            call()
        assert isinstance(raised.value, psflow.PsflowError)
        assert "s3cret" not in str(raised.value)
    assert psflow.jobs(db=database) == before == []
