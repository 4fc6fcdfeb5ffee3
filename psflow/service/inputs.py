"""Input for waiting jobs: `psflow send JOB NAME=VALUE`, read by the job's `wait_for(NAME)`."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from psflow import codec
from psflow.domain import FINAL_STATUSES, user_name
from psflow.errors import UsageError
from psflow.script import inputs
from psflow.store import Store


@dataclass(frozen=True)
class SendResult:
    """Input stored for one job."""

    job_id: str
    status: str
    names: list[str]
    received: float
    already_read: dict[str, int]  # names the job read before (wait_for keeps that value): attempt


def parse_inputs(assignments: Iterable[str] = (), json_text: str | None = None) -> dict[str, Any]:
    """Inputs as people type them: `name=value` (JSON if it parses, else text) and a JSON object."""
    given = inputs.parse_assignments(assignments)
    if json_text is not None:
        given = inputs.merge(given, inputs.parse_json_object(json_text))
    if not given:
        raise UsageError("nothing to send: give NAME=VALUE (for example approval=yes) or --json '{\"NAME\": VALUE}'")
    return given


def send(store: Store, job_ids: str | Iterable[str], values: dict[str, Any]) -> list[SendResult]:
    """Store input `values` ({name: value}) for the jobs (ids or unique prefixes), for `wait_for` to read.

    All or nothing: every job must exist and not be Completed or Cancelled. The
    jobs are not run; `resume` (or a worker) runs them next.
    """
    encoded = encode_inputs(values)
    named = [store.find_job(job_id) for job_id in ([job_ids] if isinstance(job_ids, str) else job_ids)]
    found = list({job.id: job for job in named}.values())
    for job in found:
        if job.status in FINAL_STATUSES:
            raise UsageError(f"job {job.id} is {job.status}: it takes no more input")
    received = store.add_inputs([job.id for job in found], encoded, host=socket.gethostname(), user=user_name())
    results = []
    for job in found:
        read = store.completed_wait_names(job.id)
        already = {name: read[name] for name in encoded if name in read}
        results.append(SendResult(job.id, job.status, list(encoded), received, already))
    return results


def encode_inputs(values: dict[str, Any]) -> dict[str, str]:
    """Each input checked and encoded for the database (nothing is stored if one cannot be)."""
    if not values:
        raise UsageError("nothing to send")
    encoded = {}
    for name, value in values.items():
        try:
            encoded[inputs.check_name(name)] = codec.encode(value)
        except codec.UnsupportedValue as error:
            raise UsageError(f"input {name!r} cannot be stored: {error}") from None
    return encoded
