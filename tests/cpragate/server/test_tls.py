import ssl
from pathlib import Path

import pytest

from cpragate.config.model import ListenerTls, UpstreamTls
from cpragate.demo.certs import ensure_dev_pki
from cpragate.errors import TlsError
from cpragate.server.tls import client_context, server_context, tls_info


def test_server_context_settings(tmp_path: Path) -> None:
    pki = ensure_dev_pki(tmp_path)
    ctx = server_context(ListenerTls(cert_file=pki.path("gateway.pem"), key_file=pki.path("gateway-key.pem")))
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2 and ctx.verify_mode == ssl.CERT_NONE
    ctx = server_context(ListenerTls(cert_file=pki.path("gateway.pem"), key_file=pki.path("gateway-key.pem"), min_version="1.3",
                                     client_auth="optional", client_ca_file=pki.path("ca.pem")))
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3 and ctx.verify_mode == ssl.CERT_OPTIONAL
    assert not any("CBC" in c["name"] or "SHA1" == c["name"][-4:] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2")


def test_bad_files_raise_tls_error(tmp_path: Path) -> None:
    pki = ensure_dev_pki(tmp_path)
    with pytest.raises(TlsError):
        server_context(ListenerTls(cert_file=str(tmp_path / "nope.pem"), key_file="x"))
    with pytest.raises(TlsError):  # key does not match the certificate
        server_context(ListenerTls(cert_file=pki.path("gateway.pem"), key_file=pki.path("api-key.pem")))
    with pytest.raises(TlsError):
        client_context(UpstreamTls(ca_file=str(tmp_path / "nope.pem")))
    with pytest.raises(TlsError):
        client_context(UpstreamTls(cert_file=str(tmp_path / "n.pem"), key_file=str(tmp_path / "k.pem")))


def test_client_context_verifies_by_default() -> None:
    ctx = client_context(UpstreamTls())
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    off = client_context(UpstreamTls(verify=False))
    assert off.verify_mode == ssl.CERT_NONE


def test_tls_info_none() -> None:
    assert tls_info(None) is None
