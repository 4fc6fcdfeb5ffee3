"""The deployment key and the check before anything from the database runs (psflow.signing,
psflow.service.trust), in this process."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from psflow.errors import DeploymentKeyError, UntrustedError
from psflow.service import trust
from psflow.signing import (
    PRIVATE_FILE,
    PUBLIC_FILE,
    create_key,
    current_public,
    import_key,
    own_signer,
    public_key,
    read_key_file,
    signer,
)
from psflow.store import JobView

JOB = JobView(
    id="job-1",
    name="flow",
    script="/srv/flow.py",
    source_sha256="a" * 64,
    args=("--day", "1"),
    status="Waiting",
    reason=None,
    created_at=0.0,
    updated_at=0.0,
    owner_host=None,
    owner_pid=None,
    owner_started=None,
    lease_until=None,
    attempts=1,
    due_at=0.0,
    waits_for=None,
    waiting_since=None,
    workflow=None,
    workflow_version=None,
    cwd="/srv",
    env=("TOKEN",),
)


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    return tmp_path / "keys"


def test_a_new_key_is_private_to_its_owner_and_verifies_what_it_signs(keys: Path) -> None:
    made = create_key(keys)
    signature = made.sign(b"payload")

    public_key(keys).verify(b"payload", signature, what="it", vouch="sign it")
    assert stat.S_IMODE(os.stat(keys / PRIVATE_FILE).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(keys).st_mode) == 0o700
    assert public_key(keys) == made.public and signature.startswith(f"ed25519:{made.public.key_id}:")


@pytest.mark.parametrize(
    ("signature", "says"),
    [
        (None, "refused to run it: it has no signature; fix: check what it runs, then `sign it`"),
        ("", "it has no signature"),
        ("rsa:1234", "its signature is malformed"),
        ("ed25519:0123456789abcdef:AAAA", "it is signed by key 0123456789abcdef, this server trusts key"),
        ("ed25519:{id}:not base64!", "its signature does not match what the database holds now"),
        ("ed25519:{id}:" + "A" * 88, "its signature does not match what the database holds now"),
    ],
)
def test_every_bad_signature_is_refused_saying_why(keys: Path, signature: str | None, says: str) -> None:
    key = create_key(keys).public
    given = signature.format(id=key.key_id) if signature else signature

    with pytest.raises(UntrustedError, match=None) as refused:
        key.verify(b"payload", given, what="it", vouch="sign it")

    assert says in str(refused.value) and refused.value.exit_code == 4


def test_a_signature_holds_for_its_payload_only(keys: Path) -> None:
    made = create_key(keys)

    with pytest.raises(UntrustedError, match="does not match"):
        made.public.verify(b"payload!", made.sign(b"payload"), what="it", vouch="sign it")


@pytest.mark.parametrize(
    "change",
    [
        {"script": "/usr/lib/python3/venv/__main__.py"},
        {"args": ("--day", "1", "--all")},
        {"source_sha256": "b" * 64},
        {"env": ()},
        {"cwd": "/"},
        {"workflow": "other", "workflow_version": 1},
        {"id": "job-2"},
    ],
)
def test_a_job_s_signature_covers_what_it_runs_with(keys: Path, change: dict) -> None:
    made = create_key(keys)
    signature = trust.sign_job(made, JOB, "print(1)\n")

    assert trust.job_payload(JOB, "print(1)\n") == trust.job_payload(replace(JOB), "print(1)\n")  # canonical
    made.public.verify(trust.job_payload(JOB, "print(1)\n"), signature, what="job", vouch="x")
    with pytest.raises(UntrustedError):
        made.public.verify(trust.job_payload(replace(JOB, **change), "print(1)\n"), signature, what="job", vouch="x")
    with pytest.raises(UntrustedError):  # the snapshot a server without the file runs
        made.public.verify(trust.job_payload(JOB, "import os\n"), signature, what="job", vouch="x")


def test_a_workflow_signature_covers_its_name_version_and_source(keys: Path) -> None:
    made = create_key(keys)
    signature = trust.sign_workflow(made, "nightly", 2, "print(2)\n")

    for name, version, source in (("nightly", 1, "print(2)\n"), ("other", 2, "print(2)\n"), ("nightly", 2, "x\n")):
        with pytest.raises(UntrustedError):
            made.public.verify(trust.workflow_payload(name, version, source), signature, what="w", vouch="x")


def test_the_first_signer_makes_the_key_and_later_ones_use_it(keys: Path) -> None:
    first = signer(keys)

    assert signer(keys).public == first.public == current_public(keys)
    assert own_signer(keys) is not None


def test_a_server_with_the_public_key_only_verifies_and_cannot_sign(keys: Path, tmp_path: Path) -> None:
    made = create_key(tmp_path / "creator")
    (tmp_path / "deployment.pub").write_text(made.public.line() + "\n")

    import_key(*read_key_file(tmp_path / "deployment.pub"), keys)

    assert public_key(keys) == made.public and own_signer(keys) is None
    with pytest.raises(DeploymentKeyError, match="holds only the public deployment key"):
        signer(keys)


def test_importing_the_private_key_brings_both_halves_and_another_key_needs_replace(keys: Path, tmp_path: Path) -> None:
    made = create_key(tmp_path / "creator")
    other = create_key(tmp_path / "other")
    (tmp_path / "private.pem").write_bytes(made.pem())
    (tmp_path / "other.pub").write_text(other.public.line())

    import_key(*read_key_file(tmp_path / "private.pem"), keys)
    import_key(*read_key_file(tmp_path / "private.pem"), keys)  # the same key again: nothing changes
    with pytest.raises(DeploymentKeyError, match=r"already has deployment key .* --replace"):
        import_key(*read_key_file(tmp_path / "other.pub"), keys)
    import_key(*read_key_file(tmp_path / "other.pub"), keys, replace=True)

    assert public_key(keys) == other.public
    assert own_signer(keys) is None  # the private key of the replaced pair is gone: it would sign for another key


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("hello\n", "is not a psflow public key"),
        ("psflow-ed25519 AAAA\n", "is not a psflow public key"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "is not an unencrypted private key in PEM"),
    ],
)
def test_a_key_file_that_is_not_a_key_is_refused(tmp_path: Path, text: str, says: str) -> None:
    (tmp_path / "key").write_text(text)

    with pytest.raises(DeploymentKeyError, match=says):
        read_key_file(tmp_path / "key")


def test_no_key_at_all_tells_how_to_get_one(keys: Path) -> None:
    with pytest.raises(DeploymentKeyError, match=r"no deployment key here .*psflow key import FILE"):
        public_key(keys)
    with pytest.raises(DeploymentKeyError, match="psflow key create"):
        signer(keys, create=False)
    assert not (keys / PUBLIC_FILE).exists()


def test_creating_a_key_never_replaces_one(keys: Path) -> None:
    made = create_key(keys)

    with pytest.raises(DeploymentKeyError, match="already in"):
        create_key(keys)
    assert public_key(keys) == made.public


def test_the_private_key_file_is_the_pkcs8_pem_every_tool_reads_and_writes(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    key = Ed25519PrivateKey.generate()
    theirs = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    (tmp_path / "openssl.pem").write_bytes(theirs)

    public, private = read_key_file(tmp_path / "openssl.pem")

    assert private is not None and private.pem() == theirs
    assert public.raw == key.public_key().public_bytes_raw()


def test_a_private_key_of_another_kind_is_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    pem = generate_private_key(SECP256R1()).private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    (tmp_path / "ec.pem").write_bytes(pem)

    with pytest.raises(DeploymentKeyError, match="is not an Ed25519 key"):
        read_key_file(tmp_path / "ec.pem")
