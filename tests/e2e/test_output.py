"""How psflow prints: plain text in pipes, rich tables on a terminal, no ANSI styles with
NO_COLOR, a progress bar only on a terminal, and shell completion.

Terminal cases run psflow on a real pseudo-terminal (pty), not by faking isatty.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from support.terminal import STYLE, on_terminal

ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

pty = pytest.importorskip("pty")


def _on_terminal(psflow, tmp_path: Path, *args: str, stdout_tty: bool = True, env: dict | None = None):
    """Run `psflow ARGS` on a pty (see support.terminal): (exit code, what the terminal got, piped stdout)."""
    return on_terminal(psflow.db_url, tmp_path, *args, stdout_tty=stdout_tty, env=env)


def _lines(terminal: str) -> list[str]:
    """What a person sees at the end, line by line: a tiny terminal that knows what rich's
    live display uses (carriage return, newline, erase line, cursor up) and ignores styles."""
    screen, row, column = [""], 0, 0
    for token in re.split(r"(\x1b\[[0-9;?]*[A-Za-z]|\r|\n)", terminal):
        if token == "\r":
            column = 0
        elif token == "\n":
            row += 1
            screen.extend([""] * (row + 1 - len(screen)))
        elif token.startswith("\x1b["):
            if token.endswith("K"):
                screen[row] = ""
            elif token.endswith("A"):
                row = max(0, row - int(token[2:-1] or 1))
        elif token:
            line = screen[row].ljust(column)
            screen[row] = line[:column] + token + line[column + len(token) :]
            column += len(token)
    return [line.rstrip() for line in screen if line.strip()]


def _waiting_jobs(psflow, tmp_path: Path, count: int) -> None:
    (tmp_path / "gate.py").write_text(
        "from pathlib import Path\nprint('output of', job.id)\nif not Path('go').exists():\n    stop('Waiting')\n"
    )
    for index in range(count):
        assert psflow("exec", "gate.py", "--job", f"job-{index}").returncode == 3


# ---- listings: plain in pipes, rich on a terminal, NO_COLOR ---------------------


@pytest.mark.parametrize(
    "force", [{}, {"FORCE_COLOR": "1"}, {"TTY_COMPATIBLE": "1"}], ids=["plain", "FORCE_COLOR", "TTY_COMPATIBLE"]
)
def test_piped_output_is_plain_text_even_when_rich_is_told_to_force_a_terminal(psflow, tmp_path, force):
    _waiting_jobs(psflow, tmp_path, 1)
    (tmp_path / "flow.py").write_text("print('hi')\n")
    psflow("register", "flow", "flow.py")

    results = [
        psflow(*command, env=force) for command in (("jobs",), ("job", "job-0"), ("workflows",), ("show", "gate.py"))
    ]

    for result in results:
        assert result.returncode == 0, result.stderr
        assert "\x1b" not in result.stdout + result.stderr
    assert results[0].stdout.split()[:8] == ["ID", "SCRIPT", "STATUS", "WAITS", "FOR", "ATTEMPTS", "UPDATED", "HOST"]


def test_a_terminal_gets_a_rich_table(psflow, tmp_path):
    _waiting_jobs(psflow, tmp_path, 1)

    code, terminal, _ = _on_terminal(psflow, tmp_path, "jobs")

    assert code == 0
    assert STYLE.search(terminal)  # a styled header: the check below means something
    assert "━" in terminal or "─" in terminal
    assert "job-0" in terminal


@pytest.mark.parametrize(
    "command", [("jobs",), ("job", "job-0"), ("workflows",), ("show", "gate.py")], ids=lambda c: c[0]
)
def test_no_color_means_no_ansi_styles_on_a_terminal(psflow, tmp_path, command):
    _waiting_jobs(psflow, tmp_path, 1)
    (tmp_path / "flow.py").write_text("print('hi')\n")
    psflow("register", "flow", "flow.py")

    code, terminal, _ = _on_terminal(psflow, tmp_path, *command, env={"NO_COLOR": "1", "FORCE_COLOR": "1"})

    assert code == 0, terminal
    assert "\x1b" not in terminal, repr(terminal[:300])


# ---- the progress bar -----------------------------------------------------------


def test_resume_shows_a_bar_on_a_terminal_with_every_job_line_readable_above_it(psflow, tmp_path):
    _waiting_jobs(psflow, tmp_path, 4)
    (tmp_path / "go").touch()

    code, terminal, _ = _on_terminal(psflow, tmp_path, "resume")

    assert code == 0
    assert "psflow: resuming" in terminal and "4/4" in terminal  # the bar was drawn
    seen = _lines(terminal)
    for index in range(4):
        assert f"output of job-{index}" in seen  # the script's own output, on its own line
        assert any(line.startswith(f"psflow: job job-{index}: Completed — attempt 2") for line in seen), seen
    assert seen[-1] == "psflow: resumed 4 job(s) in Waiting: 4 Completed"
    assert not any("resuming" in line for line in seen)  # the bar is gone at the end


def test_output_of_programs_a_script_runs_goes_above_the_bar_too(psflow, tmp_path):
    (tmp_path / "shell.py").write_text(
        "import os, sys\n"
        "if job.attempt == 1:\n"
        "    stop('Waiting')\n"
        "os.system(f'echo shell says {job.id}; echo shell complains {job.id} >&2')\n"
        "print('python says', job.id, file=sys.stderr)\n"
    )
    for index in range(3):
        psflow("exec", "shell.py", "--job", f"sh-{index}")

    code, terminal, _ = _on_terminal(psflow, tmp_path, "resume")

    assert code == 0 and "psflow: resuming" in terminal
    seen = _lines(terminal)
    for index in range(3):
        for line in (f"shell says sh-{index}", f"shell complains sh-{index}", f"python says sh-{index}"):
            assert line in seen, seen
        # the job's own output comes before its line
        assert seen.index(f"python says sh-{index}") < next(
            number for number, line in enumerate(seen) if line.startswith(f"psflow: job sh-{index}:")
        )


def test_a_script_s_stdout_stays_in_its_pipe_while_the_bar_is_on_the_terminal(psflow, tmp_path):
    _waiting_jobs(psflow, tmp_path, 3)
    (tmp_path / "go").touch()

    code, terminal, piped = _on_terminal(psflow, tmp_path, "resume", stdout_tty=False)

    assert code == 0
    assert piped.splitlines() == [f"output of job-{index}" for index in range(3)]
    assert "output of" not in terminal and "psflow: resuming" in terminal


def test_the_bar_has_no_colours_with_no_color(psflow, tmp_path):
    _waiting_jobs(psflow, tmp_path, 3)
    (tmp_path / "go").touch()

    code, terminal, _ = _on_terminal(psflow, tmp_path, "resume", env={"NO_COLOR": "1"})

    assert code == 0
    assert "psflow: resuming" in terminal
    assert not STYLE.search(terminal)  # cursor movement only


@pytest.mark.parametrize("env", [{"CI": "true"}, {"TERM": "dumb"}], ids=["CI", "dumb-terminal"])
def test_no_bar_in_ci_or_on_a_dumb_terminal(psflow, tmp_path, env):
    _waiting_jobs(psflow, tmp_path, 3)
    (tmp_path / "go").touch()

    code, terminal, _ = _on_terminal(psflow, tmp_path, "resume", env=env)

    assert code == 0
    assert "resuming" not in terminal


def test_no_bar_for_a_couple_of_jobs_or_in_a_pipe(psflow, tmp_path):
    _waiting_jobs(psflow, tmp_path, 2)

    code, terminal, _ = _on_terminal(psflow, tmp_path, "resume")
    piped = psflow("resume")

    assert code == 0 and "resuming" not in terminal
    assert "\x1b" not in piped.stderr and "resuming" not in piped.stderr


def test_worker_shows_a_count_on_a_terminal(psflow, tmp_path):
    _waiting_jobs(psflow, tmp_path, 3)
    (tmp_path / "go").touch()

    code, terminal, _ = _on_terminal(psflow, tmp_path, "worker", "--once", "--concurrency", "2")

    assert code == 0
    assert "psflow: worker" in terminal and "3 done" in terminal
    # Worker processes write to the terminal while the bar redraws: under heavy load a redraw can
    # land between two of their writes, so this checks the text, not how the screen is laid out.
    assert len({f"psflow: job job-{index}" for index in range(3) if f"psflow: job job-{index}" in terminal}) == 3
    assert all(f"output of job-{index}" in terminal for index in range(3)), terminal
    assert "psflow: worker ran 3 job(s): 3 Completed" in terminal


# ---- shell completion -----------------------------------------------------------


@pytest.mark.parametrize(
    ("shell", "marker"), [("bash", "complete -o default -F _psflow_completion psflow"), ("zsh", "#compdef psflow")]
)
def test_show_completion_prints_the_script_for_a_named_shell(psflow, shell, marker):
    # Without detection (typer asks shellingham for the parent shell otherwise), the shell is the option's value.
    result = psflow("--show-completion", shell, env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"})

    assert result.returncode == 0, result.stderr
    assert marker in result.stdout


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("psflow wor", {"worker", "workflows"}),
        ("psflow resume --la", {"--latest"}),
        ("psflow workflows --j", {"--json"}),
    ],
)
def test_completion_answers_what_the_shell_asks(psflow, words, expected):
    env = {"_PSFLOW_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}

    result = psflow(env=env)

    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == expected


# ---- many jobs on one terminal: each line says whose it is ------------------------------------


def _two_jobs_that_print(psflow, write) -> None:
    write(
        "talk.py",
        """
        import subprocess, sys
        name = sys.argv[1]
        block "Talk":
            print(f"python says hi from {name}", flush=True)
            subprocess.run(["echo", f"a child says hi from {name}"])
        stop("Waiting") if len(sys.argv) > 2 else None
    """,
    )
    for name in ("p1", "p2"):
        assert psflow("exec", "talk.py", name, "again", "--job", name).returncode == 3


def test_parallel_jobs_on_a_terminal_prefix_each_line_with_the_job(psflow, write, tmp_path: Path) -> None:
    _two_jobs_that_print(psflow, write)

    code, terminal, _ = _on_terminal(psflow, tmp_path, "resume", "--parallel", "2", "--replay-output")

    assert code == 0
    lines = ESCAPE.sub("", terminal).replace("\r\n", "\n").splitlines()
    for name in ("p1", "p2"):
        assert f"[{name}] python says hi from {name}" in lines
        assert f"[{name}] a child says hi from {name}" in lines  # a child process's output too (the fd is prefixed)


def test_no_prefix_on_request_and_none_in_a_pipe(psflow, write, tmp_path: Path) -> None:
    _two_jobs_that_print(psflow, write)

    _, terminal, _ = _on_terminal(psflow, tmp_path, "resume", "--parallel", "2", "--replay-output", "--no-prefix")
    piped = psflow("resume", "--parallel", "2", "--replay-output")

    assert "python says hi from p1" in terminal and "[p1]" not in terminal
    assert "python says hi from p1" in piped.stdout and "[p1]" not in piped.stdout + piped.stderr
