"""Serializing heads for the wire, hop-by-hop rules (RFC 9110 §7.6.1), body codings."""

from __future__ import annotations

import zlib
from http import HTTPStatus
from typing import Final

from cpragate.core.messages import Headers
from cpragate.errors import BodyTooLarge, UninspectableBody
from cpragate.server.h1parse import join_head

__all__ = [
    "HOP_BY_HOP",
    "connection_tokens",
    "decode_body",
    "reason",
    "response_head",
]

HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authenticate",
        b"proxy-authorization",
    }
)

_REASONS: Final = {s.value: s.phrase.encode("ascii") for s in HTTPStatus}
_STATUS_LINES: dict[int, bytes] = {
    code: b"HTTP/1.1 %d %s\r\n" % (code, phrase) for code, phrase in _REASONS.items()
}


def reason(status: int) -> bytes:
    return _REASONS.get(status, b"Unknown")


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        line = b"HTTP/1.1 %d %s\r\n" % (status, reason(status))
    return line


_PLAIN_CONNECTION: Final = frozenset({b"keep-alive", b"close", b"Keep-Alive", b"Close"})
"""Connection values that name no header (nearly every upstream's): no split, no set."""
_NO_TOKENS: Final[frozenset[bytes]] = frozenset()


def connection_tokens(headers: Headers) -> frozenset[bytes]:
    """Header names listed in Connection (they are hop-by-hop too)."""
    toks: set[bytes] | None = None
    for v in headers.get_all(b"connection"):
        if v in _PLAIN_CONNECTION:
            continue
        for t in v.split(b","):
            t = t.strip().lower()
            if t and t not in (b"close", b"keep-alive"):
                if toks is None:
                    toks = set()
                toks.add(t)
    return frozenset(toks) if toks is not None else _NO_TOKENS


_SKIP_RESP: Final = HOP_BY_HOP | {b"content-length", b"x-request-id", b"date"}
# A head (fixed pieces, b"name: value\r\n" for the headers not skipped, more pieces) in one
# C call when the data plane is compiled (server/_h1.c): formatting and joining the pieces
# in compiled Python cost ~2x more (callgrind).
JOIN_HEAD: Final = join_head()


def response_head(
    status: int,
    headers: Headers,
    *,
    content_length: int | None,
    chunked: bool,
    close: bool,
    request_id: bytes,
    date: bytes,
    keep_length_header: bytes | None = None,
    has_connection: bool | None = None,
    known_date: bool = False,
    upstream_date: bytes | None = None,
) -> bytes:
    """The response head sent to the client; framing headers are always the gateway's own.

    The upstream's Date is kept (the gateway's ``date`` otherwise); ``known_date`` says the
    caller already knows it (``upstream_date``, from the parser) and the list is not scanned.
    """
    line = _STATUS_LINES.get(status)
    if line is None:
        line = status_line(status)
    if has_connection is None:
        has_connection = b"connection" in headers
    extra = connection_tokens(headers) if has_connection else None
    items = headers._items
    if not known_date:
        upstream_date = None
        for n, v in items:
            if n == b"date":
                upstream_date = v
    end = b"connection: close\r\n\r\n" if close else b"\r\n"
    te = b"transfer-encoding: chunked\r\n" if chunked else b""
    d = upstream_date or date
    if content_length is not None:
        tail: tuple[bytes | int, ...] = (
            b"date: ", d, b"\r\nx-request-id: ", request_id, b"\r\ncontent-length: ", content_length, b"\r\n", te, end
        )
    elif keep_length_header is not None:
        tail = (b"date: ", d, b"\r\nx-request-id: ", request_id, b"\r\ncontent-length: ", keep_length_header, b"\r\n", te, end)
    else:
        tail = (b"date: ", d, b"\r\nx-request-id: ", request_id, b"\r\n", te, end)
    return JOIN_HEAD((line,), items, _SKIP_RESP, extra or None, tail)


def decode_body(data: bytes, encoding: bytes | None, limit: int) -> bytes:
    """Undo a gzip/deflate content coding with a size limit (decompression bombs refused).

    Raises UninspectableBody for codings we cannot open, BodyTooLarge past ``limit``.
    """
    if encoding is None:
        return data
    enc = encoding.strip().lower()
    if enc in (b"", b"identity"):
        return data
    if enc in (b"gzip", b"x-gzip"):
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif enc == b"deflate":
        d = zlib.decompressobj()
    else:
        raise UninspectableBody(f"content-encoding {enc.decode('latin-1', 'replace')!r} cannot be inspected")
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error:
        raise UninspectableBody("corrupt compressed body") from None
    if len(out) > limit or d.unconsumed_tail:
        raise BodyTooLarge("decompressed body exceeds the route's limit")
    if not d.eof:
        raise UninspectableBody("truncated compressed body")
    return out
