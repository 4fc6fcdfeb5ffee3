"""Ambiguous commits on PostgreSQL: the connection is lost after the server committed a statement,
before psflow heard so. psflow tries the whole call again on a new connection; that later try must
find what the first one wrote, neither writing it twice nor taking its own write for another's.

Each test drives the real command through a proxy that cuts the connection exactly there
(support.cutting_proxy). Before, a block was recorded twice (and a retried block's next try then
read as a lost lease), `exec` and `resume` took a job and then skipped it as held by their own
process, `exec` stopped on the attempt's duplicate key, an attempt that ended was reported lost, a
cancel or removal that was done said nothing had changed, and an input was stored twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from psflow import api
from support.cli import run
from support.cutting_proxy import CuttingProxy

BLOCK_RECORD = 'INSERT INTO "psflow_block"'
ATTEMPT_BEGINS = 'INSERT INTO "psflow_attempt"'  # with the claim's UPDATE, in one statement, for resume
ATTEMPT_ENDS = 'UPDATE "psflow_attempt"'

FIVE = """
for i in range(5):
    with block(f"b{i}"):
        print("ran", i)
"""

STOPS = """
with block("Once"):
    print("once")
if job.attempt == 1:
    stop("Waiting")
"""

APPROVAL = """
approved = wait_for("approval")
with block("Go"):
    print("approved by", approved)
