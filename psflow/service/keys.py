"""`psflow key`: show, create, export and import the deployment key, and sign rows an admin vouches for."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from psflow import signing
from psflow.errors import UsageError
from psflow.service import trust
from psflow.service.setup import DeploymentKey
from psflow.store import JobView, Store


def describe() -> dict[str, Any]:
    """This server's key: its id, whether the private half is here, the folder and the public key line."""
    folder = signing.keys_folder()
    public = signing.current_public(folder)
    return {
        "key_id": public.key_id if public else None,
        "private": signing.own_signer(folder) is not None,
        "folder": str(folder),
        "public": public.line() if public else None,
    }


def create() -> DeploymentKey:
    folder = signing.keys_folder()
    return DeploymentKey(signing.create_key(folder).public.key_id, str(folder), True, "created")


def export(*, private: bool = False) -> str:
    """The public key line, or with `private` the private key PEM."""
    if private:
        return signing.signer(create=False).pem().decode()
    return signing.public_key().line() + "\n"


def sign_jobs(store: Store, job_ids: list[str]) -> list[JobView]:
    """Sign each job as it is now; a job from before psflow kept its folder gets this process's folder."""
    key = signing.signer(create=False)
    jobs = [store.find_job(job_id) for job_id in job_ids]  # an unknown id stops here, before anything is signed
    signed = []
    for job in jobs:
        vouched = replace(job, cwd=job.cwd or str(Path.cwd()))
        signature = trust.sign_job(key, vouched, store.job_source(job.id) or "")
        if not store.sign_job(job, signature, cwd=vouched.cwd or ""):
            raise UsageError(f"job {job.id} changed while it was being signed: look at it again, then sign it")
        signed.append(replace(vouched, signature=signature))
    return signed


def sign_workflows(store: Store, names: list[str]) -> list[tuple[str, list[int]]]:
    """Sign every version of each workflow as it is now; (name, versions) for each."""
    key = signing.signer(create=False)
    found = [(name, store.workflow_versions(name)) for name in names]
    for name, versions in found:
        if not versions:
            raise UsageError(f"no workflow named {name!r} is registered: `psflow workflows` lists them")
    for name, versions in found:
        for version in versions:
            workflow = store.workflow(name, version.version)
            assert workflow is not None
            signature = trust.sign_workflow(key, name, workflow.version, workflow.source or "")
            store.sign_workflow(name, workflow.version, signature)
    return [(name, [version.version for version in versions]) for name, versions in found]
