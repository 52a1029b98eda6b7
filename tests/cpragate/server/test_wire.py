import gzip
import zlib

import pytest

from cpragate.core.messages import Headers
from cpragate.errors import BodyTooLarge, UninspectableBody
from cpragate.server.wire import connection_tokens, decode_body, reason, response_head, status_line


def test_response_head_strips_hop_by_hop_and_sets_framing() -> None:
    h = Headers([(b"Connection", b"x-secret, keep-alive"), (b"X-Secret", b"1"), (b"Keep-Alive", b"timeout=5"),
                 (b"Transfer-Encoding", b"chunked"), (b"Content-Length", b"9"), (b"X-Ok", b"y"), (b"Date", b"D")])
    head = response_head(200, h, content_length=3, chunked=False, close=True, request_id=b"r1", date=b"NOW")
    text = head.decode()
    assert text.startswith("HTTP/1.1 200 OK\r\n") and text.endswith("\r\n\r\n")
    assert "x-secret" not in text and "keep-alive" not in text and "transfer-encoding" not in text
    assert "content-length: 3\r\n" in text and "x-ok: y\r\n" in text
    assert "date: D\r\n" in text and "x-request-id: r1\r\n" in text and "connection: close\r\n" in text


def test_chunked_and_kept_length() -> None:
    head = response_head(200, Headers(), content_length=None, chunked=True, close=False, request_id=b"r", date=b"d")
    assert b"transfer-encoding: chunked" in head and b"connection" not in head and b"date: d" in head
    head = response_head(200, Headers(), content_length=None, chunked=False, close=False, request_id=b"r", date=b"d", keep_length_header=b"10")
    assert b"content-length: 10" in head


def test_status_lines_and_reasons() -> None:
    assert status_line(404) == b"HTTP/1.1 404 Not Found\r\n"
    assert status_line(599) == b"HTTP/1.1 599 Unknown\r\n"
    assert reason(451) == b"Unavailable For Legal Reasons"


def test_connection_tokens() -> None:
    assert connection_tokens(Headers([(b"connection", b"close, X-A , keep-alive,")])) == {b"x-a"}
    # the values that name no header (most upstreams send one of them) answer without a split
    for plain in (b"keep-alive", b"Keep-Alive", b"close", b"Close"):
        assert connection_tokens(Headers([(b"connection", plain)])) == frozenset()
    assert connection_tokens(Headers([(b"connection", b"keep-alive"), (b"connection", b"X-B")])) == {b"x-b"}
    assert connection_tokens(Headers([(b"connection", b"KEEP-ALIVE")])) == frozenset()
    assert connection_tokens(Headers([])) == frozenset()


def test_decode_body() -> None:
    assert decode_body(b"abc", None, 10) == b"abc"
    assert decode_body(b"abc", b"identity", 10) == b"abc"
    assert decode_body(gzip.compress(b"hello"), b"gzip", 10) == b"hello"
    assert decode_body(zlib.compress(b"hello"), b"deflate", 10) == b"hello"
    with pytest.raises(BodyTooLarge):
        decode_body(gzip.compress(b"0" * 1000), b"gzip", 100)
    with pytest.raises(UninspectableBody):
        decode_body(b"xx", b"br", 10)
    with pytest.raises(UninspectableBody):
        decode_body(b"not gzip", b"gzip", 10)
    with pytest.raises(UninspectableBody):
        decode_body(gzip.compress(b"hello")[:-6], b"gzip", 10)
