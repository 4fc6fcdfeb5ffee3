"""What a terminal shows is what was stored, escaped: block names, reasons, arguments, inputs,
script paths and captured output never reach a terminal as control sequences or rich markup.

Control characters are shown as Python escapes (`\\x1b`, `\\r`, `\\u202e`); `psflow logs` keeps
the output's newlines and tabs (and with `--raw` prints it exactly as stored); `--json` is exact.
Each command is run in a pipe and on a real pseudo-terminal (support.terminal).
"""

from __future__ import annotations

import json

import pytest

from support.cli import job_id_of
from support.terminal import STYLE, on_terminal

pytest.importorskip("pty")

CLEAR = "\x1b[2J"  # clears the screen when interpreted
LINK = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"  # an OSC 8 hyperlink
MARKUP = "[bold red]loud[/]"  # rich markup: must print as these very characters
SCRIPT = "flow\x1b[2J.py"  # a file name may hold an escape sequence too

HOSTILE = r"""
folder = "/srv/data"
with block(f"backup [{folder}]"):  # rich markup that does not parse: MarkupError today
    print("\x1b[31mred\x1b[0m and\ttab\rback")
with block("clear\x1b[2J"):
    pass
with block("link \x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"):
    pass
with block("[bold red]loud[/]"):
    pass
with block("\u202eright-to-left"):
    pass
stop("Waiting", reason="why\x1b[2J\r\nnot")
"""


@pytest.fixture
def hostile_job(psflow, tmp_path) -> str:
    """A Waiting job whose names, reason, argument, input and output are hostile; its id."""
    (tmp_path / SCRIPT).write_text(HOSTILE)
    ran = psflow("exec", SCRIPT, f"arg{CLEAR}")
    assert ran.returncode == 3, ran.stderr
    job_id = job_id_of(ran)
    assert psflow("send", job_id, f"note=hi{CLEAR}").returncode == 0
    return job_id


def _visible_escapes(text: str) -> None:
    """Every hostile string is there, escaped; none is there as a control sequence."""
    assert "\x1b" not in text and "\u202e" not in text, repr(text)
    assert "\\x1b[2J" in text


@pytest.mark.parametrize("command", [("jobs",), ("job", "{id}"), ("logs", "{id}"), ("workflows",)], ids=lambda c: c[0])
def test_stored_strings_are_escaped_in_a_pipe(psflow, hostile_job, command):
    psflow("register", "hostile", SCRIPT)

    result = psflow(*(part.format(id=hostile_job) for part in command))

    assert result.returncode == 0, result.stderr
    _visible_escapes(result.stdout + result.stderr)


def test_job_shows_every_hostile_string_literally(psflow, hostile_job):
    shown = psflow("job", hostile_job).stdout

    for text in (
        "backup [/srv/data]",
        MARKUP,
        "clear\\x1b[2J",
        "\\u202eright-to-left",
        "arg\\x1b[2J",
        "why\\x1b[2J\\r\\nnot",
        '"hi\\u001b[2J"',
        "link \\x1b]8;;https://evil.example/\\x1b\\click",
    ):
        assert text in shown, (text, shown)


def test_logs_keep_newlines_and_tabs_and_show_other_control_characters(psflow, hostile_job):
    shown = psflow("logs", hostile_job).stdout

    assert "\\x1b[31mred\\x1b[0m and\ttab\\rback\n" in shown
    assert "==> backup [/srv/data] (attempt 1" in shown


def test_logs_raw_prints_the_output_as_stored_but_still_escapes_the_header(psflow, hostile_job):
    shown = psflow("logs", hostile_job, "--raw").stdout  # (text mode reads its "\r" as a line break)

    assert "\x1b[31mred\x1b[0m and\ttab\nback\n" in shown
    assert "==> clear\\x1b[2J (attempt 1" in shown


def test_json_stays_exact(psflow, hostile_job, job_detail):
    detail = job_detail(hostile_job)
    runs = json.loads(psflow("logs", hostile_job, "--json").stdout)

    assert [block["name"] for block in detail["blocks"]][:2] == ["backup [/srv/data]", f"clear{CLEAR}"]
    assert detail["reason"] == f"why{CLEAR}\r\nnot" and detail["args"] == [f"arg{CLEAR}"]
    assert runs[0]["output"] == "\x1b[31mred\x1b[0m and\ttab\rback\n"


def test_psflows_own_messages_escape_what_they_quote(psflow, tmp_path):
    (tmp_path / SCRIPT).write_text(HOSTILE)

    ran = psflow("exec", SCRIPT)

    assert ran.returncode == 3
    assert "(why\\x1b[2J\\r\\nnot)" in ran.stderr and "\x1b" not in ran.stderr


@pytest.mark.parametrize(
    "command",
    [("jobs",), ("job", "{id}"), ("logs", "{id}"), ("workflows",), ("check", SCRIPT), ("resume", "--dry-run")],
    ids=lambda c: "-".join(c).replace("{id}", "ID").replace(SCRIPT, "SCRIPT"),
)
def test_a_terminal_gets_no_control_sequence_and_no_markup(psflow, hostile_job, tmp_path, command):
    psflow("register", "hostile", SCRIPT)

    code, terminal, _ = on_terminal(psflow.db_url, tmp_path, *(part.format(id=hostile_job) for part in command))

    assert code == 0, terminal
    plain = STYLE.sub("", terminal)  # rich's own colours and bold, and nothing else
    assert "\x1b" not in plain and "\u202e" not in plain, repr(plain)
    if command[0] in ("job", "logs", "resume"):
        assert "backup [/srv/data]" in plain  # printed, not taken for markup (nor a crash)
    if command[0] == "check":
        assert 'f"backup [{folder}]"' in plain  # a computed name: its expression
    if command[0] in ("job", "resume"):
        assert MARKUP in plain and "clear\\x1b[2J" in plain


def test_logs_on_a_terminal_escape_colour_codes_unless_raw(psflow, hostile_job, tmp_path):
    _, escaped, _ = on_terminal(psflow.db_url, tmp_path, "logs", hostile_job)
    _, raw, _ = on_terminal(psflow.db_url, tmp_path, "logs", hostile_job, "--raw")

    assert "\\x1b[31mred" in STYLE.sub("", escaped)
    assert "\x1b[31mred\x1b[0m" in raw
