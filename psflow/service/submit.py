"""`psflow submit`: a job created as `psflow exec` creates it, left Queued for a worker of its queue.

Same source snapshot, signature, workflow resolution, --env and id rules as exec
(psflow.service.running.create_job); nothing runs here. A given --job id is an
idempotency key: submitting the same script (or workflow) with the same arguments to the
same queue again submits nothing and names the job that exists; anything else under
that id is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from psflow.errors import UsageError
from psflow.loading import LoadedScript, load_source
from psflow.service import trust
from psflow.service.exec_requests import Announce, ExecRequest, announce_warnings, new_job_id, registered_workflow
from psflow.service.queues import check_priority, check_queue_name
from psflow.service.running import create_job
from psflow.service.sources import workflow_label
from psflow.store import JobView, Store, WorkflowView
from psflow.store.tables import DEFAULT_QUEUE


@dataclass(frozen=True)
class Submitted:
    job: JobView
    created: bool  # False: the --job id names a job of the same submission already; nothing new


def submit(
    store: Store,
    request: ExecRequest,
    args: Iterable[str] = (),
    *,
    queue: str = DEFAULT_QUEUE,
    priority: int = 0,
    announce: Announce | None = None,
) -> Submitted:
    """Create the job `request` names (a script, or a registered workflow's newest version), Queued."""
    check_queue_name(queue)
    check_priority(priority)
    args = list(args)
    workflow: WorkflowView | None = None
    if request.workflow is not None:
        workflow = registered_workflow(store, request.workflow)
        loaded = load_source(workflow_label(workflow.name, workflow.version), trust.verified_workflow(workflow))
    else:
        assert request.loaded is not None
        loaded = request.loaded
    announce_warnings(loaded, announce)
    if request.job_id is not None and (existing := store.get_job(request.job_id)) is not None:
        return Submitted(_same_submission(existing, loaded, workflow, args, queue), created=False)
    job_id = request.job_id or new_job_id()
    created = create_job(
        store, job_id, loaded, args, None, workflow=workflow, env=request.env, queue=queue, priority=priority
    )
    if created is None:  # someone created it a moment ago
        existing = store.get_job(job_id)
        if existing is None:
            raise UsageError(f"job {job_id} was created and deleted meanwhile: submit it again")
        return Submitted(_same_submission(existing, loaded, workflow, args, queue), created=False)
    return Submitted(created, created=True)


def _same_submission(
    job: JobView, loaded: LoadedScript, workflow: WorkflowView | None, args: list[str], queue: str
) -> JobView:
    """`job`, if it is what this submit would have made (same script or workflow, arguments, queue)."""
    if workflow is not None:
        same, what = job.workflow == workflow.name, f"workflow {workflow.name}"
    else:
        same, what = job.workflow is None and Path(job.script).name == loaded.path.name, str(loaded.path)
    if not same:
        raise UsageError(f"job {job.id} exists already and runs {job.script}, not {what}: choose another --job id")
    if list(job.args) != args:
        raise UsageError(
            f"job {job.id} exists already with arguments {list(job.args)}, not {args}: choose another --job id"
        )
    if job.queue != queue:
        raise UsageError(f"job {job.id} exists already in queue {job.queue}, not {queue}: choose another --job id")
    return job
