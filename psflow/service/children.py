"""Creating the child jobs a script's `start()` begins, as `psflow exec` creates a job: signed.

A child is a job like any other: its script's source is stored and signed (or it runs a
registered workflow's version, whose own signature covers the source), it is created Queued
and due at once, for any worker on any server. Creating it needs the deployment's private key,
as creating any job does: a server holding only the public key cannot sign it, and the
parent's start() fails with a one-line error that says so (nothing is created).
"""

from __future__ import annotations

from pathlib import Path

from psflow.errors import DeploymentKeyError, ScriptError, StartError
from psflow.loading import LoadedScript, load_script, load_source
from psflow.service import trust
from psflow.service.sources import workflow_label
from psflow.signing import Signer
from psflow.store import JobView, Store, WorkflowView
from psflow.transform import TransformError

WORKFLOW_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


class ChildStarter:
    """Creates the children of one parent job's attempt (psflow.runtime.waits.ChildStarter)."""

    def __init__(self, store: Store, parent: JobView, cwd: str, number: int) -> None:
        self.store, self.parent, self.cwd, self.number = store, parent, cwd, number  # `number`: the attempt
        # One attempt often starts many children of one script: it is read, compiled and found once.
        self._resolved: dict[str, tuple[LoadedScript, WorkflowView | None]] = {}
        self._key: Signer | None = None

    def __call__(self, parent_id: str, child_id: str, target: str, args: list[str], queue: str | None) -> None:
        """Create the child; if its id is taken (an earlier attempt made it, or another job has it), reuse
        it when it is this parent's child for the same script and arguments, else StartError. Created
        only while the attempt holds the parent (NotOwned otherwise: psflow.store.jobs)."""
        if target not in self._resolved:
            self._resolved[target] = self._resolve(target)
        loaded, workflow = self._resolved[target]
        try:
            key = self._key = self._key or trust.job_signer()
        except DeploymentKeyError as error:
            existing = self.store.get_job(child_id)  # made by an earlier attempt: nothing to sign
            if existing is not None:
                self._check_reuse(existing, target, args)
                return
            raise StartError(f"start({target!r}): cannot sign child job {child_id}: {error}") from None
        created = self.store.create_job(
            child_id,
            name=workflow.name if workflow is not None else loaded.path.stem,
            script=str(loaded.path),
            source=loaded.source,
            source_sha256=loaded.sha256,
            args=args,
            runner=None,
            cwd=self.cwd,
            workflow=workflow.name if workflow is not None else None,
            workflow_version=workflow.version if workflow is not None else None,
            env=self.parent.env,
            sign=lambda job, source: trust.sign_job(key, job, source),
            parent=parent_id,
            parent_attempt=self.number,
            queue=queue,
        )
        if created is None:  # created before (by this parent's earlier attempt, or by another job)
            existing = self.store.get_job(child_id)
            if existing is None:
                raise StartError(f"start({target!r}): job {child_id} was created and removed meanwhile: run it again")
            self._check_reuse(existing, target, args)

    def _resolve(self, target: str) -> tuple[LoadedScript, WorkflowView | None]:
        """The script file `target` names (relative to the parent script's folder), else the newest
        version of the registered workflow of that name."""
        path = Path(target)
        if not path.is_absolute():
            path = self._folder() / path
        if path.is_file():
            try:
                return load_script(path), None
            except TransformError as error:
                first = error.diagnostics[0].format().splitlines()[0] if error.diagnostics else str(error)
                raise StartError(f"start({target!r}): the child's script does not compile: {first}") from None
            except ScriptError as error:
                raise StartError(f"start({target!r}): {error}") from None
        workflow = self.store.workflow(target) if set(target) <= WORKFLOW_NAME_CHARS else None
        if workflow is None:
            raise StartError(
                f"start({target!r}): script not found: {path}, and no workflow named {target!r} is registered; "
                "fix: give a script's path (relative to the parent script's folder) or a name `psflow workflows` lists"
            )
        loaded = load_source(workflow_label(workflow.name, workflow.version), trust.verified_workflow(workflow))
        return loaded, workflow

    def _folder(self) -> Path:
        """Where a child's relative script path starts: the parent script's folder (a workflow's: the
        folder the parent runs in)."""
        script = Path(self.parent.script)
        if self.parent.workflow is None and script.is_absolute():
            return script.parent
        return Path(self.cwd)

    def _check_reuse(self, existing: JobView, target: str, args: list[str]) -> None:
        """A job with the child's id exists: fine if this parent started it for the same script (or
        workflow) and arguments (an earlier attempt did, or the same job_id given again)."""
        same_target = existing.workflow == target or Path(existing.script).name == Path(target).name
        if existing.parent == self.parent.id and same_target and list(existing.args) == args:
            return
        whose = f"job {existing.parent}'s child" if existing.parent else "not a child job"
        raise StartError(
            f"start({target!r}): job id {existing.id} is taken by another job ({whose}, running "
            f"{existing.workflow or existing.script} {list(existing.args)}); fix: choose another job_id"
        )
