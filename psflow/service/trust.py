"""What is signed, and the check before anything from the database runs.

A job is signed when it is created: its id, script path, the hash of the source it was
created with and of the snapshot stored with it, its arguments, the names of the
environment variables it needs, its working folder and its workflow version. A workflow
version is signed when it is registered: its name, version and source. Every server
verifies before it runs (psflow.service.running); a row changed afterwards, a row without
a signature and a row signed by another key are refused with UntrustedError, and nothing
runs. The bytes signed are canonical JSON, so any server computes the same.
"""

from __future__ import annotations

import hashlib
import json

from psflow.signing import PublicKey, Signer, public_key, signer
from psflow.store import JobView, Store, WorkflowView


def job_payload(job: JobView, source: str) -> bytes:
    """The bytes a job's signature covers; `source` is the snapshot stored with it."""
    return _canonical(
        {
            "kind": "psflow-job",
            "id": job.id,
            "script": job.script,
            "source_sha256": job.source_sha256,
            "snapshot_sha256": _sha256(source),
            "args": list(job.args),
            "env": list(job.env),
            "cwd": job.cwd,
            "workflow": job.workflow,
            "workflow_version": job.workflow_version,
        }
    )


def workflow_payload(name: str, version: int, source: str) -> bytes:
    """The bytes a workflow version's signature covers."""
    return _canonical({"kind": "psflow-workflow", "name": name, "version": version, "source_sha256": _sha256(source)})


def sign_job(key: Signer, job: JobView, source: str) -> str:
    return key.sign(job_payload(job, source))


def sign_workflow(key: Signer, name: str, version: int, source: str) -> str:
    return key.sign(workflow_payload(name, version, source))


def verified_job(store: Store, job: JobView, key: PublicKey | None = None, *, snapshot: str | None = None) -> str:
    """The job's stored snapshot once its signature holds (what it runs is what its creator signed);
    `snapshot`: as read with `job` (Store.job_and_source), else it is read now."""
    source = snapshot if snapshot is not None else store.job_source(job.id) or ""
    (key or public_key()).verify(
        job_payload(job, source), job.signature, what=f"job {job.id}", vouch=f"psflow key sign --job {job.id}"
    )
    return source


def verified_workflow(workflow: WorkflowView, key: PublicKey | None = None) -> str:
    """The workflow version's source once its signature holds."""
    source = workflow.source or ""
    payload = workflow_payload(workflow.name, workflow.version, source)
    what = f"workflow {workflow.name} v{workflow.version}"
    (key or public_key()).verify(
        payload, workflow.signature, what=what, vouch=f"psflow key sign --workflow {workflow.name}"
    )
    return source


def job_signer() -> Signer:
    """The key new jobs and workflow versions are signed with; made on first use when this server has none."""
    return signer(create=True)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _canonical(data: dict[str, object]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
