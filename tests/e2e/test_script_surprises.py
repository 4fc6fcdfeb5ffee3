"""What scripts do to their own process, through the real `psflow`: text from file names that are
not UTF-8, a fork that exits, a block that deletes its own folder, stdout closed.

Found by a helper running such scripts: each was a psflow traceback, a job left Running or ended
by the wrong process, or a completed body run again.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from support.cli import PSFLOW, environment
from support.scripts import detail

UNDECODABLE = """
import os
name = os.listdir("names")[0]  # b"caf\\xe9\\xff.txt" read back as text: lone surrogates
"""


def _names(tmp_path: Path) -> None:
    (tmp_path / "names").mkdir()
    (tmp_path / "names" / "caf\udce9\udcff.txt").write_text("x", errors="surrogateescape")


def test_a_block_named_from_an_undecodable_file_name_is_refused_before_its_body_runs(psflow, write, tmp_path):
    _names(tmp_path)
    write("named.py", UNDECODABLE + 'with block(f"B-{name}"):\n    open("ran", "w").close()\n')

    result = psflow("exec", "named.py", "--job", "named")

    assert result.returncode != 0 and "Traceback" not in result.stderr.split("psflow: error")[0], result.stderr
    assert "holds a character no database keeps" in result.stderr and "B-caf\\\\udce9\\\\udcff.txt" in result.stderr
    assert not (tmp_path / "ran").exists()  # refused before the body: nothing to run twice
    assert detail(psflow, "named")["status"] == "Failed"


def test_an_error_or_reason_with_undecodable_text_is_stored_escaped(psflow, write, tmp_path):
    _names(tmp_path)
    write("fails.py", UNDECODABLE + 'with block("Done"):\n    pass\nraise RuntimeError("cannot process " + name)\n')
    write("stops.py", UNDECODABLE + 'stop("Waiting", reason="waits for " + name)\n')

    failed = psflow("exec", "fails.py", "--job", "fails")
    stopped = psflow("exec", "stops.py", "--job", "stops")
    cancelled = subprocess.run(
        [PSFLOW, "cancel", "stops", "--reason", b"by caf\xe9"],
        cwd=tmp_path,
        env=environment(psflow.db_url),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert failed.returncode == 1 and "psflow/" not in failed.stderr, failed.stderr  # the script's traceback only
    assert detail(psflow, "fails")["reason"] == "RuntimeError: cannot process caf\\udce9\\udcff.txt"
    assert stopped.returncode == 3, stopped.stderr
    assert cancelled.returncode == 0, cancelled.stderr
    assert detail(psflow, "stops")["reason"] == "by caf\\udce9"


def test_a_forked_process_that_exits_ends_only_itself(psflow, write, tmp_path):
    write(
        "forks.py",
        """
        import os, sys
        with block("Fork"):
            pid = os.fork()
            if pid == 0:
                print("child", flush=True)
                sys.exit(0)
            os.waitpid(pid, 0)
            print("parent after fork")
        with block("Next"):
            print("next ran")
        """,
    )

    result = psflow("exec", "forks.py", "--job", "forks")

    assert result.returncode == 0, result.stderr
    assert result.stdout.count("next ran") == 1 and "parent after fork" in result.stdout, result.stdout
    job = detail(psflow, "forks")
    assert job["status"] == "Completed" and [run["name"] for run in job["runs"]] == ["Fork", "Next"]


def test_a_block_that_deletes_the_folder_it_runs_in_completes(psflow, write, tmp_path):
    write(
        "deletes.py",
        """
        import os, shutil, tempfile
        with block("A"):
            folder = tempfile.mkdtemp(dir=".")
            os.chdir(folder)
            shutil.rmtree(os.path.join("..", os.path.basename(folder)))
            print("removed my folder")
        with block("B"):
            print("B ran")
        """,
    )

    result = psflow("exec", "deletes.py", "--job", "deletes")

    assert result.returncode == 0, result.stderr
    assert [run["status"] for run in detail(psflow, "deletes")["runs"]] == ["Completed", "Completed"]


def test_a_job_run_with_stdout_or_stderr_closed_runs(psflow, write, tmp_path):
    write("quiet.py", 'with block("A"):\n    print("hi")\n')

    for closed, job_id in (("1", "no-stdout"), ("2", "no-stderr")):
        result = subprocess.run(
            ["sh", "-c", f'exec "$0" exec quiet.py --job {job_id} {closed}>&-', PSFLOW],
            cwd=tmp_path,
            env=environment(psflow.db_url),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, (closed, result.stderr)
        assert detail(psflow, job_id)["status"] == "Completed"


def test_a_script_path_psflow_cannot_store_or_a_deleted_folder_gets_one_line(psflow, write, tmp_path):
    folder = tmp_path / "dir\udcff"
    folder.mkdir()
    (folder / "s.py").write_text('with block("A"):\n    pass\n')
    write("plain.py", 'with block("A"):\n    pass\n')

    undecodable = subprocess.run(
        [PSFLOW, "exec", b"dir\xff/s.py"],
        cwd=tmp_path,
        env=environment(psflow.db_url),
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=60,
    )
    deleted = subprocess.run(
        ["sh", "-c", 'mkdir gone && cd gone && rmdir ../gone && exec "$0" exec ../plain.py', PSFLOW],
        cwd=tmp_path,
        env=environment(psflow.db_url),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert undecodable.returncode == 2 and undecodable.stderr.count("\n") == 1, undecodable.stderr
    assert "cannot store '" in undecodable.stderr and "holds a character no database keeps" in undecodable.stderr
    assert deleted.returncode == 2 and deleted.stderr == (
        "psflow: error: the current folder was deleted: cd to a folder that exists and run it again\n"
    ), deleted.stderr
