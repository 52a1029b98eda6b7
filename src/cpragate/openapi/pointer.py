"""JSON Pointer (RFC 6901) helpers: escape, parse, join and look up.

Pointers are how every cpragate error and violation names a place: in a spec
(``#/paths/~1pets/get``) and in a request or response body (``/items/0/email``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

__all__ = ["escape", "from_tokens", "join", "lookup", "parse", "unescape"]


def escape(token: str | int) -> str:
    """One reference token, escaped: ``~`` becomes ``~0`` and ``/`` becomes ``~1``."""
    text = str(token)
    if "~" in text or "/" in text:
        return text.replace("~", "~0").replace("/", "~1")
    return text


def unescape(token: str) -> str:
    """The inverse of :func:`escape` (order matters: ``~1`` first, then ``~0``)."""
    if "~" not in token:
        return token
    return token.replace("~1", "/").replace("~0", "~")


def join(base: str, *tokens: str | int) -> str:
    """``base`` with each token escaped and appended: ``join("/a", "b/c") == "/a/b~1c"``."""
    return base + "".join("/" + escape(t) for t in tokens)


def from_tokens(tokens: Iterable[str | int]) -> str:
    """A pointer from raw tokens (``["items", 0]`` -> ``/items/0``); the root is ``""``."""
    return "".join("/" + escape(t) for t in tokens)


def parse(pointer: str, *, fragment: bool = False) -> list[str]:
    """The unescaped tokens of ``pointer``.

    With ``fragment=True`` the pointer is the fragment of a URI (``$ref: "#/a%20b"``),
    so it is percent-decoded first, as RFC 6901 section 6 requires.

    :raises ValueError: when the pointer is neither empty nor starts with ``/``.
    """
    if fragment:
        pointer = unquote(pointer)
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"JSON pointer {pointer!r} must be empty or start with '/'")
    return [unescape(t) for t in pointer[1:].split("/")]


def lookup(document: Any, tokens: Iterable[str]) -> Any:
    """The value at ``tokens`` inside ``document``.

    :raises LookupError: naming the first token that does not exist.
    """
    node = document
    for token in tokens:
        if isinstance(node, dict):
            if token not in node:
                raise LookupError(token)
            node = node[token]
        elif isinstance(node, list):
            # RFC 6901: array indexes are decimal without leading zeros.
            if not token.isdigit() or (len(token) > 1 and token[0] == "0"):
                raise LookupError(token)
            index = int(token)
            if index >= len(node):
                raise LookupError(token)
            node = node[index]
        else:
            raise LookupError(token)
    return node
