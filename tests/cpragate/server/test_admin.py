"""The admin listener's pieces without sockets: request parsing, static files, audit access.
Over real sockets: tests/e2e/test_admin.py and test_dashboard.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from cpragate.server.admin import CSP, WEB_DIR, BadRequest, Request, load_static, read_request


def parse(raw: bytes) -> Request | None:
    async def go() -> Request | None:
        r = asyncio.StreamReader(limit=16 * 1024)
        r.feed_data(raw)
        r.feed_eof()
        return await read_request(r)

    return asyncio.run(go())


def test_parses_a_request_head() -> None:
    req = parse(b"GET /api/audit?consumer=a&limit=5 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n\r\n")
    assert req is not None and (req.method, req.path, req.query) == ("GET", "/api/audit", b"consumer=a&limit=5")
    assert req.headers[b"authorization"] == b"Bearer k" and req.keep_alive
    assert not parse(b"GET / HTTP/1.0\r\n\r\n").keep_alive  # type: ignore[union-attr]
    assert not parse(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive  # type: ignore[union-attr]
    assert parse(b"") is None


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 400),
        (b"GET nothing HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nBad Header : x\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nContent-Length: 999999\r\n\r\n", 413),
        (b"GET /static/../../etc/passwd HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(70)) + b"\r\n", 431),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n", 431),
    ],
)
def test_refuses_bad_requests(raw: bytes, status: int) -> None:
    with pytest.raises(BadRequest) as e:
        parse(raw)
    assert e.value.status == status


def test_a_body_is_read_by_content_length_and_kept() -> None:
    req = parse(b"POST /api/alerts/a/ack HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}")
    assert req is not None and req.method == "POST" and req.body == b"{}"
    doc = b'{"tokens": ["tok_email_rAAAA"], "reason": "ticket 4711 for the DPO"}'
    raw = b"POST /api/detokenize HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(doc)
    req = parse(raw + doc + b"GET / HTTP/1.1\r\n\r\n")  # the next request on the connection stays unread
    assert req is not None and req.body == doc
    assert parse(b"GET / HTTP/1.1\r\n\r\n").body == b""  # type: ignore[union-attr]
    with pytest.raises(asyncio.IncompleteReadError):  # a body shorter than announced: the client went away
        parse(raw + doc[:10])


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"POST /api/detokenize HTTP/1.1\r\nContent-Length: 65537\r\n\r\n", 413, "CPG-ADM-004"),
        (b"POST /api/detokenize HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "CPG-ADM-004"),
        (b"POST /api/detokenize HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n", 400, "CPG-ADM-004"),
        (b"POST /api/detokenize HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}", 400, "CPG-ADM-001"),
        (b"POST /api/detokenize HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501, "CPG-ADM-004"),
        (b"GET nothing HTTP/1.1\r\n\r\n", 400, "CPG-ADM-001"),
    ],
)
def test_refused_requests_get_a_problem_answer(raw: bytes, status: int, code: str) -> None:
    with pytest.raises(BadRequest) as e:
        parse(raw)
    resp = e.value.response()
    assert resp.status == status and (b"content-type", b"application/problem+json") in resp.headers
    assert orjson.loads(resp.body)["code"] == code


def test_load_static_maps_index_and_static_files(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html>")
    (tmp_path / "static" / "vendor").mkdir(parents=True)
    (tmp_path / "static" / "app.js").write_text("x")
    (tmp_path / "static" / "vendor" / "lib.js").write_text("y")
    (tmp_path / "static" / "vendor" / ".built").write_text("")
    (tmp_path / "static" / "notes.txt").write_text("no")
    got = load_static(tmp_path)
    assert set(got) == {"/", "/static/app.js", "/static/vendor/lib.js"}
    assert got["/static/app.js"][0] == b"text/javascript; charset=utf-8"


def test_the_packaged_dashboard_has_no_inline_script_and_the_csp_forbids_it() -> None:
    html = (WEB_DIR / "index.html").read_text()
    assert "<script>" not in html and "onclick=" not in html and "http://" not in html and "https://" not in html
    assert b"script-src 'self'" in CSP and b"unsafe-inline" not in CSP
