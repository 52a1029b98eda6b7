"""The BOLA matcher: how references, parameters and JSON pointers are resolved and compared.

Rules of the matcher (security-critical, keep them this simple):

* Values compare as strings (JSON numbers by their decimal form, booleans never match a
  string). A reference with no value (missing claim or attribute) matches nothing.
* ``equals``: the parameter equals the reference's single value (a one-element
  attribute counts as single). ``in``: the parameter is one of the reference's values.
* A parameter given several times (``?id=1&id=2``) must satisfy the rule every time.
* A JSON pointer with ``*`` selects every item of an array; an owner check passes only
  when the pointer selects at least one value and every selected value satisfies it.
* Anything that cannot be evaluated (absent parameter, unparseable body) denies.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from cpragate.core.access import Identity
from cpragate.core.exchange import Exchange
from cpragate.core.jsonbody import request_json

__all__ = ["Unresolvable", "pointer_values", "ref_values", "request_values", "satisfies"]


class Unresolvable(Exception):
    """A parameter or body the rule needs is absent or cannot be read."""


def _scalar(v: Any) -> str | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, str) or isinstance(v, int):  # not `str | int`: compiled, that builds a union per call
        return str(v)
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return None


def ref_values(ident: Identity, ref: str) -> tuple[str, ...]:
    """Values of ``consumer.name|purpose|<attr>`` or ``claims.<name>``."""
    kind, _, name = ref.partition(".")
    if kind == "consumer":
        if name == "name":
            return (ident.consumer,)
        if name == "purpose":
            return (ident.purpose,)
        return ident.attribute(name)
    v = ident.claims.get(name)
    items = v if isinstance(v, list) else [v]
    return tuple(s for s in (_scalar(x) for x in items) if s is not None)


def satisfies(value: str, ident: Identity, ref: str, equals: bool) -> bool:
    vals = ref_values(ident, ref)
    if equals:
        return len(vals) == 1 and vals[0] == value
    return value in vals


def request_values(ex: Exchange, param: str) -> list[str]:
    """Every value of ``param`` in the request; [] when absent; Unresolvable for an unreadable body."""
    kind, _, name = param.partition(".")
    if kind == "path":
        v = ex.params.get(name)
        return [] if v is None else [v]
    if kind == "query":
        q = ex.request.query
        if not q:
            return []
        return [v for k, v in parse_qsl(q.decode("latin-1"), keep_blank_values=True) if k == name]
    if kind == "header":
        return [v.decode("latin-1") for v in ex.request.headers.get_all(name.lower().encode("ascii"))]
    body = ex.request.body
    if body is None:
        raise Unresolvable("body not buffered")
    if not body:
        return []
    try:
        doc = request_json(ex)  # parsed once, shared with validation and minimization
    except ValueError:
        raise Unresolvable("body is not JSON") from None
    out = []
    for found in pointer_values(doc, name):  # not `v`: typed str | None above (mypyc checks it)
        s = _scalar(found)
        if s is None:
            raise Unresolvable("body value is not a string or integer")
        out.append(s)
    return out


_PARTS_MAX = 1024
_parts_cache: dict[str, list[str]] = {}
"""Pointer -> its unescaped tokens (the pointers come from the configuration); bounded."""


def _parts(pointer: str) -> list[str]:
    parts = _parts_cache.get(pointer)
    if parts is None:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
        if len(_parts_cache) >= _PARTS_MAX:
            _parts_cache.clear()
        _parts_cache[pointer] = parts
    return parts


def pointer_values(doc: Any, pointer: str) -> list[Any]:
    """Values a JSON pointer (RFC 6901, plus ``*`` for every array item) selects, in document order."""
    out: list[Any] = []
    _walk(doc, _parts(pointer), 0, out)
    return out


def _walk(node: Any, parts: list[str], at: int, out: list[Any]) -> None:
    if at == len(parts):
        out.append(node)
        return
    head = parts[at]
    if head == "*" and isinstance(node, list):
        for item in node:
            _walk(item, parts, at + 1, out)
    elif isinstance(node, dict):
        if head in node:
            _walk(node[head], parts, at + 1, out)
    elif isinstance(node, list) and head.isdigit() and int(head) < len(node):
        _walk(node[int(head)], parts, at + 1, out)
