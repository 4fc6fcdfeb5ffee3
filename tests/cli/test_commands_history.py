"""What `psflow jobs`, `job` and `logs` print and how they read their arguments, run in this process
through psflow.cli.main. What the service gives is tested in tests/service/test_history.py; the real
command in tests/e2e/test_jobs.py and test_logs.py."""

from __future__ import annotations

import json
from pathlib import Path

from psflow.service import history, transcripts
from psflow.store import Store
from support.cli import assert_clean_error
from support.running import failed_then_fixed, run, three_jobs


def _ids(result) -> list[str]:
    assert result.returncode == 0, result.stderr
    return [job["id"] for job in json.loads(result.stdout)]


def test_no_jobs(cli, store: Store) -> None:
    assert store.list_jobs() == []  # the database exists: commands that only read never create one
    assert (cli("jobs").returncode, cli("jobs").stdout) == (0, "no jobs\n")
    assert _ids(cli("jobs", "--json")) == []


def test_jobs_reads_repeated_statuses_and_a_limit_long_or_short(cli, store: Store, tmp_path: Path) -> None:
    three_jobs(store, tmp_path)

    assert _ids(cli("jobs", "--json", "--status", "Waiting")) == ["beta-1", "alpha-2"]
    assert set(_ids(cli("jobs", "--json", "-s", "Completed", "-s", "Waiting"))) == {"alpha-1", "alpha-2", "beta-1"}
    assert _ids(cli("jobs", "--json", "--limit", "1")) == ["beta-1"]
    assert _ids(cli("jobs", "--json", "--status", "Waiting", "-n", "1")) == ["beta-1"]
    assert json.loads(cli("jobs", "--json").stdout) == history.jobs(store)


def test_job_json_is_the_detail_and_text_the_fields_then_the_attempts(cli, store: Store, tmp_path: Path) -> None:
    three_jobs(store, tmp_path)

    as_json = cli("job", "bet", "--json")
    as_text = cli("job", "alpha-1")

    assert json.loads(as_json.stdout) == history.job_detail(store, "beta-1")
    assert as_text.returncode == 0, as_text.stderr
    assert "job       alpha-1" in as_text.stdout and "status    Completed" in as_text.stdout
    assert "\nattempt 1: Completed — on " in as_text.stdout


def test_logs_reads_a_block_an_attempt_and_json(cli, store: Store, tmp_path: Path) -> None:
    failed_then_fixed(store, tmp_path)

    by_block = cli("logs", "flaky", "load")
    by_attempt = cli("logs", "flaky", "--attempt", "2")
    both = cli("logs", "flaky", "load", "-a", "1")
    as_json = cli("logs", "fla", "--json")

    assert by_block.stdout.count("==> load (attempt ") == 2 and "fetched" not in by_block.stdout
    assert [line.split()[1:4] for line in by_attempt.stdout.splitlines() if line.startswith("==> ")] == [
        ["load", "(attempt", "2,"],
        ["report", "(attempt", "2,"],
    ]
    assert both.stdout.startswith("==> load (attempt 1, Failed, ") and both.stdout.count("==> ") == 1
    assert json.loads(as_json.stdout) == transcripts.transcript(store, "flaky")[1]


def test_logs_of_a_job_without_block_runs_shows_what_its_attempt_printed(cli, store: Store, write) -> None:
    run(store, write("plain.py", "print('no blocks here')\n"), "plain")

    result = cli("logs", "plain")

    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("no blocks here\n==> attempt 1 ended (Completed, ")


BAD_LOGS = [
    (
        ("flaky", "Load"),
        "job flaky has no block 'Load' (block names are case-sensitive): its blocks are fetch, load, report",
    ),
    (("flaky", "--attempt", "3"), "job flaky has 2 attempt(s): there is no attempt 3"),
    (("nope",), "no job with id 'nope'"),
    (("fla",), "job id prefix 'fla' is ambiguous"),
    (("flaky", "--follow", "--json"), "--json and --follow cannot be combined"),
]


def test_bad_logs_arguments_are_clean_errors(cli, store: Store, tmp_path: Path, write) -> None:
    failed_then_fixed(store, tmp_path)
    run(store, write("other.py", "stop('Waiting')\n"), "flake")  # "fla" is now ambiguous

    for args, message in BAD_LOGS:
        assert_clean_error(cli("logs", *args), f"psflow: error: {message}")


def test_an_attempt_below_1_is_a_usage_error(cli, store: Store, tmp_path: Path) -> None:
    failed_then_fixed(store, tmp_path)

    result = cli("logs", "flaky", "--attempt", "0")

    assert result.returncode == 2 and "Invalid value for '--attempt' / '-a'" in result.stderr
