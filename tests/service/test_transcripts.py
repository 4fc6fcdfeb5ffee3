"""psflow.service.transcripts in-process, on every backend: the transcript of block runs with its
filters, read a page at a time, and `follow`. Nothing here writes. How it prints is in
tests/cli/test_transcript.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from psflow.errors import UsageError
from psflow.service import transcripts
from psflow.store import Store
from support.clock import FakeClock
from support.database import snapshot
from support.running import completed_run, failed_then_fixed, held_elsewhere, run

# ---- logs: the transcript -----------------------------------------------------------


def _runs(runs: list[dict]) -> list[tuple[str, int, str]]:
    return [(run["name"], run["attempt"], run["status"]) for run in runs]


def test_the_transcript_of_a_failed_then_fixed_job_is_in_order(store: Store, tmp_path: Path) -> None:
    failed_then_fixed(store, tmp_path)

    job, entries = transcripts.transcript(store, "flaky")
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


def _pages_read(caplog: pytest.LogCaptureFixture) -> int:
    """The queries of block runs peewee sent so far."""
    return sum('"psflow_block"' in str(record.msg) and "LIMIT" in str(record.msg) for record in caplog.records)


def test_the_transcript_is_read_from_the_database_a_page_at_a_time_growing_while_output_is_small(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    failed_then_fixed(store, tmp_path)  # four block runs
    whole = transcripts.transcript(store, "flaky")[1]
    monkeypatch.setattr(transcripts, "LOG_PAGE", 3)

    with caplog.at_level(logging.DEBUG, logger="peewee"):
        _, entries = transcripts.stream_transcript(store, "flaky")
        first = next(entries)
        read_for_the_first = _pages_read(caplog)
        rest = list(entries)

    assert [first, *rest] == whole
    assert (read_for_the_first, _pages_read(caplog)) == (1, 3)  # run 1, runs 2-3, run 4 (a short page: the end)


def test_a_page_holds_fewer_runs_when_their_output_is_large(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """500 MB of output in 100 runs held 200 MB at a time, 16 runs a page: a page holds about
    LOG_CHARACTERS of output now."""
    failed_then_fixed(store, tmp_path)
    whole = transcripts.transcript(store, "flaky")[1]
    monkeypatch.setattr(transcripts, "LOG_CHARACTERS", 1)  # any output is large

    with caplog.at_level(logging.DEBUG, logger="peewee"):
        entries = list(transcripts.stream_transcript(store, "flaky")[1])

    assert entries == whole
    assert _pages_read(caplog) == 5  # a run a page, then the empty page that ends it


def test_the_transcript_takes_a_block_an_attempt_and_an_id_prefix(store: Store, tmp_path: Path) -> None:
    failed_then_fixed(store, tmp_path)

    assert _runs(transcripts.transcript(store, "flaky", block="load")[1]) == [
        ("load", 1, "Failed"),
        ("load", 2, "Completed"),
    ]
    assert _runs(transcripts.transcript(store, "flaky", attempt=2)[1]) == [
        ("load", 2, "Completed"),
        ("report", 2, "Completed"),
    ]
    assert _runs(transcripts.transcript(store, "flaky", block="load", attempt=1)[1]) == [("load", 1, "Failed")]
    assert _runs(transcripts.transcript(store, "fla", block="fetch")[1]) == [("fetch", 1, "Completed")]


def test_a_job_without_block_runs_has_only_its_attempts_output_in_its_transcript(store: Store, write) -> None:
    run(store, write("plain.py", "print('no blocks here')\n"), "plain")

    job, entries = transcripts.transcript(store, "plain")
    assert job["id"] == "plain"
    assert [(entry["kind"], entry["attempt"], entry["output"]) for entry in entries] == [
        ("attempt", 1, "no blocks here\n")
    ]


def test_bad_transcript_filters_are_errors_that_change_nothing(store: Store, tmp_path: Path, db_url: str) -> None:
    failed_then_fixed(store, tmp_path)
    before = snapshot(db_url)

    with pytest.raises(UsageError) as unknown_block:
        transcripts.transcript(store, "flaky", block="Load")
    with pytest.raises(UsageError) as no_attempt:
        transcripts.transcript(store, "flaky", attempt=3)
    with pytest.raises(UsageError) as attempt_0:
        transcripts.transcript(store, "flaky", attempt=0)

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

    ended = transcripts.follow(store, "busy", lambda run: seen.append((run["name"], run["output"])))

    assert seen == [("started", "started\n"), ("gated", "through the gate\n"), ("last", "")]
    assert (ended["id"], ended["status"]) == ("busy", "Completed")
    assert waited == [transcripts.FOLLOW_POLL_SECONDS] * 3


def test_follow_of_a_job_that_is_not_running_tells_what_there_is_and_ends(store: Store, tmp_path: Path) -> None:
    failed_then_fixed(store, tmp_path)
    seen: list[dict] = []

    ended = transcripts.follow(store, "flaky", seen.append, attempt=1)

    assert _runs(seen) == [("fetch", 1, "Completed"), ("load", 1, "Failed")]
    assert ended["status"] == "Completed"


def test_follow_shows_a_retried_block_once_its_tries_are_over(store: Store, clock: FakeClock, monkeypatch) -> None:
    held_elsewhere(store, "busy")
    run = store.save_block("busy", completed_run("flaky", status="Retrying", output="try 1 failed\n"))
    seen: list[tuple[str, int, str]] = []
    _each_poll(
        clock,
        monkeypatch,
        lambda: store.replace_block("busy", run, completed_run("flaky", tries=2, output="try 1 failed\ntry 2\n")),
        lambda: store.finish_attempt("busy", 1, status="Completed", reason=None),
    )

    transcripts.follow(store, "busy", lambda run: seen.append((run["status"], run["tries"], run["output"])))

    assert seen == [("Completed", 2, "try 1 failed\ntry 2\n")]


def test_follow_of_a_job_deleted_meanwhile_ends_with_none(store: Store, clock: FakeClock, monkeypatch) -> None:
    from psflow.service import control

    held_elsewhere(store, "busy")
    _each_poll(clock, monkeypatch, lambda: control.remove(store, ["busy"], force=True))

    assert transcripts.follow(store, "busy", lambda run: None) is None


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

    transcripts.follow(store, "busy", lambda run: seen.append(run["name"]), block="later", attempt=1)

    assert seen == ["later"]
    with pytest.raises(UsageError, match="--attempt must be 1 or more, not 0"):
        transcripts.follow(store, "busy", seen.append, attempt=0)
