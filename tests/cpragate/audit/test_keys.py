import base64
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cpragate.audit.keys import load_master_key, load_public_key, load_signing_key, public_pem
from cpragate.errors import AuditKeyError


def test_signing_key_is_created_once_with_0600(tmp_path: Path) -> None:
    p = tmp_path / "k.pem"
    k1 = load_signing_key(None, p)
    assert oct(os.stat(p).st_mode & 0o777) == "0o600"
    k2 = load_signing_key(None, p)
    assert public_pem(k1) == public_pem(k2)


def test_signing_key_forms() -> None:
    raw = os.urandom(32)
    a = load_signing_key(raw.hex(), None)
    b = load_signing_key(base64.b64encode(raw).decode(), None)
    assert public_pem(a) == public_pem(b)
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    assert load_public_key(public_pem(a)).public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode() == public_pem(a)
    for bad in ("short", "-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----"):
        with pytest.raises(AuditKeyError):
            load_signing_key(bad, None)
    with pytest.raises(AuditKeyError):
        load_signing_key(None, None)


def test_public_key_forms() -> None:
    k = Ed25519PrivateKey.generate()
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    raw = k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert load_public_key(raw.hex()).public_bytes(Encoding.Raw, PublicFormat.Raw) == raw
    pem = k.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    assert load_public_key(pem).public_bytes(Encoding.Raw, PublicFormat.Raw) == raw
    with pytest.raises(AuditKeyError):
        load_public_key("nope")


def test_master_key(tmp_path: Path) -> None:
    p = tmp_path / "m.key"
    m = load_master_key(None, p)
    assert len(m) == 32 and load_master_key(None, p) == m
    assert load_master_key("x" * 40, None) == b"x" * 40
    with pytest.raises(AuditKeyError):
        load_master_key("short", None)
