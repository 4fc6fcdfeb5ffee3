"""Every sample in samples/ runs as its docstring says: started, stopped or failed, fixed, resumed.

Each one is copied into the test's folder and run there through the real
`psflow exec`; side-effect files count how often each block body ran.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture
def sample(tmp_path: Path):
    """sample(name): copy samples/NAME into the test's folder; its path there."""

    def copy(name: str) -> Path:
        return Path(shutil.copy(SAMPLES / name, tmp_path / name))

    return copy


def _jobs(psflow) -> list[dict]:
    result = psflow("jobs", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _blocks(psflow, job_id: str) -> list[tuple[str, str, int]]:
    result = psflow("job", job_id, "--json")
    assert result.returncode == 0, result.stderr
    return [(block["name"], block["status"], block["attempt"]) for block in json.loads(result.stdout)["blocks"]]


def test_every_sample_is_tested_and_documents_how_to_run_it():
    names = sorted(path.name for path in SAMPLES.glob("*.py"))
    assert names == ["approval.py", "deploy_hosts.py", "fix_and_resume.py", "patch_hosts.py"]
    for name in names:
        text = (SAMPLES / name).read_text()
        assert text.startswith('"""') and f"psflow exec samples/{name}" in text
        assert "psflow resume" in text


def test_approval_waits_for_the_input_and_finishes_with_step1_values(psflow, sample, tmp_path):
    sample("approval.py")
    side_effects = tmp_path / "sql_side_effects.log"

    # Attempt 1: Step1 runs once, then the job waits for its `approval` input.
    first = psflow("exec", "approval.py", "dbo.Orders")
    assert first.returncode == 3, first.stderr
    step1 = re.fullmatch(r"Step1: archived (\d+) rows of dbo\.Orders on db01; please validate\n", first.stdout)
    assert step1, first.stdout
    rows = step1.group(1)
    [job] = _jobs(psflow)
    assert (job["status"], job["reason"], job["args"]) == ("Waiting", "waiting for approval", ["dbo.Orders"])
    # Attempt 2: nobody approved yet: still waiting, Step1 replayed, not run.
    not_yet = psflow("resume")
    assert not_yet.returncode == 0, not_yet.stderr
    assert not_yet.stdout == ""
    assert f"job {job['id']}: skipped: waiting for input approval" in not_yet.stderr  # not run again for nothing
    # The approver signs off: stored, nothing runs until the next resume.
    sent = psflow("send", job["id"], "approval=alice")
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout == "" and f"job {job['id']}: received approval" in sent.stderr
    [still] = _jobs(psflow)
    assert (still["status"], still["attempts"]) == ("Waiting", 1)
    # Attempt 2: approved; Finish prints what Step1 computed in another process.
    approved = psflow("resume", "--status", "Waiting")
    assert approved.returncode == 0, approved.stderr
    assert re.fullmatch(
        rf"Finish: {rows} rows of dbo\.Orders archived on db01 at \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC, "
        r"approved by alice \(attempt 2\)\n",
        approved.stdout,
    ), approved.stdout
    assert "Completed — attempt 2, 2 block(s) ran, 1 replayed" in approved.stderr
    afterwards = psflow("resume")
    assert afterwards.stdout == "" and "nothing to do" in afterwards.stderr
    # A late approval is refused: the job is finished.
    late = psflow("send", job["id"], "approval=bob")
    assert late.returncode == 2 and "is Completed" in late.stderr
    # The UPDATE ran exactly once.
    assert len(side_effects.read_text().splitlines()) == 1
    assert _blocks(psflow, job["id"]) == [
        ("Step1", "Completed", 1),
        ("wait_for:approval", "Completed", 2),
        ("Finish", "Completed", 2),
    ]
    detail = json.loads(psflow("job", job["id"], "--json").stdout)
    assert [(sent["name"], sent["value"]) for sent in detail["inputs"]] == [("approval", "alice")]


def test_patch_hosts_patches_each_host_once_four_at_a_time_with_approval_between(psflow, sample, tmp_path):
    sample("patch_hosts.py")
    log = tmp_path / "patched_hosts.log"
    (tmp_path / "web13.unhealthy").write_text("")
    hosts = [f"web{n:02d}" for n in range(1, 21)]

    first = psflow("exec", "patch_hosts.py")
    [job] = _jobs(psflow)
    approved = psflow("send", job["id"], "go=alice", "--resume")
    (tmp_path / "web13.unhealthy").unlink()
    fixed = psflow("resume", "--status", "Failed")

    assert first.returncode == 3, first.stderr
    assert "first half: 10 hosts on ['2.4.1']" in first.stdout and "[Patch[web04]] patched web04" in first.stdout
    assert sorted(line.split()[1] for line in log.read_text().splitlines()[:10]) == hosts[:10]
    assert approved.returncode == 1  # web13's health check failed (twice: retries=1); the others ran to the end
    assert "Patch[web13]" in approved.stderr and "health check failed" in approved.stderr
    assert fixed.returncode == 0, fixed.stderr
    assert "second half: 10 hosts on ['2.4.1'], approved by alice" in fixed.stdout
    patched = [line.split()[1] for line in log.read_text().splitlines()]
    assert sorted(patched) == sorted([*hosts, "web13", "web13"])  # every other host exactly once
    blocks = _blocks(psflow, job["id"])
    assert {name for name, status, _ in blocks if status == "Completed"} >= {f"Patch[{host}]" for host in hosts}
    detail = json.loads(psflow("job", job["id"], "--json").stdout)
    assert detail["status"] == "Completed"


def test_deploy_hosts_resumes_only_the_hosts_not_yet_deployed(psflow, sample, tmp_path):
    sample("deploy_hosts.py")
    log = tmp_path / "deploy.log"
    (tmp_path / "web02.down").write_text("")

    failed = psflow("exec", "deploy_hosts.py", "web01", "web02", "web03")
    still_down = psflow("resume", "--status", "Failed")
    (tmp_path / "web02.down").unlink()
    resumed = psflow("resume", "--status", "Failed")

    assert failed.returncode == 1
    assert failed.stdout == "deploying 2026.11.1 to 3 host(s): web01, web02, web03\n  web01: 2026.11.1 deployed\n"
    assert "ConnectionError: web02: connection refused" in failed.stderr
    assert (
        "psflow: block 'deploy-web02': try 2 of 3 failed (ConnectionError: web02: connection refused "
        "(is the host down?)); trying again in 1s"
    ) in failed.stderr
    assert still_down.returncode == 1
    assert "web01: 2026.11.1 deployed" not in still_down.stdout
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == (
        "deploying 2026.11.1 to 3 host(s): web01, web02, web03\n"
        "  web02: 2026.11.1 deployed\n"
        "  web03: 2026.11.1 deployed\n"
        "release 2026.11.1 is on 3 host(s): web01, web02, web03\n"
    )
    assert [line.split()[1:] for line in log.read_text().splitlines()] == [
        ["web01", "2026.11.1"],
        ["web02", "2026.11.1"],
        ["web03", "2026.11.1"],
    ]
    [job] = _jobs(psflow)
    assert (job["status"], job["attempts"], job["args"]) == ("Completed", 3, ["web01", "web02", "web03"])
    assert _blocks(psflow, job["id"]) == [
        ("deploy-web01", "Completed", 1),
        ("deploy-web02", "Completed", 3),
        ("deploy-web03", "Completed", 3),
    ]


def test_deploy_hosts_default_list_and_failure_from_the_environment(psflow, sample, tmp_path):
    sample("deploy_hosts.py")

    failed = psflow("exec", "deploy_hosts.py", env={"DEPLOY_FAIL_HOST": "db01", "RELEASE": "9.9"})
    resumed = psflow("resume", "--status", "Failed", env={"RELEASE": "9.9"})

    assert failed.returncode == 1
    assert "ConnectionError: db01: connection refused" in failed.stderr
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.splitlines()[-2:] == [
        "  db01: 9.9 deployed",
        "release 9.9 is on 3 host(s): db01, web01, web02",
    ]
    hosts = [line.split()[1] for line in (tmp_path / "deploy.log").read_text().splitlines()]
    assert hosts == ["web01", "web02", "db01"]


def test_fix_and_resume_reruns_the_failed_block_only(psflow, sample, tmp_path):
    sample("fix_and_resume.py")

    failed = psflow("exec", "fix_and_resume.py")
    assert failed.returncode == 1
    assert failed.stdout.startswith("Collect: {'/': ")
    assert "FileNotFoundError" in failed.stderr and "report.ini" in failed.stderr
    assert 'fix_and_resume.py", line ' in failed.stderr and "settings = read_settings(SETTINGS)" in failed.stderr
    [job] = _jobs(psflow)
    assert job["status"] == "Failed"

    (tmp_path / "report.ini").write_text("[report]\nrecipients = ops@example.com, dba@example.com\nthreshold = 0\n")
    resumed = psflow("resume", "--status", "Failed")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == (
        "LoadSettings: report to ops@example.com, dba@example.com at or over 0%\n"
        "Send: report with 3 volumes sent to 2 recipient(s)\n"
    )
    assert "Completed — attempt 2, 2 block(s) ran, 1 replayed" in resumed.stderr
    # Collect ran once; Send used its `usage` (every volume is at or over 0%).
    assert (tmp_path / "collect.log").read_text() == "collected 3 volumes\n"
    outbox = (tmp_path / "outbox.txt").read_text()
    assert outbox.startswith("To: ops@example.com, dba@example.com\nSubject: disk report, 3 volume(s) at or over 0%\n")
    assert _blocks(psflow, job["id"]) == [
        ("Collect", "Completed", 1),
        ("LoadSettings", "Completed", 2),
        ("Send", "Completed", 2),
    ]
