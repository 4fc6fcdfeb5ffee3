"""`psflow exec`: exit codes, argv, chosen job ids, what the script sees, errors and warnings."""

from __future__ import annotations

import json

from support.cli import assert_clean_error, job_id_of

COUNTED = """
    from pathlib import Path

    def count(name):
        path = Path(name + ".count")
        path.write_text(str(int(path.read_text()) + 1 if path.exists() else 1))

    with block("Once"):
        count("once")
        value = 41 + 1
    if job.attempt == 1:
        stop("Waiting", reason="first attempt")
    print("value", value, "attempt", job.attempt)
"""


def test_exit_codes_and_statuses(psflow, write, jobs):
    write("ok.py", 'with block("A"):\n    x = 1\n')
    write("boom.py", 'with block("A"):\n    raise RuntimeError("boom")\n')
    write("wait.py", 'stop("Waiting", reason="approval pending")\n')
    write("hold.py", 'stop("OnHold")\n')

    codes = {name: psflow("exec", f"{name}.py").returncode for name in ("ok", "boom", "wait", "hold")}

    assert codes == {"ok": 0, "boom": 1, "wait": 3, "hold": 3}
    found = {job["name"]: (job["status"], job["reason"]) for job in jobs()}
    assert found == {
        "ok": ("Completed", None),
        "boom": ("Failed", "RuntimeError: boom"),
        "wait": ("Waiting", "approval pending"),
        "hold": ("OnHold", None),
    }


def test_argv_is_script_and_args_and_args_are_kept_for_resume(psflow, write, jobs, tmp_path):
    script = write(
        "argv.py",
        """
        import json, sys
        print(json.dumps(sys.argv))
        if job.attempt == 1:
            stop("Waiting")
        """,
    )
    args = ["web01", "--verbose", "-x", "1", "two words"]

    first = psflow("exec", "argv.py", *args)
    resumed = psflow("resume")

    assert first.returncode == 3, first.stderr
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(first.stdout) == [str(script), *args]
    assert json.loads(resumed.stdout) == [str(script), *args]
    assert [job["args"] for job in jobs()] == [args]


def test_job_option_creates_the_job_then_continues_it_then_runs_nothing(psflow, write, jobs, tmp_path):
    write("counted.py", COUNTED)

    first = psflow("exec", "counted.py", "--job", "nightly-2026-11-27")
    second = psflow("exec", "counted.py", "--job", "nightly-2026-11-27")
    third = psflow("exec", "counted.py", "--job", "nightly-2026-11-27")

    assert (first.returncode, second.returncode, third.returncode) == (3, 0, 0)
    assert second.stdout == "value 42 attempt 2\n"
    assert third.stdout == ""
    assert "nightly-2026-11-27" in third.stderr and "already Completed" in third.stderr
    assert (tmp_path / "once.count").read_text() == "1"
    [job] = jobs()
    assert (job["id"], job["status"], job["attempts"]) == ("nightly-2026-11-27", "Completed", 2)


def test_job_id_from_environment_works_like_the_option(psflow_with_job_id, write, jobs, tmp_path):
    write("counted.py", COUNTED)

    runs = [psflow_with_job_id("env-job-7", "exec", "counted.py") for _ in range(3)]

    assert [run.returncode for run in runs] == [3, 0, 0]
    assert runs[1].stdout == "value 42 attempt 2\n"
    assert runs[2].stdout == "" and "already Completed" in runs[2].stderr
    assert (tmp_path / "once.count").read_text() == "1"
    [job] = jobs()
    assert (job["id"], job["status"], job["attempts"]) == ("env-job-7", "Completed", 2)


def test_job_id_and_attempt_inside_the_script(psflow, write, jobs):
    write(
        "who.py",
        """
        import os
        print(job.id, job.attempt, os.environ["PSFLOW_JOB_ID"], job.status)
        if job.attempt < 3:
            stop("Waiting")
        """,
    )

    outputs = [psflow("exec", "who.py").stdout, psflow("resume").stdout, psflow("resume").stdout]

    [job] = jobs()
    assert outputs == [f"{job['id']} {n} {job['id']} Running\n" for n in (1, 2, 3)]


