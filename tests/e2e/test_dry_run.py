"""`psflow resume --dry-run`, `--rerun-changed` on exec and resume, and block fingerprints in `psflow job --json`."""

from __future__ import annotations

import json

from support.cli import job_id_of

# Every block body run is counted in `<block>.count`; attempt 1 stops Waiting after B.
FLOW = """
    from pathlib import Path

    def count(name):
        path = Path(name + ".count")
        path.write_text(str(int(path.read_text()) + 1 if path.exists() else 1))

    block "A":
        count("a")
        a = 1

    block "B":
        count("b")
        b = a + 1

    block "C":
        count("c")

    if job.attempt == 1:
        stop("Waiting")

    block "Late":
        count("late")
"""


def _count(tmp_path, name: str) -> int:
    path = tmp_path / f"{name}.count"
    return int(path.read_text()) if path.exists() else 0


def _plan_rows(stdout: str) -> dict[str, tuple[str, str, str]]:
    """{block: (action, line, why)} from the dry run's table (one job)."""
    rows = {}
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:3] == ["ACTION", "BLOCK", "LINE"])
    for line in lines[header + 1:]:
        if not line.strip() or line.startswith("job "):
            break
        action, name, number, *why = line.split(maxsplit=3)
        rows[name] = (action, number, why[0] if why else "")
    return rows


def _started(psflow, write, tmp_path) -> str:
    write("flow.py", FLOW)
    first = psflow("exec", "flow.py")
    assert first.returncode == 3, first.stderr
    return job_id_of(first)


def test_dry_run_says_what_would_replay_run_be_new_or_gone_and_writes_nothing(psflow, write, tmp_path, jobs, job_detail):
    job_id = _started(psflow, write, tmp_path)
    edited = (
        FLOW.replace("b = a + 1", "b = a + 2")  # B's code changed
        .replace('    block "C":\n        count("c")\n', "")  # C is gone
        + '\n    block "New":\n        count("new")\n'
    )
    write("flow.py", edited)
    before = (jobs(), job_detail(job_id))

    result = psflow("resume", "--dry-run")

    assert result.returncode == 0, result.stderr
    assert f"job {job_id} (Waiting, {tmp_path / 'flow.py'}): attempt 2 would do this" in result.stdout
    assert "note: the script changed since the last attempt" in result.stdout
    rows = _plan_rows(result.stdout)
    assert rows == {
        "A": ("replay", "7", "completed in attempt 1"),
        "B": ("replay", "11", "completed in attempt 1; its code changed since: replays with a warning "
              "(--rerun-changed runs it again)"),
        "Late": ("new", "19", "never ran in this job"),
        "New": ("new", "22", "never ran in this job"),
        "C": ("gone", "-", "completed in attempt 1; no longer in the script"),
    }
    assert "dry run: 1 job(s) would be resumed, 0 skipped, 0 could not run; nothing ran and nothing was written" in result.stderr
    assert (jobs(), job_detail(job_id)) == before
    assert (_count(tmp_path, "a"), _count(tmp_path, "b"), _count(tmp_path, "late")) == (1, 1, 0)

    rerun = psflow("resume", "--dry-run", "--rerun-changed")
    assert _plan_rows(rerun.stdout)["B"] == ("run", "11", "completed in attempt 1; its code changed since: runs again")


def test_dry_run_failed_blocks_dynamic_names_and_no_gone_when_a_name_could_be_made(psflow, write, tmp_path):
    write(
        "hosts.py",
        """
        block "Prepare":
            hosts = ["web01", "web02"]
        for host in hosts:
            with block(f"deploy-{host}"):
                if host == "web02":
                    raise RuntimeError("web02 is down")
        """,
    )
    failed = psflow("exec", "hosts.py")
    assert failed.returncode == 1, failed.stderr

    result = psflow("resume", "--status", "Failed", "--dry-run")

    assert result.returncode == 0, result.stderr
    rows = _plan_rows(result.stdout)
    assert rows["Prepare"] == ("replay", "1", "completed in attempt 1")
    assert rows['f"deploy-{host}"'][0:2] == ("dynamic", "4")
    assert rows['f"deploy-{host}"'][2].startswith("dynamic: decided at run time (1 completed block(s)")
    assert "deploy-web01" in rows['f"deploy-{host}"'][2]
    assert "gone" not in result.stdout  # deploy-web01 is not gone: f"deploy-{host}" makes it

    write("hosts.py", 'block "Prepare":\n    hosts = []\nblock "deploy-web02":\n    pass\n')
    rows = _plan_rows(psflow("resume", "--status", "Failed", "--dry-run").stdout)
    assert rows["deploy-web02"] == ("run", "3", "Failed in attempt 1")
    assert rows["deploy-web01"] == ("gone", "-", "completed in attempt 1; no longer in the script")


