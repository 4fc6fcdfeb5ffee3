"""The process a script runs in is put back after each attempt: a worker runs many jobs in turn."""

from __future__ import annotations

import os
import sys

from psflow.runtime.environment import script_environment


def test_the_environment_is_as_before_after_a_script_changed_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PSFLOW_TEST_KEPT", "1")
    monkeypatch.setenv("PSFLOW_TEST_CHANGED", "before")
    monkeypatch.setenv("PSFLOW_TEST_REMOVED", "x")
    monkeypatch.delenv("PSFLOW_JOB_ID", raising=False)
    before, argv, path, cwd = dict(os.environ), list(sys.argv), list(sys.path), os.getcwd()
    script = tmp_path / "s.py"
    with script_environment(str(script), ["a"], "job-1", cwd=str(tmp_path)) as module:
        assert os.environ["PSFLOW_JOB_ID"] == "job-1" and sys.argv == [str(script), "a"]
        assert sys.modules["__main__"] is module and os.getcwd() == str(tmp_path)
        os.environ["PSFLOW_TEST_ADDED"] = "new"
        os.environ["PSFLOW_TEST_CHANGED"] = "after"
        del os.environ["PSFLOW_TEST_REMOVED"]
    assert dict(os.environ) == before
    assert (sys.argv, sys.path, os.getcwd()) == (argv, path, cwd)