def test_names_can_be_imported_from_psflow(psflow, write, job_detail):
    write(
        "imports.py",
        """
        import psflow as pf
        from psflow import block, stop, job

        with block("Plain"):
            a = 1
        with pf.block("Qualified"):
            b = a + 1
        if job.attempt == 1:
            stop("Waiting")
        print(a, b)
        """,
    )

    first = psflow("exec", "imports.py")
    second = psflow("resume")

    assert (first.returncode, second.returncode) == (3, 0), first.stderr + second.stderr
    assert second.stdout == "1 2\n"
    blocks = job_detail(job_id_of(first))["blocks"]
    assert [(b["name"], b["status"], b["attempt"]) for b in blocks] == [
        ("Plain", "Completed", 1),
        ("Qualified", "Completed", 1),
    ]


def test_stdout_is_the_script_s_own(psflow, write):
    write(
        "talk.py",
        """
        import sys
        print("before")
        with block("Talk"):
            print("inside")
            print("to stderr", file=sys.stderr)
        print("after")
        """,
    )

    result = psflow("exec", "talk.py")

    assert result.returncode == 0
    assert result.stdout == "before\ninside\nafter\n"
    assert "to stderr" in result.stderr
    assert "psflow: job " in result.stderr and "Completed" in result.stderr


def test_user_exception_shows_the_user_traceback_only(psflow, write, jobs, job_detail):
    script = write(
        "broken.py",
        """
        def parse(text):
            return int(text)

        with block("Parse"):
            number = parse("not a number")
        """,
    )

    result = psflow("exec", "broken.py")

    assert result.returncode == 1
    assert result.stderr.startswith("Traceback (most recent call last):\n")
    assert f'File "{script}", line 5, in <module>\n    number = parse("not a number")' in result.stderr
    assert f'File "{script}", line 2, in parse\n    return int(text)' in result.stderr
    assert "ValueError: invalid literal for int() with base 10: 'not a number'" in result.stderr
    for internal in ("psflow/runtime.py", "psflow/script/", "psflow/api.py", "psflow/cli.py", "typer", "click"):
        assert internal not in result.stderr
    [job] = jobs()
    assert job["status"] == "Failed"
    [block] = job_detail(job["id"])["blocks"]
    assert (block["name"], block["status"]) == ("Parse", "Failed")
    assert "ValueError" in block["error"] and "psflow/runtime.py" not in block["error"]


def test_exception_outside_blocks_fails_the_job_too(psflow, write, jobs):
    script = write("late.py", 'with block("A"):\n    a = 1\n\nraise KeyError("missing")\n')

    result = psflow("exec", "late.py")

    assert result.returncode == 1
    assert f'File "{script}", line 4, in <module>' in result.stderr
    assert "KeyError: 'missing'" in result.stderr
    assert [job["status"] for job in jobs()] == ["Failed"]


def test_block_name_reached_twice_names_both_lines(psflow, write, jobs):
    script = write(
        "twice.py",
        """
        with block("Same"):
            a = 1
        b = 2
        with block("Sa" + "me"):  # computed, so only the runtime sees it (`psflow check` refuses literal twins)
            c = 3
        """,
    )

    result = psflow("exec", "twice.py")

    assert result.returncode == 1
    assert "'Same' reached twice" in result.stderr
    assert f"{script}:1" in result.stderr and f"{script}:4" in result.stderr
    assert "Traceback" not in result.stderr
    assert [job["status"] for job in jobs()] == ["Failed"]


def test_same_dynamic_name_twice_in_a_loop_is_an_error(psflow, write):
    script = write("loop.py", 'for host in ["a", "b"]:\n    with block("deploy"):\n        done = host\n')

    result = psflow("exec", "loop.py")

    assert result.returncode == 1
    assert f"first at {script}:2, again at {script}:2" in result.stderr


