"""psflow.script.deadlines and `block(timeout=)` without psflow running the script (plain Python):
one SIGALRM timer for the nearest deadline, the handler that was there given back after."""

from __future__ import annotations

import re
import signal
import threading
import time
from datetime import timedelta

import pytest

from psflow import BlockTimeout, block
from psflow.errors import BlockArgumentError
from psflow.script import deadlines


def _previous(signum, frame) -> None:  # a handler the program had before
    raise AssertionError("the program's own SIGALRM handler must not run for a block's deadline")


@pytest.fixture(autouse=True)
def own_handler():
    signal.signal(signal.SIGALRM, _previous)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)


def test_a_block_under_plain_python_is_interrupted_when_its_time_runs_out() -> None:
    started = time.monotonic()
    limit = pytest.raises(BlockTimeout, match=r"^block 'Slow' ran out of its time limit \(0.2s\)$")
    with limit, block("Slow", timeout=timedelta(milliseconds=200)):
        time.sleep(30)
    assert time.monotonic() - started < 20
    assert signal.getsignal(signal.SIGALRM) is _previous and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_body_that_ends_in_time_leaves_no_timer() -> None:
    with block("Quick", timeout=5):
        pass
    assert signal.getsignal(signal.SIGALRM) is _previous and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_the_nearest_of_nested_deadlines_rings_first_and_the_other_stays_armed() -> None:
    outer, inner = object(), object()
    deadlines.arm(outer, "Outer", 60)
    deadlines.arm(inner, "Inner", 0.2)
    with pytest.raises(BlockTimeout) as raised:
        time.sleep(30)
    assert raised.value.name == "Inner"
    assert 0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 60  # Outer's time still runs
    deadlines.disarm(inner)  # already rung: nothing to do
    deadlines.disarm(outer)
    assert signal.getsignal(signal.SIGALRM) is _previous and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_block_timeout_is_not_an_exception_a_script_catches_by_accident() -> None:
    assert not issubclass(BlockTimeout, Exception)
    assert BlockTimeout("X", 1).__class__.__module__ == "psflow"  # tracebacks name psflow.BlockTimeout


@pytest.mark.parametrize(
    ("timeout", "message"),
    [
        (0, "block 'A': timeout needs more than 0 seconds, not 0"),
        (-1, "block 'A': timeout needs more than 0 seconds, not -1"),
        (timedelta(0), "block 'A': timeout needs more than 0 seconds, not datetime.timedelta(0)"),
        ("10m", "block 'A': timeout needs seconds or a timedelta, not str"),
        (float("inf"), "block 'A': timeout needs a duration of 0 or more seconds, not inf"),
        (float("nan"), "block 'A': timeout needs more than 0 seconds, not nan"),
    ],
)
def test_bad_timeouts_are_refused_when_the_block_is_made(timeout: object, message: str) -> None:
    with pytest.raises(BlockArgumentError, match=f"^{re.escape(message)}$"):
        block("A", timeout=timeout)


def test_a_timeout_outside_the_main_thread_interrupts_that_thread() -> None:
    caught: list[BaseException] = []
    ended: list[str] = []

    def body(spin: bool) -> None:
        try:
            with block(f"Threaded-{spin}", timeout=0.05):
                for _ in range(6000 if spin else 0):  # 60 s at most: the limit ends it between two sleeps
                    time.sleep(0.01)
            ended.append(f"Threaded-{spin}")
        except BlockTimeout as error:
            caught.append(error)

    threads = [threading.Thread(target=body, args=(spin,)) for spin in (True, False)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [str(error) for error in caught] == ["block 'Threaded-True' ran out of its time limit (0.05s)"]
    assert ended == ["Threaded-False"]  # a body that ended in time is not interrupted later
    assert not deadlines._threads
