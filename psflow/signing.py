"""The deployment key: an Ed25519 key pair that signs what psflow will later run from the database.

The database is shared by every server, so a row in it must not be a way to run code: the
servers that create jobs and register workflows sign them with the private key, and every
server verifies with the public key before it runs anything. A server that only runs jobs
needs only the public key.

Both halves live in the `keys` folder beside the config file (psflow.settings.config_path,
so $PSFLOW_CONFIG moves them too): `deployment.key` (PKCS#8 PEM, mode 0600, folder 0700) and
`deployment.pub` (one line, `psflow-ed25519 BASE64 KEYID`). A signature is the text
`ed25519:KEYID:BASE64`; KEYID (16 hex digits of the public key's sha256) says which key made it.

This module knows keys and bytes only; what a job's or a workflow's signed bytes are is
psflow.service.trust's. `cryptography` is imported only when a key is used.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from psflow.errors import DeploymentKeyError, UntrustedError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PRIVATE_FILE = "deployment.key"
PUBLIC_FILE = "deployment.pub"
_PUBLIC_TAG = "psflow-ed25519"
_SIGNATURE_TAG = "ed25519"
# An Ed25519 private key in PKCS#8 (RFC 8410) is this DER prefix and the 32-byte seed: read and written
# here without cryptography's serialization module, which costs ~30 ms to import on every command.
_PKCS8_ED25519 = bytes.fromhex("302e020100300506032b657004220420")
_PEM_BEGIN, _PEM_END = "-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----"


@dataclass(frozen=True)
class PublicKey:
    """The half every server holds: it verifies, it cannot sign."""

    raw: bytes  # 32 bytes

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()[:16]

    def line(self) -> str:
        """The public key file's one line (what `psflow key export --public` prints)."""
        return f"{_PUBLIC_TAG} {base64.b64encode(self.raw).decode()} {self.key_id}"

    def verify(self, payload: bytes, signature: str | None, *, what: str, vouch: str) -> None:
        """Return if `signature` is this key's over `payload`; else UntrustedError saying why, about `what`
        (`vouch`: the command that signs it anew)."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        fix = f"fix: check what it runs, then `{vouch}` where the private key is"
        if not signature:
            raise UntrustedError(f"refused to run {what}: it has no signature; {fix}")
        tag, _, rest = signature.partition(":")
        key_id, _, encoded = rest.partition(":")
        if tag != _SIGNATURE_TAG or not key_id or not encoded:
            raise UntrustedError(f"refused to run {what}: its signature is malformed; {fix}")
        if key_id != self.key_id:
            raise UntrustedError(
                f"refused to run {what}: it is signed by key {key_id}, this server trusts key {self.key_id}; "
                "fix: `psflow key import` the deployment's public key here"
            )
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(base64.b64decode(encoded, validate=True), payload)
        except (InvalidSignature, ValueError):
            raise UntrustedError(
                f"refused to run {what}: its signature does not match what the database holds now "
                f"(the row was changed after it was signed); {fix}"
            ) from None


@dataclass(frozen=True)
class Signer:
    """The private half: signs payloads. Only the servers that create jobs need it."""

    private: Ed25519PrivateKey

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.private.public_key().public_bytes_raw())

    def sign(self, payload: bytes) -> str:
        encoded = base64.b64encode(self.private.sign(payload)).decode()
        return f"{_SIGNATURE_TAG}:{self.public.key_id}:{encoded}"

    def pem(self) -> bytes:
        """PKCS#8 PEM, as `openssl genpkey -algorithm ed25519` writes it."""
        der = base64.b64encode(_PKCS8_ED25519 + self.private.private_bytes_raw()).decode()
        return f"{_PEM_BEGIN}\n{der}\n{_PEM_END}\n".encode()


def keys_folder() -> Path:
    """The `keys` folder beside the config file."""
    from psflow.settings import config_path

    return config_path().parent / "keys"


def public_key(folder: Path | None = None) -> PublicKey:
    """The key this server verifies with; DeploymentKeyError when it has none."""
    folder = folder or keys_folder()
    signer = _read_private(folder / PRIVATE_FILE)
    if signer is not None:
        return signer.public
    path = folder / PUBLIC_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DeploymentKeyError(
            f"no deployment key here ({folder}): `psflow key import FILE` the public key exported by "
            "`psflow key export --public` where jobs are created"
        ) from None
    except OSError as error:
        raise DeploymentKeyError(f"cannot read {path}: {error.strerror or error}") from None
    return parse_public(text, str(path))


def signer(folder: Path | None = None, *, create: bool = True) -> Signer:
    """The key this server signs with, created (both halves) when this server has no key at all and `create`."""
    folder = folder or keys_folder()
    found = _read_private(folder / PRIVATE_FILE)
    if found is not None:
        return found
    if (folder / PUBLIC_FILE).exists():
        raise DeploymentKeyError(
            f"this server holds only the public deployment key ({folder / PUBLIC_FILE}): it runs jobs but cannot "
            "create or sign them; fix: do that where the private key is, or `psflow key import` the private key"
        )
    if not create:
        raise DeploymentKeyError(f"no deployment key here ({folder}): `psflow key create` makes one")
    try:
        return create_key(folder)
    except DeploymentKeyError:  # made by another psflow at the same moment: use that one
        found = _read_private(folder / PRIVATE_FILE)
        if found is None:
            raise
        return found


