"""The attempt's signal handlers: a lease lost as the attempt ends must not kill the process.

Each case runs in a child interpreter: getting it wrong kills that process with SIGUSR2."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_lease_lost_after_the_attempt_is_ignored() -> None:
    result = _run(
        """
        import signal, time
        from psflow.runtime.signals import ScriptSignals
        signals = ScriptSignals()
        with signals:
            pass
        signals.lose_lease("taken by another runner")
        signal.raise_signal(signal.SIGUSR2)  # even one already on its way
        time.sleep(0.1)
        print("alive")
        """
    )
    assert (result.returncode, result.stdout) == (0, "alive\n"), result.stderr


def test_a_lease_lost_while_the_script_runs_stops_it() -> None:
    result = _run(
        """
        import threading, time
        from psflow.runtime.signals import ScriptSignals
        from psflow.script.recorder import LeaseLost
        signals = ScriptSignals()
        try:
            with signals:
                threading.Timer(0.05, signals.lose_lease, ["taken by another runner"]).start()
                time.sleep(30)
        except LeaseLost as error:
            print("stopped:", error)
        """
    )
    assert (result.returncode, result.stdout) == (0, "stopped: taken by another runner\n"), result.stderr
