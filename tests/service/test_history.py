"""psflow.service.history in-process, on every backend: the job list and its filters, one job's
detail (its blocks in the order they first ran, per attempt what ran and what was replayed, code
changes, inputs), and the transcript of block runs with its filters and `follow`. Nothing here writes.
How it prints is in tests/cli/test_render.py and test_transcript.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from psflow.domain import Runner
from psflow.errors import UnknownJob, UsageError
from psflow.service import history, inputs
from psflow.service.preflight import check
from psflow.store import Store
from support.clock import FakeClock
from support.database import snapshot
from support.running import code_changed_job, completed_run, failed_then_fixed, held_elsewhere, resume, run, three_jobs
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


# ---- logs: the transcript -----------------------------------------------------------


def _runs(runs: list[dict]) -> list[tuple[str, int, str]]:
    return [(run["name"], run["attempt"], run["status"]) for run in runs]


def test_the_transcript_of_a_failed_then_fixed_job_is_in_order(store: Store, tmp_path: Path) -> None:
    failed_then_fixed(store, tmp_path)

    job, entries = history.transcript(store, "flaky")
    runs = [entry for entry in entries if entry["kind"] == "block"]

    assert (job["id"], job["status"]) == ("flaky", "Completed")
    # Attempt 1 ended with the exception block load failed with: that run shows it, once.
    assert [entry["kind"] for entry in entries] == ["block", "block", "block", "block"]
    assert _runs(runs) == [
        ("fetch", 1, "Completed"),
        ("load", 1, "Failed"),
        ("load", 2, "Completed"),
        ("report", 2, "Completed"),
    ]
    assert len({run["host"] for run in runs}) == 1 and runs[0]["host"]
    assert [run["output"] for run in runs] == [
        "fetched 3 rows\n",
        "loading 3\n",
        "loading 3\nloaded\n",
        "report done\n",
    ]
    assert [run["error"] is None for run in runs] == [True, False, True, True]
    error = runs[1]["error"]
    assert error.startswith("Traceback (most recent call last):\n") and error.rstrip().endswith("ValueError: bad row 2")
    assert str(tmp_path / "flaky.py") in error  # the user's file, not psflow's frames
    assert {"host", "pid", "started", "ended", "duration", "tries"} <= set(runs[0])


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


def test_the_transcript_is_read_from_the_database_a_page_at_a_time(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    failed_then_fixed(store, tmp_path)  # four block runs
    whole = history.transcript(store, "flaky")[1]
    monkeypatch.setattr(history, "LOG_PAGE", 3)

    def pages_read() -> int:  # the queries of block runs peewee sent so far
        return sum('"psflow_block"' in str(record.msg) and "LIMIT" in str(record.msg) for record in caplog.records)

    with caplog.at_level(logging.DEBUG, logger="peewee"):
        _, entries = history.stream_transcript(store, "flaky")
        first = next(entries)
        read_for_the_first = pages_read()
        rest = list(entries)

    assert [first, *rest] == whole
    assert (read_for_the_first, pages_read()) == (1, 2)  # runs 1-3, then run 4 (a short page: the end)


def test_the_transcript_takes_a_block_an_attempt_and_an_id_prefix(store: Store, tmp_path: Path) -> None:
    failed_then_fixed(store, tmp_path)

    assert _runs(history.transcript(store, "flaky", block="load")[1]) == [
        ("load", 1, "Failed"),
        ("load", 2, "Completed"),
    ]
    assert _runs(history.transcript(store, "flaky", attempt=2)[1]) == [
        ("load", 2, "Completed"),
        ("report", 2, "Completed"),
    ]
    assert _runs(history.transcript(store, "flaky", block="load", attempt=1)[1]) == [("load", 1, "Failed")]
    assert _runs(history.transcript(store, "fla", block="fetch")[1]) == [("fetch", 1, "Completed")]


def test_a_job_without_block_runs_has_only_its_attempts_output_in_its_transcript(store: Store, write) -> None:
    run(store, write("plain.py", "print('no blocks here')\n"), "plain")

    job, entries = history.transcript(store, "plain")
    assert job["id"] == "plain"
    assert [(entry["kind"], entry["attempt"], entry["output"]) for entry in entries] == [
        ("attempt", 1, "no blocks here\n")
    ]


def test_bad_transcript_filters_are_errors_that_change_nothing(store: Store, tmp_path: Path, db_url: str) -> None:
    failed_then_fixed(store, tmp_path)
    before = snapshot(db_url)

    with pytest.raises(UsageError) as unknown_block:
        history.transcript(store, "flaky", block="Load")
    with pytest.raises(UsageError) as no_attempt:
        history.transcript(store, "flaky", attempt=3)
    with pytest.raises(UsageError) as attempt_0:
        history.transcript(store, "flaky", attempt=0)

    assert str(unknown_block.value) == (
        "job flaky has no block 'Load' (block names are case-sensitive): its blocks are fetch, load, report"
    )
    assert str(no_attempt.value) == "job flaky has 2 attempt(s): there is no attempt 3"
    assert str(attempt_0.value) == "--attempt must be 1 or more, not 0"
    assert snapshot(db_url) == before


# ---- logs --follow ------------------------------------------------------------------


def _each_poll(clock: FakeClock, monkeypatch: pytest.MonkeyPatch, *steps) -> list[float]:
    """Between two polls of `follow` (its clock.sleep), the next of `steps` happens; the waits asked for."""
    pending, waited = list(steps), []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        pending.pop(0)()

    monkeypatch.setattr(clock, "sleep", sleep)
    return waited


def test_follow_tells_each_run_as_it_is_recorded_until_the_job_ends(
    store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    held_elsewhere(store, "busy")
    store.save_block("busy", completed_run("started", output="started\n"))
    seen: list[tuple[str, str]] = []
    waited = _each_poll(
        clock,
        monkeypatch,
        lambda: None,  # nothing new on this poll
        lambda: store.save_block("busy", completed_run("gated", output="through the gate\n")),
        lambda: (
            store.save_block("busy", completed_run("last")),
            store.finish_attempt("busy", 1, status="Completed", reason=None),
        ),
    )

    ended = history.follow(store, "busy", lambda run: seen.append((run["name"], run["output"])))

    assert seen == [("started", "started\n"), ("gated", "through the gate\n"), ("last", "")]
    assert (ended["id"], ended["status"]) == ("busy", "Completed")
    assert waited == [history.FOLLOW_POLL_SECONDS] * 3


def test_follow_of_a_job_that_is_not_running_tells_what_there_is_and_ends(store: Store, tmp_path: Path) -> None:
    failed_then_fixed(store, tmp_path)
    seen: list[dict] = []

    ended = history.follow(store, "flaky", seen.append, attempt=1)

    assert _runs(seen) == [("fetch", 1, "Completed"), ("load", 1, "Failed")]
    assert ended["status"] == "Completed"


def test_follow_shows_a_retried_block_once_its_tries_are_over(store: Store, clock: FakeClock, monkeypatch) -> None:
    held_elsewhere(store, "busy")
    store.save_block("busy", completed_run("flaky", status="Retrying", output="try 1 failed\n"))
    seen: list[tuple[str, int, str]] = []
    _each_poll(
        clock,
        monkeypatch,
        lambda: store.replace_block("busy", completed_run("flaky", tries=2, output="try 1 failed\ntry 2\n")),
        lambda: store.finish_attempt("busy", 1, status="Completed", reason=None),
    )

    history.follow(store, "busy", lambda run: seen.append((run["status"], run["tries"], run["output"])))

    assert seen == [("Completed", 2, "try 1 failed\ntry 2\n")]


def test_follow_of_a_job_deleted_meanwhile_ends_with_none(store: Store, clock: FakeClock, monkeypatch) -> None:
    from psflow.service import control

    held_elsewhere(store, "busy")
    _each_poll(clock, monkeypatch, lambda: control.remove(store, ["busy"], force=True))

    assert history.follow(store, "busy", lambda run: None) is None


def test_follow_waits_for_a_block_or_attempt_that_may_come_yet(store: Store, clock: FakeClock, monkeypatch) -> None:
    held_elsewhere(store, "busy")
    seen: list[str] = []
    _each_poll(
        clock,
        monkeypatch,
        lambda: (
            store.save_block("busy", completed_run("later")),
            store.finish_attempt("busy", 1, status="Waiting", reason=None),
        ),
    )

    history.follow(store, "busy", lambda run: seen.append(run["name"]), block="later", attempt=1)

    assert seen == ["later"]
    with pytest.raises(UsageError, match="--attempt must be 1 or more, not 0"):
        history.follow(store, "busy", seen.append, attempt=0)
