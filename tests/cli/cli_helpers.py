"""Assertions shared by the CLI tests (imported by them: tests/cli is on sys.path)."""

from __future__ import annotations

import subprocess


def job_id_of(result: subprocess.CompletedProcess) -> str:
    """The job id from psflow's own summary line on stderr (`psflow: job ID: …`)."""
    for line in result.stderr.splitlines():
        if line.startswith("psflow: job "):
            return line.split()[2].rstrip(":")
    raise AssertionError(f"no job line in stderr:\n{result.stderr}")


def assert_clean_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit 2, every fragment in the message, nothing on stdout, no Python traceback."""
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    for fragment in fragments:
        assert fragment in result.stderr, f"{fragment!r} not in:\n{result.stderr}"
    assert "Traceback" not in output, output
    assert result.stdout == "", result.stdout
