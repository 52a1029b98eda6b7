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

orjson parses; integers beyond 64 bits (which orjson reads as floats) and valid JSON
orjson refuses (lone surrogates) go through the standard library instead, so no value
is altered by a parse/serialize round trip. ``NaN``/``Infinity`` are refused (RFC 8259).
"""

from __future__ import annotations

import json
import re
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
]

# 20+ digits in a row: possibly an integer beyond 64 bits (2**64 has 20 digits).
_LONG_DIGITS = re.compile(rb"\d{20}")


class ParsedJson:
    """A parsed body and the exact bytes object it came from."""

    __slots__ = ("doc", "exact", "source")

    def __init__(self, source: bytes, doc: Any, exact: bool) -> None:
        self.source = source
        self.doc = doc
        self.exact = exact
        """False when the stdlib parsed it (big integers): serialize with the stdlib too."""


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse(body: bytes) -> ParsedJson:
    if not body:
        raise ValueError("empty body")
    if _LONG_DIGITS.search(body) is None:
        try:
            return ParsedJson(body, orjson.loads(body), True)
        except orjson.JSONDecodeError:
            pass
    try:
        return ParsedJson(body, json.loads(body, parse_constant=_no_constants), False)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ValueError("the body is not valid JSON") from None


def loads(body: bytes) -> Any:
    """Parse ``body`` as JSON (see the module docstring); ValueError when it is not."""
    return _parse(body).doc


def dumps(doc: Any, exact: bool = True) -> bytes:
    """Serialize compactly; ``exact=False`` uses the stdlib (integers of any size)."""
    if exact:
        try:
            return orjson.dumps(doc)
        except TypeError:  # an integer beyond 64 bits that came from elsewhere
            pass
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


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


def set_request_json(exchange: Exchange, doc: Any) -> bytes:
    """Serialize ``doc`` as the request body (forwarded upstream) and keep it cached."""
    cached = exchange.request_json
    exact = cached.exact if cached is not None else True
    body = dumps(doc, exact)
    exchange.request.body = body
    exchange.request_json = ParsedJson(body, doc, exact)
    return body


def set_response_json(exchange: Exchange, doc: Any) -> bytes:
    """Serialize ``doc`` as the response body and keep it cached."""
    resp = exchange.response
    if resp is None:
        raise ValueError("the exchange has no response")
    cached = exchange.response_json
    exact = cached.exact if cached is not None else True
    body = dumps(doc, exact)
    resp.body = body
    exchange.response_json = ParsedJson(body, doc, exact)
    return body