"""


@pytest.fixture
def cut(postgres_server, postgres_database) -> Iterator[Callable[..., tuple[str, CuttingProxy]]]:
    """cut(pattern, skip=0): this test's database reached through a proxy that loses the answer to the
    (skip+1)-th committed statement matching `pattern`; its URL, and the proxy."""
    proxies: list[CuttingProxy] = []

    def cut(pattern: str, skip: int = 0) -> tuple[str, CuttingProxy]:
        proxies.append(CuttingProxy(postgres_server.port, pattern, skip=skip))
        return proxies[-1].url(postgres_database), proxies[-1]

    yield cut
    for proxy in proxies:
        proxy.close()


def _detail(url: str, job_id: str) -> dict:
    return json.loads(json.dumps(api.job_detail(job_id, db=url)))


def _runs(url: str, job_id: str) -> list[tuple[str, str, int]]:
    return [(run["name"], run["status"], run["attempt"]) for run in _detail(url, job_id)["runs"]]


def _lost_then_done(result, proxy: CuttingProxy, code: int = 0) -> None:
    """The command met the lost answer, said so once, and ended as if it had heard it."""
    assert proxy.cut is not None, "the proxy never cut: the test did not test anything"
    assert result.returncode == code, result.stderr
    assert "unreachable" in result.stderr and "trying again" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "error" not in result.stderr, result.stderr


def test_a_block_record_committed_unheard_is_recorded_once(cut, postgres_database, tmp_path: Path):
    (tmp_path / "five.py").write_text(FIVE)
    url, proxy = cut(BLOCK_RECORD, skip=2)

    result = run(url, tmp_path, "exec", "five.py", "--job", "five")

    _lost_then_done(result, proxy)
    assert _runs(postgres_database, "five") == [(f"b{i}", "Completed", 1) for i in range(5)]
    assert result.stdout.count("ran 2") == 1


def test_a_retried_blocks_first_try_committed_unheard_is_updated_by_its_next_try(
    cut, postgres_database, tmp_path: Path
):
    (tmp_path / "flaky.py").write_text(
        "from pathlib import Path\n"
        'with block("Flaky", retries=1):\n'
        '    if not Path("tried").exists():\n'
        '        Path("tried").touch()\n'
        '        raise RuntimeError("the first try fails")\n'
        'with block("After"):\n'
        "    pass\n"
    )
    url, proxy = cut("'Retrying'")

    result = run(url, tmp_path, "exec", "flaky.py", "--job", "flaky")

    _lost_then_done(result, proxy)
    runs = _detail(postgres_database, "flaky")["runs"]
    assert [(run["name"], run["status"], run["tries"]) for run in runs] == [
        ("Flaky", "Completed", 2),
        ("After", "Completed", 1),
    ]


@pytest.mark.parametrize("lost", ['INSERT INTO "psflow_job"', ATTEMPT_BEGINS], ids=["job", "attempt"])
def test_exec_whose_new_job_or_attempt_committed_unheard_runs_it(cut, postgres_database, tmp_path: Path, lost):
    (tmp_path / "five.py").write_text(FIVE)
    url, proxy = cut(lost)

    result = run(url, tmp_path, "exec", "five.py", "--job", "new")

    _lost_then_done(result, proxy)
    assert "skipped" not in result.stderr
    assert _detail(postgres_database, "new")["status"] == "Completed"
    assert [attempt["number"] for attempt in _detail(postgres_database, "new")["attempt_history"]] == [1]


def test_an_attempt_end_committed_unheard_is_reported_as_it_ended(cut, postgres_database, tmp_path: Path):
    (tmp_path / "stops.py").write_text(STOPS)
    url, proxy = cut(ATTEMPT_ENDS)

    result = run(url, tmp_path, "exec", "stops.py", "--job", "ends")

    _lost_then_done(result, proxy, code=3)
    assert "lost" not in result.stderr
    assert _detail(postgres_database, "ends")["status"] == "Waiting"


def test_resume_whose_claim_committed_unheard_runs_the_job(cut, postgres_database, tmp_path: Path):
    (tmp_path / "stops.py").write_text(STOPS)
    assert api.run(tmp_path / "stops.py", job_id="claimed", db=postgres_database).status == "Waiting"
    url, proxy = cut(ATTEMPT_BEGINS)

    result = run(url, tmp_path, "resume", "--job", "claimed")

    _lost_then_done(result, proxy)
    assert "skipped" not in result.stderr
    detail = _detail(postgres_database, "claimed")
    assert (detail["status"], detail["attempts"]) == ("Completed", 2)


@pytest.mark.parametrize(
    ("command", "lost", "status"),
    [
        (("cancel", "held"), "'Cancelled'", "Cancelled"),
        (("send", "held", "approval=alice"), 'INSERT INTO "psflow_signal"', "Waiting"),
        (("rm", "held"), 'DELETE FROM "psflow_job"', None),
    ],
    ids=["cancel", "send", "rm"],
)
def test_a_change_committed_unheard_is_reported_done_and_made_once(
    cut, postgres_database, tmp_path: Path, command, lost, status
):
    (tmp_path / "approval.py").write_text(APPROVAL)
    assert api.run(tmp_path / "approval.py", job_id="held", db=postgres_database).status == "Waiting"
    url, proxy = cut(lost)

    result = run(url, tmp_path, *command)

    _lost_then_done(result, proxy)
    with api.connect(postgres_database) as store:
        job = store.get_job("held")
        assert (job.status if job is not None else None) == status
        if command[0] == "send":
            assert [(sent.name, sent.value) for sent in store.inputs("held")] == [("approval", '"alice"')]


def test_a_rerun_committed_unheard_is_reported_done(cut, postgres_database, tmp_path: Path):
    (tmp_path / "stops.py").write_text(STOPS)
    assert api.run(tmp_path / "stops.py", job_id="again", db=postgres_database).status == "Waiting"
    url, proxy = cut("'Rerun'")

    result = run(url, tmp_path, "rerun", "again", "--from", "Once")

    _lost_then_done(result, proxy)
    assert _runs(postgres_database, "again") == [("Once", "Rerun", 1)]


def test_a_retry_committed_unheard_is_reported_done(cut, postgres_database, tmp_path: Path):
    (tmp_path / "fails.py").write_text('raise RuntimeError("not yet")\n')
    assert api.run(tmp_path / "fails.py", job_id="failed", db=postgres_database).status == "Failed"
    url, proxy = cut("'retry after: ")

    result = run(url, tmp_path, "retry", "failed")

    _lost_then_done(result, proxy)
    assert _detail(postgres_database, "failed")["status"] == "Waiting"


def test_a_cancel_of_children_committed_unheard_goes_on_down_to_their_children(cut, postgres_database, tmp_path: Path):
    """The retry found no child left to cancel, and stopped there: the grandchildren went on."""
    (tmp_path / "parent.py").write_text('wait_jobs([start("mid.py")])\n')
    (tmp_path / "mid.py").write_text('wait_jobs([start("leaf.py")])\n')
    (tmp_path / "leaf.py").write_text('stop("Waiting")\n')
    assert run(postgres_database, tmp_path, "exec", "parent.py", "--job", "P").returncode == 3
    for _ in range(2):  # the child, then the grandchild
        assert run(postgres_database, tmp_path, "worker", "--once").returncode == 0
    url, proxy = cut(r"""UPDATE "psflow_attempt".*IN \('P\.1'\)""")

    result = run(url, tmp_path, "cancel", "P")

    _lost_then_done(result, proxy)
    with api.connect(postgres_database) as store:
        assert {job.id: job.status for job in store.list_jobs()} == dict.fromkeys(("P", "P.1", "P.1.1"), "Cancelled")


def test_a_prune_committed_unheard_counts_what_it_deleted(cut, postgres_database, tmp_path: Path):
    (tmp_path / "five.py").write_text(FIVE)
    for job_id in ("old1", "old2"):
        assert run(postgres_database, tmp_path, "exec", "five.py", "--job", job_id).returncode == 0
    url, proxy = cut('DELETE FROM "psflow_job"')

    result = run(url, tmp_path, "prune", "--older-than", "0s", "--status", "Completed")

    _lost_then_done(result, proxy)
    assert "deleted 2 job(s)" in result.stderr, result.stderr


def test_a_workflow_registered_unheard_is_reported_registered(cut, postgres_database, tmp_path: Path):
    (tmp_path / "five.py").write_text(FIVE)
    url, proxy = cut('INSERT INTO "psflow_workflow"')

    result = run(url, tmp_path, "register", "nightly", "five.py")

    _lost_then_done(result, proxy)
    assert "already has this source" not in result.stderr and "v1" in result.stderr, result.stderr
