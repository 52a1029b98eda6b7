import os
import ssl
from pathlib import Path

from cpragate.demo.certs import ensure_dev_pki


def test_pki_created_once_and_usable(tmp_path: Path) -> None:
    pki = ensure_dev_pki(tmp_path / "s")
    ca1 = (tmp_path / "s" / "ca.pem").read_bytes()
    ensure_dev_pki(tmp_path / "s")
    assert (tmp_path / "s" / "ca.pem").read_bytes() == ca1  # reused, not regenerated
    assert oct(os.stat(pki.path("gateway-key.pem")).st_mode & 0o777) == "0o600"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.path("gateway.pem"), pki.path("gateway-key.pem"))
    cli = ssl.create_default_context(cafile=pki.path("ca.pem"))
    cli.load_cert_chain(pki.path("partner.pem"), pki.path("partner-key.pem"))