def test_dry_run_skips_and_unrunnable_scripts(psflow, write, tmp_path):
    job_id = _started(psflow, write, tmp_path)
    write("done.py", 'block "A":\n    pass\n')
    done = psflow("exec", "done.py", "--job", "done-job")
    assert done.returncode == 0, done.stderr
    write("flow.py", FLOW.replace('block "A":', 'block "A"'))  # a syntax error now

    result = psflow("resume", "--dry-run", "--job", job_id, "--job", "done-job")

    assert result.returncode == 1
    assert f"job {job_id} (Waiting, {tmp_path / 'flow.py'}): would not run: " in result.stdout
    assert "syntax error" in result.stdout
    assert "job done-job (Completed, " in result.stdout and "skipped: already Completed" in result.stdout
    assert "0 job(s) would be resumed, 1 skipped, 1 could not run" in result.stderr


def test_dry_run_refuses_set_because_it_writes_nothing(psflow, write, tmp_path, row_counts):
    job_id = _started(psflow, write, tmp_path)
    counts = row_counts()

    result = psflow("resume", "--dry-run", "--job", job_id, "--set", "approval=yes")

    assert result.returncode == 2
    assert "--dry-run writes nothing" in result.stderr
    assert row_counts() == counts


def test_changed_block_replays_with_a_warning_by_default(psflow, write, tmp_path):
    job_id = _started(psflow, write, tmp_path)
    write("flow.py", FLOW.replace("b = a + 1", "b = a + 2"))

    result = psflow("resume")

    assert result.returncode == 0, result.stderr
    assert (
        "psflow: warning: block 'B' changed since it completed in attempt 1; replaying "
        "(use --rerun-changed to run it again)"
    ) in result.stderr.splitlines()
    assert "block 'A' changed" not in result.stderr
    assert (_count(tmp_path, "a"), _count(tmp_path, "b"), _count(tmp_path, "late")) == (1, 1, 1)
    assert job_id in result.stderr


def test_rerun_changed_runs_a_changed_block_again_on_resume(psflow, write, tmp_path, job_detail):
    job_id = _started(psflow, write, tmp_path)
    write("flow.py", FLOW.replace("b = a + 1", "b = a + 2"))
    new_print = json.loads(psflow("check", "flow.py", "--json").stdout)["blocks"][1]["fingerprint"]

    result = psflow("resume", "--rerun-changed")

    assert result.returncode == 0, result.stderr
    assert "changed since it completed" not in result.stderr
    assert (_count(tmp_path, "a"), _count(tmp_path, "b"), _count(tmp_path, "c")) == (1, 2, 1)
    runs = [(run["name"], run["attempt"]) for run in job_detail(job_id)["runs"]]
    assert runs == [("A", 1), ("B", 1), ("C", 1), ("B", 2), ("Late", 2)]
    assert job_detail(job_id)["runs"][3]["fingerprint"] == new_print


def test_rerun_changed_on_exec_with_a_chosen_job_id(psflow, write, tmp_path):
    write("flow.py", FLOW)
    assert psflow("exec", "flow.py", "--job", "nightly").returncode == 3
    write("flow.py", FLOW.replace('count("a")', 'count("a")  # edited'))

    result = psflow("exec", "flow.py", "--job", "nightly", "--rerun-changed")

    assert result.returncode == 0, result.stderr
    assert (_count(tmp_path, "a"), _count(tmp_path, "b")) == (2, 1)


def test_job_json_shows_each_runs_fingerprint_as_check_computes_it(psflow, write, tmp_path, job_detail):
    job_id = _started(psflow, write, tmp_path)
    checked = json.loads(psflow("check", "flow.py", "--json").stdout)["blocks"]

    detail = job_detail(job_id)

    expected = {block["name"]: block["fingerprint"] for block in checked}
    assert [(run["name"], run["fingerprint"]) for run in detail["runs"]] == [
        (name, expected[name]) for name in ("A", "B", "C")
    ]
    assert all(block["fingerprint"] == expected[block["name"]] for block in detail["blocks"])
