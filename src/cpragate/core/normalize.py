"""Canonical request paths: one spelling per resource, so no variant slips past a rule.

Rules (applied in this order; any refusal means the request is answered 400 and never
reaches routing or an upstream):

1. The target must be origin-form (``/...``); ``#`` and raw bytes outside printable
   ASCII are refused (clients must percent-encode them).
2. A raw ``\\`` is refused: some servers treat it as ``/``.
3. Percent-encodings of unreserved characters (RFC 3986 §2.3: ALPHA DIGIT ``-._~``) are
   decoded; every other encoding is kept, with upper-case hex.
4. Encoded ``/`` (``%2F``), ``\\`` (``%5C``), ``%`` followed by hex (double encoding,
   ``%252e``), control characters (``%00``-``%1F``, ``%7F``) and malformed escapes are
   refused: the router could not see the segment boundaries an upstream would.
5. Encoded non-ASCII must be valid UTF-8 and already NFKC-normal; otherwise a
   look-alike (``%EF%BC%8F``, fullwidth solidus) could become ``/`` downstream.
6. ``;`` is refused unless allowed (``/admin;x`` is ``/admin`` to Tomcat).
7. Duplicate slashes are folded and dot-segments removed (RFC 3986 §5.2.4); a ``..``
   that would climb above the root is refused.

The result keeps a trailing slash if the client sent one; the router ignores it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

__all__ = ["PathRefused", "normalize_path", "split_target"]

# Printable ASCII that needs no work at all: "/"-separated non-empty segments that do not
# start with "." (so no "//" and no dot-segment), and an optional trailing "/". One regex
# instead of ``b"//" not in raw``: CPython's ``bytes in bytes`` first tries the operand as
# an int and raises and clears a TypeError, ~2,200 instructions per test (callgrind).
_SIMPLE: Final = re.compile(rb"(?:/[A-Za-z0-9\-_~!$&'()*+,=:@][A-Za-z0-9\-_~!$&'()*+,=:@.]*)*/?")
_UNRESERVED: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")
_DOUBLE: Final = re.compile(rb"%25[0-9A-Fa-f]{2}")
_ALLOWED_RAW: Final = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,=:@/%;"
)


# Paths that took the fast path above, as they were: a dict hit costs ~1/4 of the regex
# (callgrind). Only already-canonical paths are kept (they contain no ';', so the result
# does not depend on allow_semicolon), bounded in count and length; cleared when full.
_SEEN: Final[dict[bytes, str]] = {}
_SEEN_MAX: Final = 4096
_SEEN_MAX_LEN: Final = 256


class PathRefused(ValueError):
    """The request target cannot be made canonical; ``reason`` is for the operator log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def split_target(target: bytes) -> tuple[bytes, bytes]:
    """Split a request target into (path, query) at the first ``?``."""
    q = target.find(b"?")
    if q < 0:
        return target, b""
    return target[:q], target[q + 1 :]


def normalize_path(raw: bytes, *, allow_semicolon: bool = False) -> str:
    """The canonical form of ``raw`` (the path part of the target), or PathRefused."""
    if not raw or raw[0] != 0x2F:  # "/"
        raise PathRefused("target is not origin-form")
    path = _SEEN.get(raw)
    if path is not None:
        return path
    if _SIMPLE.fullmatch(raw) is not None:
        path = raw.decode("ascii")
        if len(raw) <= _SEEN_MAX_LEN:
            if len(_SEEN) >= _SEEN_MAX:
                _SEEN.clear()
            _SEEN[raw] = path
        return path
    return _slow(raw, allow_semicolon)


def _slow(raw: bytes, allow_semicolon: bool) -> str:
    for b in raw:
        if b not in _ALLOWED_RAW:
            if b == 0x5C:
                raise PathRefused("raw backslash in path")
            if b == 0x3B:
                raise PathRefused("';' in path")
            raise PathRefused("byte outside printable ASCII or reserved delimiter in path")
    if not allow_semicolon and b";" in raw:
        raise PathRefused("';' in path")
    decoded = _decode_unreserved(raw)
    return _remove_dots(decoded)


def _decode_unreserved(raw: bytes) -> str:
    out = bytearray()
    high = False
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c != 0x25:  # "%"
            out.append(c)
            i += 1
            continue
        if i + 2 >= n:
            raise PathRefused("truncated percent-escape")
        h1, h2 = raw[i + 1], raw[i + 2]
        if h1 not in _HEX or h2 not in _HEX:
            raise PathRefused("malformed percent-escape")
        v = int(raw[i + 1 : i + 3], 16)
        if v in _UNRESERVED:
            out.append(v)
        elif v == 0x2F or v == 0x5C:
            raise PathRefused("encoded '/' or '\\' in path")
        elif v == 0x25 and i + 4 < n and raw[i + 3] in _HEX and raw[i + 4] in _HEX:
            raise PathRefused("double percent-encoding in path")
        elif v < 0x20 or v == 0x7F:
            raise PathRefused("encoded control character in path")
        else:
            if v >= 0x80:
                high = True
            out += b"%%%02X" % v
        i += 3
    if b"%25" in out and _DOUBLE.search(out) is not None:
        # "%25%32%65" decodes its unreserved digits to "%252e": double encoding all the same.
        raise PathRefused("double percent-encoding in path")
    text = out.decode("ascii")
    if high:
        _check_unicode(text)
    return text


def _check_unicode(text: str) -> None:
    """Encoded non-ASCII must be valid UTF-8 that NFKC leaves unchanged."""
    parts = text.split("%")
    buf = bytearray(parts[0].encode("ascii"))
    for p in parts[1:]:
        buf.append(int(p[:2], 16))
        buf += p[2:].encode("ascii")
    try:
        s = buf.decode("utf-8")
    except UnicodeDecodeError:
        raise PathRefused("percent-encoded bytes are not UTF-8") from None
    if unicodedata.normalize("NFKC", s) != s:
        raise PathRefused("non-normalized Unicode (look-alike characters) in path")


def _remove_dots(path: str) -> str:
    trailing = path.endswith("/") or path.endswith("/.") or path.endswith("/..")
    out: list[str] = []
    for seg in path.split("/")[1:]:
        if seg == "" or seg == ".":
            continue
        if seg == "..":
            if not out:
                raise PathRefused("'..' climbs above the root")
            out.pop()
            continue
        out.append(seg)
    result = "/" + "/".join(out)
    if trailing and out:
        result += "/"
    return result
