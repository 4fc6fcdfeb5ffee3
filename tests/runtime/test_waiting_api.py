"""wait_for and send through psflow.api in-process, on every backend: values beyond JSON, and all-or-nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from psflow import api


def _script(tmp_path: Path, source: str, name: str = "flow.py") -> Path:
    path = tmp_path / name
    path.write_text(source)
    return path


def test_values_beyond_json_go_through_the_codec(tmp_path: Path, db_url: str) -> None:
    out = tmp_path / "out.txt"
    script = _script(tmp_path, f"when = wait_for('when')\nopen({str(out)!r}, 'w').write(repr(when))\n")
    first = api.run(script, db=db_url)
    moment = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)

    [sent] = api.send(first.job_id, {"when": moment}, db=db_url)
    [resumed] = api.resume(job_ids=[first.job_id], statuses=[], db=db_url)

    assert (first.status, first.reason) == ("Waiting", "waiting for when")
    assert (sent.job_id, sent.names, sent.already_read) == (first.job_id, ["when"], {})
    assert resumed.status == "Completed"
    assert out.read_text() == repr(moment)
    [shown] = api.job_detail(first.job_id, db=db_url)["inputs"]
    assert shown["value"] == "2026-11-27T09:30:00+00:00"  # shown as ISO text, never decoded
    json.dumps(api.job_detail(first.job_id, db=db_url))


def test_send_to_several_jobs_is_all_or_nothing(tmp_path: Path, db_url: str) -> None:
    script = _script(tmp_path, "print(wait_for('go'))\n")
    waiting = api.run(script, db=db_url)
    done = api.run(_script(tmp_path, "pass\n", "done.py"), db=db_url)

    with pytest.raises(api.UsageError, match=f"job {done.job_id} is Completed"):
        api.send([waiting.job_id, done.job_id], {"go": 1}, db=db_url)
    with pytest.raises(api.UsageError, match="cannot be stored"):
        api.send([waiting.job_id], {"go": object()}, db=db_url)

    assert api.job_detail(waiting.job_id, db=db_url)["inputs"] == []
