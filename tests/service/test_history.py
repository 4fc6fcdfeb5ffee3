"""psflow.service.history in-process, on every backend: the job list and its filters, one job's
detail (its blocks in the order they first ran, per attempt what ran and what was replayed, code
changes, inputs). Nothing here writes. The transcript is in test_transcripts.py; how it prints, in
tests/cli/test_render.py and test_transcript.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from psflow.domain import Runner
from psflow.errors import UnknownJob
from psflow.service import history, inputs
from psflow.service.preflight import check
from psflow.store import Store
from support.running import code_changed_job, failed_then_fixed, resume, run, three_jobs
from support.scripts import FLAKY, ORDERED, STOPS_ONCE

# ---- jobs ---------------------------------------------------------------------------


def test_no_jobs(store: Store) -> None:
    assert history.jobs(store) == []


def test_jobs_says_when_a_due_job_is_held_back_by_its_queue_s_limit(store: Store) -> None:
    for job_id in ("a", "b"):
        store.create_job(job_id, name="f", script="/srv/f.py", source="", source_sha256="0" * 64, args=[], runner=None)
    store.set_queue_limit("default", 1)
    assert store.claim_job(store.get_job("a"), Runner("server2", 1, 60.0))

    waits = {job["id"]: job["waits"] for job in history.jobs(store)}
    assert waits["b"] == "queue default is at its limit (1 of 1 running)"
    store.set_queue_limit("default", 2)
    assert {job["id"]: job["waits"] for job in history.jobs(store)}["b"] == ""


def test_jobs_are_listed_most_recently_updated_first(store: Store, tmp_path: Path) -> None:
    three_jobs(store, tmp_path)

    found = history.jobs(store)

    assert [job["id"] for job in found] == ["beta-1", "alpha-2", "alpha-1"]
    for job in found:
        assert {"id", "status", "script", "attempts"} <= set(job)
        assert isinstance(job["attempts"], int)
    assert found[0]["script"] == str(tmp_path / "wait.py")
    assert [(job["status"], job["attempts"]) for job in found] == [("Waiting", 1), ("Waiting", 1), ("Completed", 1)]


def test_jobs_status_and_limit_filters(store: Store, tmp_path: Path) -> None:
    three_jobs(store, tmp_path)

    def ids(**filters) -> list[str]:
        return [job["id"] for job in history.jobs(store, **filters)]

    assert ids(statuses=["Waiting"]) == ["beta-1", "alpha-2"]
    assert ids(statuses=["Completed"]) == ["alpha-1"]
    assert set(ids(statuses=["Completed", "Waiting"])) == {"alpha-1", "alpha-2", "beta-1"}
    assert ids(statuses=["Failed"]) == []
    assert ids(limit=1) == ["beta-1"]
    assert ids(statuses=["Waiting"], limit=1) == ["beta-1"]


# ---- job ----------------------------------------------------------------------------


def test_a_jobs_blocks_are_in_the_order_they_first_ran(store: Store, write) -> None:
    run(store, write("ordered.py", ORDERED), "ordered")
    resume(store)

    detail = history.job_detail(store, "ordered")

    assert {"id", "status", "script", "attempts", "blocks"} <= set(detail)
    assert (detail["id"], detail["status"], detail["attempts"]) == ("ordered", "Completed", 2)
    assert [(b["name"], b["status"], b["attempt"]) for b in detail["blocks"]] == [
        ("b-first", "Completed", 1),
        ("a-second", "Completed", 2),
        ("c-third", "Completed", 2),
    ]


def test_a_block_that_stopped_the_job_shows_as_stopped(store: Store, write) -> None:
    run(store, write("gate.py", 'with block("Gate"):\n    stop("Waiting", reason="not yet")\n'), "gate")

    detail = history.job_detail(store, "gate")

    assert (detail["status"], detail["reason"]) == ("Waiting", "not yet")
    assert [(b["name"], b["status"], b["attempt"]) for b in detail["blocks"]] == [("Gate", "Stopped", 1)]


def test_a_job_is_found_by_a_unique_prefix_and_ids_are_case_sensitive(store: Store, tmp_path: Path, write) -> None:
    three_jobs(store, tmp_path)
    run(store, write("wait.py", "stop('Waiting')\n"), "Upper-1")

    assert history.job_detail(store, "bet")["id"] == "beta-1"
    assert history.job_detail(store, "alpha-2")["id"] == "alpha-2"
    assert history.job_detail(store, "Upp")["id"] == "Upper-1"
    with pytest.raises(UnknownJob, match="no job with id 'upper'"):
        history.job_detail(store, "upper")


def test_each_attempt_lists_the_blocks_it_executed_and_replayed(store: Store, write, tmp_path: Path) -> None:
    assert run(store, write("flaky.py", FLAKY), "flaky").status == "Failed"
    write("flaky.py", FLAKY.replace('print("loaded")', 'print("loaded!")'))  # edited between attempts
    (tmp_path / "fixed").touch()
    resume(store, statuses=["Failed"])

    job = history.job_detail(store, "flaky")

    assert {"blocks", "runs", "attempt_history", "inputs"} <= set(job)  # the keys scripts already read
    first, second = job["attempt_history"]
    assert (first["outcome"], first["reason"], second["outcome"]) == ("Failed", "ValueError: bad row 2", "Completed")
    assert (first["source_changed"], second["source_changed"]) == (False, True)
    assert first["source_sha256"] != second["source_sha256"]
    assert [(b["name"], b["state"], b["status"], b["attempt"]) for b in first["blocks"]] == [
        ("fetch", "executed", "Completed", 1),
        ("load", "executed", "Failed", 1),
    ]
    assert [(b["name"], b["state"], b["status"], b["attempt"]) for b in second["blocks"]] == [
        ("fetch", "replayed", "Completed", 1),
        ("load", "executed", "Completed", 2),
        ("report", "executed", "Completed", 2),
    ]
    assert all({"duration", "host", "tries", "fingerprint", "code_changed"} <= set(b) for b in second["blocks"])


def test_a_run_says_whether_its_blocks_code_changed_since_the_run_before(store: Store) -> None:
    code_changed_job(store, "coded")

    job = history.job_detail(store, "coded")

    changed = {(run["name"], run["attempt"]): run["code_changed"] for run in job["runs"]}
    assert changed == {("fetch", 1): None, ("load", 1): None, ("load", 2): True, ("report", 2): None}
    assert [run["fingerprint"] for run in job["runs"]] == ["f1", "l1", "l2", "r1"]


def test_each_run_records_the_fingerprint_check_computes(store: Store, write) -> None:
    path = write("flow.py", STOPS_ONCE)
    job_id = run(store, path).job_id
    expected = {site.name: site.fingerprint for site in check(path).sites}

    detail = history.job_detail(store, job_id)

    assert [(run["name"], run["fingerprint"]) for run in detail["runs"]] == [(name, expected[name]) for name in "ABC"]
    assert all(block["fingerprint"] == expected[block["name"]] for block in detail["blocks"])


def test_each_attempt_lists_the_inputs_it_newly_received(store: Store, write) -> None:
    run(store, write("approve.py", 'print("approved by", wait_for("approval"))\n'), "approve")
    inputs.send(store, "approve", {"approval": "alice"})
    resume(store)

    job = history.job_detail(store, "approve")

    assert [a["inputs_received"] for a in job["attempt_history"]] == [[], ["approval"]]
    assert [(b["name"], b["state"], b["status"]) for b in job["attempt_history"][1]["blocks"]] == [
        ("wait_for:approval", "executed", "Completed"),
    ]
    assert [(sent["name"], sent["value"]) for sent in job["inputs"]] == [("approval", "alice")]


def test_a_job_s_detail_never_reads_saved_values_or_output(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    failed_then_fixed(store, tmp_path)  # its blocks saved values and printed; its first attempt ended in error

    with caplog.at_level(logging.DEBUG, logger="peewee"):
        detail = history.job_detail(store, "flaky")

    queries = [str(record.msg) for record in caplog.records]
    assert any('"psflow_block"' in query for query in queries) and detail["blocks"]
    for column in ('"saved"', '"mutated"', '"returned"', '"output"', '"lead"'):
        assert not any(column in query for query in queries), column  # however big they are, never loaded
