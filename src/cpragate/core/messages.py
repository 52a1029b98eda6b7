"""Gateway-owned HTTP messages: bytes in, bytes out, no framework types.

Header names are stored lower-cased (RFC 9110 §5.1: names are case-insensitive;
HTTP/2 and HTTP/3 lower-case them on the wire too), values are raw bytes. The list
keeps order and duplicates, which matters for ``Set-Cookie`` and for refusing
conflicting framing headers.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator

__all__ = ["Headers", "Request", "Response"]


class Headers:
    """An ordered multi-map of lower-case header names to raw values."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[bytes, bytes]] | None = None) -> None:
        self._items: list[tuple[bytes, bytes]] = (
            [(n.lower(), v) for n, v in items] if items is not None else []
        )

    @classmethod
    def _from_lowered(cls, items: list[tuple[bytes, bytes]]) -> Headers:
        """Adopt a list whose names are already lower-case (the parser's fast path).

        The Headers takes ownership: filters edit the list in place (``items()``,
        ``remove_many`` keeps it when nothing matches), so never pass a list that is shared
        or reused, such as a canned response's."""
        # Headers(), not cls(): compiled, a call through the class object is a generic type
        # call (~1.2k instructions); nothing subclasses Headers.
        h = Headers()
        h._items = items
        return h

    def get(self, name: bytes, default: bytes | None = None) -> bytes | None:
        """The first value of ``name`` (lower-case), or ``default``."""
        for n, v in self._items:
            if n == name:
                return v
        return default

    def get_all(self, name: bytes) -> list[bytes]:
        return [v for n, v in self._items if n == name]

    def __contains__(self, name: object) -> bool:
        for n, _ in self._items:
            if n == name:
                return True
        return False

    def set(self, name: bytes, value: bytes) -> None:
        """Replace every ``name`` header by one with ``value`` (appended at the end)."""
        name = name.lower()
        self._items = [(n, v) for n, v in self._items if n != name]
        self._items.append((name, value))

    def setdefault(self, name: bytes, value: bytes) -> None:
        if name.lower() not in self:
            self._items.append((name.lower(), value))

    def add(self, name: bytes, value: bytes) -> None:
        self._items.append((name.lower(), value))

    def remove(self, name: bytes) -> None:
        name = name.lower()
        self._items = [(n, v) for n, v in self._items if n != name]

    def remove_many(self, names: frozenset[bytes] | builtins.set[bytes]) -> None:
        items = self._items
        for i in range(len(items)):
            if items[i][0] in names:  # a new list only from the first name to remove on
                self._items = items[:i] + [(n, v) for n, v in items[i + 1 :] if n not in names]
                return

    def items(self) -> list[tuple[bytes, bytes]]:
        return self._items

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and other._items == self._items

    def __repr__(self) -> str:
        # Values may carry credentials or personal data: show names only.
        return f"Headers({[n.decode('latin-1') for n, _ in self._items]})"


class Request:
    """An HTTP request as the gateway sees it.

    ``raw_path`` is what the client sent (percent-encoded, not normalized); ``path`` is
    the canonical path every routing and policy decision uses (core.normalize).
    ``body`` is None while the body streams, bytes once a filter asked for it buffered.
    """

    __slots__ = ("body", "headers", "http_version", "method", "path", "query", "raw_path")

    def __init__(
        self,
        method: str,
        raw_path: bytes,
        path: str,
        query: bytes = b"",
        headers: Headers | None = None,
        body: bytes | None = None,
        http_version: str = "1.1",
    ) -> None:
        self.method = method
        self.raw_path = raw_path
        self.path = path
        self.query = query
        self.headers = headers if headers is not None else Headers()
        self.body = body
        self.http_version = http_version

    def __repr__(self) -> str:
        return f"Request({self.method} {self.path})"


class Response:
    """An HTTP response: from the upstream, or made by the gateway (a problem, a preflight)."""

    __slots__ = ("body", "headers", "reason", "status")

    def __init__(
        self,
        status: int,
        headers: Headers | None = None,
        body: bytes | None = None,
        reason: bytes = b"",
    ) -> None:
        self.status = status
        self.headers = headers if headers is not None else Headers()
        self.body = body
        self.reason = reason

    def __repr__(self) -> str:
        return f"Response({self.status})"
