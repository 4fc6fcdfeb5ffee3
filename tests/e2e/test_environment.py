"""The working folder and environment of a job: the same on every attempt, changes redone on replay,
and multiprocessing children that get the rewritten script."""

from __future__ import annotations

import json
import os


def test_every_attempt_runs_in_the_folder_of_the_first(psflow, write, tmp_path):
    write(
        "flow.py",
        'import os\nwith block("A"):\n    open("side_effects.log", "a").write("A\\n")\nif job.attempt == 1:\n    stop("Waiting")\nprint(os.getcwd())\n',
    )
    assert psflow("exec", "flow.py", "--job", "e1").returncode == 3
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    resumed = psflow("resume", cwd=elsewhere)

    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == str(tmp_path)
    assert not (elsewhere / "side_effects.log").exists()


def test_a_folder_missing_on_this_server_runs_here_with_a_note(psflow, write, tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    write("flow.py", 'import os\nif job.attempt == 1:\n    stop("Waiting")\nprint(os.getcwd())\n')
    assert psflow("exec", str(tmp_path / "flow.py"), "--job", "e2", cwd=folder).returncode == 3
    folder.rmdir()

    resumed = psflow("resume")

    assert resumed.returncode == 0 and resumed.stdout.strip() == str(tmp_path)
    assert f"its folder {folder} does not exist here: ran in {tmp_path}" in resumed.stderr


def test_environment_and_folder_changes_in_a_block_are_redone_on_replay(psflow, write, tmp_path):
    write(
        "flow.py",
        """
        import os
        with block("Env"):
            os.environ["MYVAR"] = "set in block"
            os.environ.pop("GONE", None)
            os.makedirs("sub", exist_ok=True)
            os.chdir("sub")
        if job.attempt == 1:
            stop("Waiting")
        print(os.environ.get("MYVAR"), os.environ.get("GONE"), os.path.basename(os.getcwd()))
    """,
    )
    assert psflow("exec", "flow.py", env={"GONE": "here"}).returncode == 3

    resumed = psflow("resume", env={"GONE": "here again"})

    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == "set in block None sub"


def test_multiprocessing_children_get_the_rewritten_script(psflow, write):
    write(
        "par.py",
        """
        import multiprocessing as mp

        def square(x):
            return x * x

        if __name__ == "__main__":
            block "Compute":
                with mp.get_context("spawn").Pool(2) as pool:
                    results = pool.map(square, range(5))
                del pool
            print("results", results)
    """,
    )

    ran = psflow("exec", "par.py", timeout=120)

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "results [0, 1, 4, 9, 16]\n"
    assert "SyntaxError" not in ran.stderr


def test_a_job_records_its_folder(psflow, write, tmp_path):
    write("flow.py", "pass\n")
    psflow("exec", "flow.py")
    (job,) = json.loads(psflow("jobs", "--json").stdout)
    assert job["cwd"] == str(tmp_path) == os.path.realpath(tmp_path)