def own_signer(folder: Path | None = None) -> Signer | None:
    """The private key if this server holds it (None on a server that only runs jobs)."""
    return _read_private((folder or keys_folder()) / PRIVATE_FILE)


def create_key(folder: Path | None = None) -> Signer:
    """A new key pair written to `folder`; refused when one is there already (nothing is replaced)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    folder = folder or keys_folder()
    already = DeploymentKeyError(f"a deployment key is already in {folder}: `psflow key show` shows it")
    if (folder / PRIVATE_FILE).exists() or (folder / PUBLIC_FILE).exists():
        raise already
    made = Signer(Ed25519PrivateKey.generate())
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write(folder / PRIVATE_FILE, made.pem(), 0o600, exclusive=True)
    except FileExistsError:  # another psflow made one a moment ago: that one is the key
        raise already from None
    except OSError as error:
        raise DeploymentKeyError(f"cannot write the deployment key in {folder}: {error.strerror or error}") from None
    _install(folder, made.public, None)
    return made


def parse_public(text: str, where: str) -> PublicKey:
    parts = text.split()
    try:
        if len(parts) < 2 or parts[0] != _PUBLIC_TAG:
            raise ValueError
        raw = base64.b64decode(parts[1], validate=True)
        if len(raw) != 32:
            raise ValueError
    except ValueError:
        raise DeploymentKeyError(
            f"{where} is not a psflow public key (`{_PUBLIC_TAG} BASE64 KEYID`, as `psflow key export --public` "
            "prints) nor an Ed25519 private key in PEM"
        ) from None
    return PublicKey(raw)


def read_key_file(path: Path) -> tuple[PublicKey, Signer | None]:
    """The key in file `path`: a public key line, or a private key PEM (both halves then)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DeploymentKeyError(f"cannot read key file {path}: {error.strerror or error}") from None
    private = _parse_private(data, str(path)) if b"PRIVATE KEY" in data else None
    public = private.public if private is not None else parse_public(data.decode("utf-8", "replace"), str(path))
    return public, private


def import_key(public: PublicKey, private: Signer | None, folder: Path | None = None, *, replace: bool = False) -> None:
    """Install a key read by `read_key_file`. The same key again (or its private half) changes nothing
    but adds what was missing; another key is refused unless `replace`: every job signed by the old one
    would be refused."""
    folder = folder or keys_folder()
    current = current_public(folder)
    if current is not None and current != public and not replace:
        raise DeploymentKeyError(
            f"this server already has deployment key {current.key_id}, not {public.key_id}: jobs signed by it would "
            "be refused; fix: add --replace if that is what you want"
        )
    _install(folder, public, private)


def current_public(folder: Path | None = None) -> PublicKey | None:
    """This server's key (None when it has none)."""
    folder = folder or keys_folder()
    if not (folder / PRIVATE_FILE).exists() and not (folder / PUBLIC_FILE).exists():
        return None
    return public_key(folder)


def _install(folder: Path, public: PublicKey, private: Signer | None) -> None:
    """Write the key files atomically: the private one 0600, in a 0700 folder. Without `private`, a private
    key of another key pair left in the folder is removed (it would be used instead)."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if private is not None:
            _write(folder / PRIVATE_FILE, private.pem(), 0o600)
        else:
            existing = _read_private(folder / PRIVATE_FILE)
            if existing is not None and existing.public != public:
                (folder / PRIVATE_FILE).unlink()
        _write(folder / PUBLIC_FILE, (public.line() + "\n").encode(), 0o644)
    except OSError as error:
        raise DeploymentKeyError(f"cannot write the deployment key in {folder}: {error.strerror or error}") from None


def _write(path: Path, data: bytes, mode: int, *, exclusive: bool = False) -> None:
    """A reader sees the whole file or none; `exclusive`: FileExistsError if `path` exists (linked, not replaced)."""
    import tempfile

    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        if exclusive:
            os.link(temporary, path)
            temporary.unlink()
        else:
            os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _read_private(path: Path) -> Signer | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise DeploymentKeyError(f"cannot read the private deployment key {path}: {error.strerror or error}") from None
    return _parse_private(data, str(path))


def _parse_private(data: bytes, where: str) -> Signer:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    text = data.decode("ascii", "replace").strip()
    if text.startswith(_PEM_BEGIN) and text.endswith(_PEM_END):
        try:
            der = base64.b64decode("".join(text[len(_PEM_BEGIN) : -len(_PEM_END)].split()), validate=True)
        except ValueError:
            der = b""
        if len(der) == 48 and der.startswith(_PKCS8_ED25519):
            return Signer(Ed25519PrivateKey.from_private_bytes(der[16:]))
    from cryptography.hazmat.primitives.serialization import load_pem_private_key  # any other PEM: say what it is

    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise DeploymentKeyError(f"{where} is not an unencrypted private key in PEM") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise DeploymentKeyError(f"{where} is not an Ed25519 key (psflow signs with Ed25519)")
    return Signer(key)
