"""HTTP/1 parsers that call the protocol once per message head.

The data plane's client and upstream connections parse with llhttp. Through httptools,
llhttp calls into Python for every URL piece, header name and header value, and the
caller then asks for method, version, keep-alive and upgrade one call at a time; on the
1 KB passthrough path that was about a sixth of the gateway's instructions per request.
``cpragate.server._h1`` (C, built with the compiled data plane; see ``_h1.c``) runs the
same llhttp and hands over the whole head in one call. This module defines the interface,
its errors, and a pure-Python implementation over httptools with the same behaviour: it is
what runs when the native module is not built (``CPRAGATE_PURE=1``, a failed build) and
what the native one is tested against.

The protocol object passed to a parser provides::

    on_head(method: str, url: bytes, headers, special, version: str, keep_alive, upgrade)  # request
    on_head(status: int, headers, special, version: str, keep_alive)                       # response
    on_body(chunk: bytes)
    on_message_complete()

``headers`` is a list of ``(lowercased name, value)``; ``special`` maps the lowercased
names in the parser's ``special`` (or ``unique``) set to their (last) value; a second header
with a name in ``unique`` raises :class:`DuplicateHeader`. More than ``max_head_bytes`` (URL + names +
values + 4 per header) or ``max_headers`` headers raises :class:`HeadTooLarge`. llhttp's
own errors, and an upgrade, raise :class:`ParseError`; an exception raised by a callback
propagates unchanged. ``feed_data`` returns True while a message head is incomplete at
the end of the bytes it was given (the caller times slow heads from there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import httptools

__all__ = [
    "DuplicateHeader",
    "HeadTooLarge",
    "ParseError",
    "PyRequestParser",
    "PyResponseParser",
    "join_head",
    "parsers",
    "py_join_head",
]

_BIG = 2**62


class ParseError(Exception):
    """The bytes are not valid HTTP/1 (or ask for a protocol upgrade)."""


class HeadTooLarge(ParseError):
    """The message head is over the parser's byte or header-count limit."""


class DuplicateHeader(ParseError):
    """A header that may appear once appeared twice (e.g. Host, RFC 9112 §3.2)."""


class _PyParser:
    def __init__(
        self,
        protocol: Any,
        special: Iterable[bytes] | None = None,
        unique: Iterable[bytes] | None = None,
        max_head_bytes: int = _BIG,
        max_headers: int = _BIG,
    ) -> None:
        self._on_head = protocol.on_head
        self._on_body = protocol.on_body
        self._on_complete = protocol.on_message_complete
        self._unique = frozenset(unique or ())
        self._special_names = frozenset(special or ()) | self._unique
        self._max_head = max_head_bytes
        self._max_headers = max_headers
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._special: dict[bytes, bytes] = {}
        self._head_bytes = 0
        self._in_head = False
        self._p: Any = self._make()

    def _make(self) -> Any:
        raise NotImplementedError

    def feed_data(self, data: bytes | memoryview) -> bool:
        try:
            self._p.feed_data(data)
        except httptools.HttpParserCallbackError as e:
            if e.__context__ is not None:
                raise e.__context__ from None
            raise ParseError(str(e)) from None
        except httptools.HttpParserUpgrade:
            raise ParseError("protocol upgrade") from None
        except httptools.HttpParserError as e:
            raise ParseError(str(e)) from None
        return self._in_head

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._special = {}
        self._head_bytes = 0
        self._in_head = True

    def _count(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > self._max_head:
            raise HeadTooLarge("request head too large")

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self._headers) >= self._max_headers:
            raise HeadTooLarge("too many headers")
        self._count(len(name) + len(value) + 4)
        n = name.lower()
        self._headers.append((n, value))
        if n in self._special_names:
            if n in self._unique and n in self._special:
                raise DuplicateHeader(f"duplicate {n.decode('latin-1')} header")
            self._special[n] = value

    def on_body(self, body: bytes) -> None:
        self._on_body(body)

    def on_message_complete(self) -> None:
        self._on_complete()

    def _version(self) -> str:
        v: str = self._p.get_http_version()
        return v


class PyRequestParser(_PyParser):
    """The pure-Python request parser (httptools); see the module docstring."""

    def _make(self) -> Any:
        return httptools.HttpRequestParser(self)

    def on_headers_complete(self) -> None:
        self._in_head = False
        p = self._p
        self._on_head(
            p.get_method().decode("ascii"),
            self._url,
            self._headers,
            self._special,
            self._version(),
            p.should_keep_alive(),
            p.should_upgrade(),
        )


class PyResponseParser(_PyParser):
    """The pure-Python response parser (httptools); see the module docstring."""

    def _make(self) -> Any:
        return httptools.HttpResponseParser(self)

    def on_headers_complete(self) -> None:
        self._in_head = False
        p = self._p
        self._on_head(
            p.get_status_code(), self._headers, self._special, self._version(), p.should_keep_alive()
        )


def py_join_head(
    head: tuple[bytes | int, ...],
    items: list[tuple[bytes, bytes]],
    skip: frozenset[bytes] | set[bytes],
    extra: frozenset[bytes] | set[bytes] | None,
    tail: tuple[bytes | int, ...],
) -> bytes:
    """``head``, then ``b"name: value\\r\\n"`` for each pair whose name is in neither set, then
    ``tail`` (ints in head and tail as decimal digits): twin of ``_h1.join_head``."""
    parts = [p if isinstance(p, bytes) else b"%d" % p for p in head]
    parts += [b"%s: %s\r\n" % (n, v) for n, v in items if n not in skip and (extra is None or n not in extra)]
    parts += [p if isinstance(p, bytes) else b"%d" % p for p in tail]
    return b"".join(parts)


def _native() -> Any:
    """The C module ``_h1`` when the compiled data plane is built and current, else None."""
    try:
        from cpragate.server import _h1  # C, only in the compiled build
    except ImportError:
        return None
    return _h1


def join_head() -> Callable[..., bytes]:
    """The native ``join_head`` when built and current, else :func:`py_join_head`."""
    h1 = _native()
    return py_join_head if h1 is None else h1.join_head


def parsers() -> tuple[Any, Any]:
    """(RequestParser, ResponseParser): the native ones when built and current, else these."""
    h1 = _native()
    return (PyRequestParser, PyResponseParser) if h1 is None else (h1.RequestParser, h1.ResponseParser)
