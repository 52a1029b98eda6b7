"""Concrete request paths to path templates: ``/users/123/orders/9f3c…`` → ``/users/{id}/orders/{hash}``.

Rules (one segment at a time, first match wins):

* digits only (``123``), or a signed/prefixed number (``+14155550100``) → ``{id}``
* a UUID (8-4-4-4-12 hexadecimal, any version) → ``{uuid}``
* an e-mail address (``a@b.example``) → ``{email}``
* an ISO date (``2026-01-31``) → ``{date}``
* hexadecimal of 16 or more characters (hashes, Mongo ObjectIds) → ``{hash}``
* a prefixed id (``cus_9fK2xLmQ``, ``ord-10023``): letters, ``_`` or ``-``, then a run
  containing a digit → ``{id}``
* a long opaque token (20+ characters of base64url/ULID alphabet mixing letters and
  digits) → ``{token}``
* digits with separators and no letter (``536-22-1847``, ``415.555.0100``) → ``{id}``
* six or more digits among letters (``ssn536221847``) → ``{param}``
* anything longer than ``MAX_LITERAL`` characters → ``{param}`` (never kept verbatim)

Everything else stays literal. A name used twice gets a number (``{id}``, ``{id2}``) so
the result is a valid OpenAPI path. Literal segments never hold personal data the
rules recognize; :class:`PathTemplater` also caps how many distinct literals one
position may have (beyond it, new ones become ``{param}``), so a client walking
``/files/alice``, ``/files/bob``... cannot fill the inventory with names.
"""

from __future__ import annotations

import re

__all__ = ["MAX_LITERAL", "PathTemplater", "param_kind", "same_shape", "segment_kind", "template_path"]

MAX_LITERAL = 64

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_EMAIL = re.compile(r"[^@\s/]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+[A-Za-z]{2,24}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_HEX = re.compile(r"[0-9a-fA-F]{16,}")
_PREFIXED = re.compile(r"[A-Za-z]{1,12}[_-](?=[A-Za-z0-9]*\d)[A-Za-z0-9]{3,}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,}")
_NUMBER = re.compile(r"[+-]?\d+")
_LETTER = re.compile(r"[A-Za-z]")
_DIGIT = re.compile(r"\d")


def segment_kind(seg: str) -> str | None:
    """The parameter kind a concrete segment stands for, or None to keep it literal."""
    if seg.isdigit():
        return "id"
    if seg.isalpha():  # a word: every other kind needs a digit, '@', '-' or '_'
        return "param" if len(seg) > MAX_LITERAL else None
    if len(seg) > MAX_LITERAL:
        return "param"
    if _NUMBER.fullmatch(seg):
        return "id"
    if len(seg) == 36 and _UUID.fullmatch(seg):
        return "uuid"
    if "@" in seg and _EMAIL.fullmatch(seg):
        return "email"
    if len(seg) == 10 and _DATE.fullmatch(seg):
        return "date"
    if len(seg) >= 16 and _HEX.fullmatch(seg) and _DIGIT.search(seg):
        return "hash"
    if _PREFIXED.fullmatch(seg):
        return "id"
    if len(seg) >= 20 and _TOKEN.fullmatch(seg) and _DIGIT.search(seg) and _LETTER.search(seg):
        return "token"
    if _DIGIT.search(seg):
        if not _LETTER.search(seg):
            return "id"  # digits with separators: SSNs, phone and card numbers (536-22-1847, 4111 1111…)
        if sum(c.isdigit() for c in seg) >= 6:
            return "param"  # many digits among letters (ssn536221847, acct.00012345): never kept verbatim
    return None


def _name(kind: str, used: dict[str, int]) -> str:
    n = used.get(kind, 0) + 1
    used[kind] = n
    return "{" + (kind if n == 1 else f"{kind}{n}") + "}"


def template_path(path: str) -> str:
    """The template of one concrete canonical path (no cardinality cap; see PathTemplater)."""
    if path == "/" or not path:
        return "/"
    used: dict[str, int] = {}
    out = []
    for seg in path.split("/")[1:]:
        kind = segment_kind(seg) if seg else None
        out.append(seg if kind is None else _name(kind, used))
    return "/" + "/".join(out)


def param_kind(name: str) -> str:
    """The kind of a template parameter name this module made (``id2`` → ``id``), else ``param``."""
    base = name.rstrip("0123456789")
    return base if base in ("id", "uuid", "email", "date", "hash", "token") else "param"


def same_shape(a: str, b: str) -> bool:
    """Whether two templates name the same endpoint: equal literal segments, parameters
    in the same places (whatever their names); a final ``/**`` in ``b`` matches any rest."""
    sa, sb = a.split("/"), b.split("/")
    if sb and sb[-1] == "**":
        if len(sa) < len(sb) - 1:
            return False
        sb = sb[:-1]
        sa = sa[: len(sb)]
    if len(sa) != len(sb):
        return False
    for x, y in zip(sa, sb, strict=True):
        px, py = x.startswith("{") and x.endswith("}"), y.startswith("{") and y.endswith("}")
        if px != py or (not px and x != y):
            return False
    return True


class PathTemplater:
    """``template_path`` with a cap on distinct literal segments per position.

    The position is identified by the method and the template of the path before it;
    once ``max_literals`` distinct literals were seen there, any new one becomes
    ``{param}``. The memory it keeps is bounded by ``max_positions``.
    """

    __slots__ = ("_seen", "max_literals", "max_positions")

    def __init__(self, max_literals: int = 100, max_positions: int = 10_000) -> None:
        self.max_literals = max_literals
        self.max_positions = max_positions
        self._seen: dict[str, set[str]] = {}

    def template(self, method: str, path: str, prefix: str = "") -> str:
        """The template of ``path``; ``prefix`` (a route's literal part) is kept as is."""
        if prefix and path.startswith(prefix):
            rest = path[len(prefix) :]
            base = prefix
        else:
            rest, base = path, ""
        if not rest or rest == "/":
            return (base + rest) or "/"
        used: dict[str, int] = {}
        for p in base.split("/"):
            if p.startswith("{") and p.endswith("}"):
                k = param_kind(p[1:-1])
                used[k] = used.get(k, 0) + 1
        head = base.rstrip("/") if base else ""
        out = [head]
        pos = method + " " + head  # the position's key: method + the template so far
        seen = self._seen
        for seg in rest.lstrip("/").split("/"):
            kind = segment_kind(seg) if seg else None
            if kind is None and seg:
                lits = seen.get(pos)
                if lits is None:
                    if len(seen) >= self.max_positions:
                        kind = "param"
                    else:
                        lits = seen[pos] = set()
                if lits is not None and seg not in lits:
                    if len(lits) >= self.max_literals:
                        kind = "param"
                    else:
                        lits.add(seg)
            piece = seg if kind is None else _name(kind, used)
            out.append(piece)
            pos += "/" + piece
        return "/".join(out) or "/"
