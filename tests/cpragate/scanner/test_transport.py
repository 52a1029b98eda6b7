"""The transport's safety rules (checked before anything is sent) and pacing."""

from __future__ import annotations

import pytest

from cpragate.errors import ScanTargetError
from cpragate.scanner.model import HttpRequest
from cpragate.scanner.transport import Transport


@pytest.mark.parametrize("target", ["ftp://x", "localhost:8080", "https://"])
def test_target_must_be_http_with_a_host(target: str) -> None:
    with pytest.raises(ScanTargetError):
        Transport(target)


def test_other_hosts_and_unsafe_methods_are_refused_unsent() -> None:
    with Transport("http://127.0.0.1:9", max_requests=5) as t:
        for req, why in [
            (HttpRequest("GET", "/", url="http://169.254.169.254/latest/meta-data"), "not the target host"),
            (HttpRequest("GET", "/", url="file:///etc/passwd"), "not the target host"),
            (HttpRequest("DELETE", "/items/1"), "needs --unsafe-methods"),
            (HttpRequest("PATCH", "/items/1"), "needs --unsafe-methods"),
        ]:
            resp = t.send(req)
            assert resp.status == 0 and why in (resp.error or "")
        assert t.sent == 0 and t.refused == 4
        assert t.check(HttpRequest("GET", "/x", url="http://127.0.0.1:80/x")) is None  # same host, other port: allowed


def test_budget_is_enforced() -> None:
    with Transport("http://127.0.0.1:9", max_requests=1, timeout=0.5) as t:
        first = t.send(HttpRequest("GET", "/"))  # nothing listens on port 9: an error answer, but it counts
        assert first.status == 0 and t.sent == 1
        second = t.send(HttpRequest("GET", "/"))
        assert "budget" in (second.error or "") and t.sent == 1
        burst = t.send_many((HttpRequest("GET", "/"), HttpRequest("GET", "/")), 2)
        assert all(r.status == 0 and "budget" in (r.error or "") for r in burst) and t.sent == 1


def test_unsafe_methods_allowed_when_asked_and_tls_probe_needs_https() -> None:
    with Transport("http://127.0.0.1:9", unsafe_methods=True) as t:
        assert t.check(HttpRequest("DELETE", "/x")) is None
        assert t.tls_probe("TLSv1") is None
    with pytest.raises(ScanTargetError, match="does not answer"), Transport("http://127.0.0.1:9", timeout=0.5) as t:
        t.preflight()


def test_tls_probe_against_real_handshakes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import socket
    import ssl
    import threading
    import warnings

    from cpragate.demo.certs import ensure_dev_pki

    pki = ensure_dev_pki(tmp_path / "pki")

    def serve(old: bool) -> tuple[socket.socket, int]:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki.path("gateway.pem"), pki.path("gateway-key.pem"))
        if old:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.set_ciphers("ALL:@SECLEVEL=0")
                ctx.minimum_version = ssl.TLSVersion.TLSv1
        else:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()

        def loop() -> None:
            for _ in range(2):
                conn, _ = s.accept()
                try:
                    ctx.wrap_socket(conn, server_side=True).close()
                except (OSError, ssl.SSLError):
                    conn.close()

        threading.Thread(target=loop, daemon=True).start()
        return s, s.getsockname()[1]

    for old in (True, False):
        sock, port = serve(old)
        with Transport(f"https://127.0.0.1:{port}") as t:
            assert t.tls_probe("TLSv1") is old and t.tls_probe("TLSv1.1") is old
        sock.close()


def test_unsendable_requests_become_error_answers() -> None:
    with Transport("http://127.0.0.1:9", timeout=0.5) as t:
        resp = t.send(HttpRequest("GET", "/x", headers={"X-Bad": "line\nbreak"}))
        assert resp.status == 0 and resp.error
