"""A development CA and the certificates the demo needs, made with ``cryptography``.

Files (PEM) in the state folder: ``ca.pem`` (trust this in curl with --cacert),
``gateway.pem``/``gateway-key.pem`` (the HTTPS listener, for localhost and 127.0.0.1),
``api.pem``/``api-key.pem`` (the demo API upstream), ``gateway-client.pem``/``-key``
(the gateway's client certificate for mTLS to the API) and ``partner.pem``/``-key``
(a consumer's client certificate, to try mTLS on the listener). Keys are written 0600.
Existing files are reused, so the CA stays the same across runs.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["DevPki", "ensure_dev_pki", "issue"]


@dataclass(frozen=True)
class DevPki:
    dir: Path

    def path(self, name: str) -> str:
        return str(self.dir / name)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cpragate demo"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def issue(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    cn: str,
    *,
    server: bool,
    client: bool,
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
    days: int = 825,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A leaf certificate signed by the CA (used by the demo and by tests)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    usages = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
    )
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(ca_key, hashes.SHA256()), key


def make_ca(cn: str = "cpragate demo CA") -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def write_pair(d: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    (d / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(d / f"{stem}-key.pem", key)


def ensure_dev_pki(directory: str | Path) -> DevPki:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    ca_path, ca_key_path = d / "ca.pem", d / "ca-key.pem"
    if ca_path.exists() and ca_key_path.exists():
        ca_cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
        loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        ca_key = loaded
    else:
        ca_cert, ca_key = make_ca()
        write_pair(d, "ca", ca_cert, ca_key)
    leaves = {
        "gateway": dict(server=True, client=False, dns=("localhost",), ips=("127.0.0.1", "::1")),
        "api": dict(server=True, client=False, dns=("localhost", "demo-api.internal"), ips=("127.0.0.1",)),
        "gateway-client": dict(server=False, client=True),
        "partner": dict(server=False, client=True),
    }
    for stem, kw in leaves.items():
        if not (d / f"{stem}.pem").exists() or not (d / f"{stem}-key.pem").exists():
            cert, key = issue(ca_cert, ca_key, f"{stem}.demo.cpragate", **kw)  # type: ignore[arg-type]
            write_pair(d, stem, cert, key)
    return DevPki(d)
