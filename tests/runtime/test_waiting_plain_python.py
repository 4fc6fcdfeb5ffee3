"""wait_for, sleep and sleep_until in a script run by plain `python`, without psflow or a database."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

SCRIPT = """
    from datetime import datetime, timedelta
    from psflow import block, sleep, sleep_until, wait_for

    with block("Step1"):
        rows = 3
    approval = wait_for("deploy-ok")
    sleep(0.2)
    sleep(timedelta(seconds=0.1))
    sleep_until(datetime.now() + timedelta(seconds=0.1))
    sleep_until(datetime(2000, 1, 1))
    print("approval", repr(approval), "rows", rows)
"""


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    script = tmp_path / "plain.py"
    script.write_text(textwrap.dedent(SCRIPT))
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PSFLOW_")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60
    )


def test_without_the_input_the_script_stops_like_stop_does(tmp_path: Path) -> None:
    result = _run(tmp_path)

    assert result.returncode == 3
    assert result.stdout == ""
    assert result.stderr == "stopped: Waiting (waiting for deploy-ok; set PSFLOW_INPUT_DEPLOY_OK to give it)\n"


def test_the_input_comes_from_the_environment_and_sleeps_really_sleep(tmp_path: Path) -> None:
    started = time.monotonic()
    as_json = _run(tmp_path, PSFLOW_INPUT_DEPLOY_OK='{"by": "alice"}')
    as_text = _run(tmp_path, PSFLOW_INPUT_DEPLOY_OK="alice")

    assert as_json.returncode == 0, as_json.stderr
    assert as_json.stdout == "approval {'by': 'alice'} rows 3\n"
    assert as_text.stdout == "approval 'alice' rows 3\n"
    assert time.monotonic() - started >= 2 * 0.4
