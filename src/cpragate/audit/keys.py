"""The audit trail's two secrets: the Ed25519 checkpoint key and the pseudonym master key.

Each comes from the config (``filters.audit.signing_key`` / ``pseudonym_key``, usually
written ``file:/path`` or ``${ENV}``) or, when unset, from a file in the state folder
created on first use with mode 0600. Several gateways that share one PostgreSQL sink
must share the pseudonym key (so a subject has one pseudonym everywhere); each may have
its own signing key (verification is given every public key).

Accepted forms: a PEM private key, or 32 bytes as 64 hex digits or base64. A pseudonym
key is 32+ bytes as hex/base64, or any text of 32+ characters. Values are never logged.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from cpragate.errors import AuditKeyError

__all__ = ["load_master_key", "load_public_key", "load_signing_key", "public_pem"]


def _bytes32(text: str) -> bytes | None:
    t = text.strip()
    try:
        if len(t) == 64:
            return bytes.fromhex(t)
    except ValueError:
        pass
    try:
        raw = base64.b64decode(t, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def _create(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another worker made it first; read theirs
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def load_signing_key(value: str | None, default_path: Path | None) -> Ed25519PrivateKey:
    """The checkpoint signing key from ``value`` or ``default_path`` (created if missing)."""
    if value is None:
        if default_path is None:
            raise AuditKeyError("no audit signing key is configured.")
        if not default_path.exists():
            key = Ed25519PrivateKey.generate()
            _create(default_path, key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
        try:
            value = default_path.read_text()
        except OSError as e:
            raise AuditKeyError(f"audit signing key file {default_path} cannot be read ({type(e).__name__}).") from None
    if "-----BEGIN" in value:
        try:
            k = load_pem_private_key(value.encode(), password=None)
        except (ValueError, TypeError):
            raise AuditKeyError("the audit signing key is not a readable PEM private key.") from None
        if not isinstance(k, Ed25519PrivateKey):
            raise AuditKeyError("the audit signing key is not an Ed25519 key.")
        return k
    raw = _bytes32(value)
    if raw is None:
        raise AuditKeyError("the audit signing key is neither PEM nor 32 bytes in hex or base64.")
    return Ed25519PrivateKey.from_private_bytes(raw)


def load_public_key(text: str) -> Ed25519PublicKey:
    """A verification key: PEM public or private key, or 32 raw bytes (hex/base64)."""
    if "PRIVATE KEY" in text:
        return load_signing_key(text, None).public_key()
    if "-----BEGIN" in text:
        try:
            k = load_pem_public_key(text.encode())
        except ValueError:
            raise AuditKeyError("the audit public key is not a readable PEM key.") from None
        if not isinstance(k, Ed25519PublicKey):
            raise AuditKeyError("the audit public key is not an Ed25519 key.")
        return k
    raw = _bytes32(text)
    if raw is None:
        raise AuditKeyError("the audit public key is neither PEM nor 32 bytes in hex or base64.")
    return Ed25519PublicKey.from_public_bytes(raw)


def public_pem(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def load_master_key(value: str | None, default_path: Path | None) -> bytes:
    """The pseudonym master key from ``value`` or ``default_path`` (created if missing)."""
    if value is None:
        if default_path is None:
            raise AuditKeyError("no audit pseudonym key is configured.")
        if not default_path.exists():
            _create(default_path, secrets.token_hex(32).encode() + b"\n")
        try:
            value = default_path.read_text()
        except OSError as e:
            raise AuditKeyError(f"audit pseudonym key file {default_path} cannot be read ({type(e).__name__}).") from None
    raw = _bytes32(value)
    if raw is not None:
        return raw
    t = value.strip()
    if len(t) >= 32:
        return t.encode()
    raise AuditKeyError("the audit pseudonym key is shorter than 32 bytes.")
