"""Parsed JSON bodies shared by every filter that reads them: a body is parsed once.

Several filters read the same JSON body (validation and request minimization on the
request; conformance, minimization and pii on the response). Parsing costs more than
most checks, so the first reader parses and caches the document on the exchange
(``Exchange.request_json`` / ``Exchange.response_json``) and later readers get the same
object::

    doc = response_json(exchange)        # ValueError when the body is absent or not JSON
    ... change doc in place ...
    set_response_json(exchange, doc)     # serialize once, keep the cache in step

The cache remembers which ``bytes`` object it was parsed from and is used only while
the message still holds that very object, so a filter that replaces a body without
these helpers can never make a later filter read a stale document. A filter that
changes the document in place must call ``set_*_json`` (or the change is lost).

orjson parses; valid JSON orjson refuses (lone surrogates) goes through the standard
library. orjson reads integers beyond 64 bits as floats, which is harmless for reading
(validation, matching) but would alter them if the document were written back, so a
filter about to change a document gets it from ``writable_request_json`` /
``writable_response_json``: they check the source once (only on that write path) for
a run of 20+ digits or a "-" and 19 digits and, if there is one, re-parse it exactly
with the standard library.
``NaN``/``Infinity`` are refused (RFC 8259).
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from cpragate.core.exchange import Exchange

__all__ = [
    "ParsedJson",
    "dumps",
    "loads",
    "request_json",
    "response_json",
    "set_request_json",
    "set_response_json",
    "writable_request_json",
    "writable_response_json",
]

# orjson reads integers outside [-2**63, 2**64 - 1] as floats: 20+ digits in a row, or
# "-" and 19 digits (-9223372036854775809). Found with translate (digits -> "0", "-"
# kept, the rest "x") + substring search: C speed, unlike a regex (14 µs per KB).
_DIGITS = bytes(0x30 if 0x30 <= i <= 0x39 else 0x2D if i == 0x2D else 0x78 for i in range(256))
_RUN = b"0" * 19


def _may_round(source: bytes) -> bool:
    """Whether ``source`` may hold an integer orjson reads as a float (rounded)."""
    text = source.translate(_DIGITS)
    at = text.find(_RUN)
    while at >= 0:
        # indexes, not slices: compiled (mypyc), text[-1:0] would not be b"" for at == 0
        if (at + 19 < len(text) and text[at + 19] == 0x30) or (at > 0 and text[at - 1] == 0x2D):
            return True
        at = text.find(_RUN, at + 19)  # exactly 19 digits, unsigned: fits in 64 bits
    return False


class ParsedJson:
    """A parsed body and the exact bytes object it came from."""

    __slots__ = ("doc", "exact", "source")

    def __init__(self, source: bytes, doc: Any, exact: bool) -> None:
        self.source = source
        self.doc = doc
        self.exact = exact
        """True once the document is known to hold every number exactly."""

    def writable(self) -> Any:
        """The document, re-parsed exactly first if orjson may have rounded a big integer."""
        if not self.exact:
            if _may_round(self.source):
                self.doc = json.loads(self.source, parse_constant=_no_constants, parse_float=_finite)
            self.exact = True
        return self.doc


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    # "1e999" is valid JSON text but no double: orjson refuses it, and so must the
    # fallback, or the document would be checked holding inf and forwarded holding null.
    x = float(text)
    if x in (math.inf, -math.inf):
        raise ValueError("number out of range")
    return x


def _parse(body: bytes) -> ParsedJson:
    if not body:
        raise ValueError("empty body")
    try:
        return ParsedJson(body, orjson.loads(body), False)
    except orjson.JSONDecodeError:
        pass
    try:
        return ParsedJson(body, json.loads(body, parse_constant=_no_constants, parse_float=_finite), True)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ValueError("the body is not valid JSON") from None


def loads(body: bytes) -> Any:
    """Parse ``body`` as JSON, exactly (see the module docstring); ValueError when it is not."""
    return _parse(body).writable()


def dumps(doc: Any) -> bytes:
    """Serialize compactly (integers beyond 64 bits through the standard library)."""
    try:
        return orjson.dumps(doc)
    except TypeError:
        pass
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (valid in JSON text as an escape, not in UTF-8): keep it escaped.
        return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode("ascii")


def request_json(exchange: Exchange) -> Any:
    """The request body as parsed JSON, parsed at most once per body."""
    body = exchange.request.body
    if body is None:
        raise ValueError("the request body was not buffered")
    cached = exchange.request_json
    if cached is not None and cached.source is body:
        return cached.doc
    cached = exchange.request_json = _parse(body)
    return cached.doc


def response_json(exchange: Exchange) -> Any:
    """The response body as parsed JSON, parsed at most once per body."""
    resp = exchange.response
    body = resp.body if resp is not None else None
    if body is None:
        raise ValueError("the response body was not buffered")
    cached = exchange.response_json
    if cached is not None and cached.source is body:
        return cached.doc
    cached = exchange.response_json = _parse(body)
    return cached.doc


def writable_request_json(exchange: Exchange) -> Any:
    """:func:`request_json`, exact: use it for a document you will change and write back."""
    request_json(exchange)
    assert exchange.request_json is not None
    return exchange.request_json.writable()


def writable_response_json(exchange: Exchange) -> Any:
    """:func:`response_json`, exact: use it for a document you will change and write back."""
    response_json(exchange)
    assert exchange.response_json is not None
    return exchange.response_json.writable()


def set_request_json(exchange: Exchange, doc: Any) -> bytes:
    """Serialize ``doc`` as the request body (forwarded upstream) and keep it cached."""
    body = dumps(doc)
    exchange.request.body = body
    exchange.request_json = ParsedJson(body, doc, True)
    return body


def set_response_json(exchange: Exchange, doc: Any) -> bytes:
    """Serialize ``doc`` as the response body and keep it cached."""
    resp = exchange.response
    if resp is None:
        raise ValueError("the exchange has no response")
    body = dumps(doc)
    resp.body = body
    exchange.response_json = ParsedJson(body, doc, True)
    return body