def test_value_that_cannot_be_saved_is_reported_at_the_first_run(psflow, write, tmp_path):
    write(
        "handle.py",
        """
        with block("Open"):
            log = open("out.log", "w")
            count = 3
        log.close()
        if job.attempt == 1:
            stop("Waiting")
        print("count", count)
        """,
    )

    first = psflow("exec", "handle.py")
    second = psflow("resume")

    assert first.returncode == 3
    warnings = [line for line in first.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, first.stderr
    assert "'log'" in warnings[0] and "TextIOWrapper" in warnings[0] and "Open" in warnings[0]
    assert "'count'" not in warnings[0]
    # On replay `log` is unbound (as the warning said); `count` came back.
    assert second.returncode == 1
    assert "NameError" in second.stderr and "'log'" in second.stderr
    assert "warning" not in second.stderr


def test_another_script_under_an_existing_job_id_is_refused(psflow, write, jobs):
    write("first.py", 'stop("Waiting")\n')
    write("second.py", 'print("should not run")\n')
    assert psflow("exec", "first.py", "--job", "shared").returncode == 3
    before = jobs()

    result = psflow("exec", "second.py", "--job", "shared")

    assert_clean_error(result, "job shared runs", "first.py", "second.py")
    assert jobs() == before


def test_the_same_script_elsewhere_continues_the_job(psflow, write, tmp_path, jobs):
    # Another server may keep its checkout in another folder: the file name is what must match.
    for folder in ("server1", "server2"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "flow.py").write_text('if job.attempt == 1:\n    stop("Waiting")\nprint("done")\n')

    first = psflow("exec", "server1/flow.py", "--job", "nightly")
    second = psflow("exec", "server2/flow.py", "--job", "nightly")

    assert (first.returncode, second.returncode, second.stdout) == (3, 0, "done\n")
    assert [(job["id"], job["status"], job["attempts"]) for job in jobs()] == [("nightly", "Completed", 2)]


def test_continuing_with_other_arguments_is_refused(psflow, write, jobs):
    write("args.py", 'stop("Waiting")\n')
    assert psflow("exec", "args.py", "--job", "j1", "a").returncode == 3
    before = jobs()

    result = psflow("exec", "args.py", "--job", "j1", "b")

    assert_clean_error(result, "job j1 was started with arguments ['a']")
    assert jobs() == before


def test_multi_line_exception_message_keeps_its_type_in_the_reason(psflow, write, jobs):
    write("multi.py", 'raise ValueError("disk full\\non /srv")\n')

    result = psflow("exec", "multi.py")

    assert result.returncode == 1
    assert "ValueError: disk full\non /srv" in result.stderr  # the traceback shows the whole message
    [job] = jobs()
    assert job["reason"].startswith("ValueError: disk full")


def test_block_error_in_an_imported_helper_module_is_reported_like_a_syntax_error(psflow, write, jobs):
    helper = write("helper.py", "with block(42):\n    x = 1\n")
    write("main.py", "import helper\n")

    result = psflow("exec", "main.py")

    assert result.returncode in (1, 2)
    assert f"{helper}:1:12" in result.stderr or f'File "{helper}", line 1' in result.stderr
    assert "block name must be a str, not int" in result.stderr
    assert "<frozen importlib" not in result.stderr
    assert "psflow.transform" not in result.stderr
    for job in jobs():
        assert "block name must be a str" in job["reason"]


def test_a_block_name_too_long_for_the_database_is_refused_on_every_backend(psflow, write, jobs):
    write("long.py", 'with block("deploy-" + "x" * 300):\n    done = True\nprint(done)\n')

    result = psflow("exec", "long.py")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr, result.stderr
    assert "block name must be 1 to 255 characters" in result.stderr
    assert [job["status"] for job in jobs()] == ["Failed"]


def test_a_block_name_with_a_nul_character_is_refused(psflow, write, tmp_path):
    write(
        "nul.py",
        """
        with block("step\\x00one"):
            ran = True
        """,
    )

    result = psflow("exec", "nul.py")

    assert result.returncode == 2
    assert "without NUL" in result.stderr and "Traceback" not in result.stderr


def test_helper_modules_of_the_script_folder_get_every_script_name(psflow, write, jobs):
    """`psflow check` finds nothing wrong with a helper calling `sleep(0)`: exec must not fail with NameError."""
    write("helper.py", 'def pause():\n    sleep(0)\n    return "slept " + str(job.attempt)\n')
    write("main.py", 'import helper\nwith block("A"):\n    x = helper.pause()\nprint(x)\n')

    checked = psflow("check", "main.py")
    result = psflow("exec", "main.py")

    assert checked.returncode == 0, checked.stdout
    assert (result.returncode, result.stdout) == (0, "slept 1\n"), result.stderr
    assert [job["status"] for job in jobs()] == ["Completed"]
