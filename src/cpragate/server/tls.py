"""TLS contexts for listeners (server side) and upstreams (client side)."""

from __future__ import annotations

import ssl

from cpragate.config.model import ListenerTls, UpstreamTls
from cpragate.core.exchange import TlsInfo
from cpragate.errors import TlsError

__all__ = ["client_context", "server_context", "tls_info"]

# Modern AEAD suites only for TLS 1.2 (TLS 1.3 suites are all strong and not set here).
_CIPHERS_12 = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!MD5:!SHA1:!RC4:!3DES:!CBC"


def server_context(cfg: ListenerTls) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3 if cfg.min_version == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(_CIPHERS_12)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    ctx.set_alpn_protocols(["http/1.1"])
    try:
        ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
    except FileNotFoundError:
        raise TlsError(f"listener certificate or key file not found ({cfg.cert_file}, {cfg.key_file}).") from None
    except ssl.SSLError as e:
        raise TlsError(f"listener certificate/key cannot be loaded ({e.reason or 'bad PEM or mismatched key'}).") from None
    if cfg.client_auth != "none":
        ctx.verify_mode = ssl.CERT_REQUIRED if cfg.client_auth == "required" else ssl.CERT_OPTIONAL
        try:
            ctx.load_verify_locations(cafile=cfg.client_ca_file)
        except (FileNotFoundError, ssl.SSLError):
            raise TlsError(f"client CA bundle {cfg.client_ca_file} cannot be loaded.") from None
    return ctx


def client_context(cfg: UpstreamTls) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(_CIPHERS_12)
    ctx.set_alpn_protocols(["http/1.1"])
    if cfg.verify:
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        try:
            if cfg.ca_file:
                ctx.load_verify_locations(cafile=cfg.ca_file)
            else:
                ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
        except (FileNotFoundError, ssl.SSLError):
            raise TlsError(f"upstream CA bundle {cfg.ca_file} cannot be loaded.") from None
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cfg.cert_file and cfg.key_file:
        try:
            ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
        except (FileNotFoundError, ssl.SSLError):
            raise TlsError(f"upstream client certificate {cfg.cert_file} or its key cannot be loaded.") from None
    return ctx


def _rdn(seq: tuple[tuple[tuple[str, str], ...], ...]) -> str:
    names = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU", "countryName": "C",
             "localityName": "L", "stateOrProvinceName": "ST", "emailAddress": "emailAddress"}
    parts = []
    for rdn in reversed(seq):
        for k, v in rdn:
            parts.append(f"{names.get(k, k)}={v}")
    return ",".join(parts)


def tls_info(sslobj: ssl.SSLObject | ssl.SSLSocket | None) -> TlsInfo | None:
    """What later filters may know about the client's TLS session (verified certs only)."""
    if sslobj is None:
        return None
    cipher = sslobj.cipher()
    cert = sslobj.getpeercert()  # {} or None unless verified
    subject = None
    san: tuple[str, ...] = ()
    if cert:
        subject = _rdn(cert.get("subject", ()))  # type: ignore[arg-type]
        san = tuple(f"{k}:{v}" for k, v in cert.get("subjectAltName", ()))  # type: ignore[str-unpack]
    return TlsInfo(
        version=sslobj.version() or "",
        cipher=cipher[0] if cipher else "",
        client_subject=subject,
        client_san=san,
    )
