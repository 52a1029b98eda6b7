"""Form-encoded data (query strings, ``application/x-www-form-urlencoded`` bodies) as a
document the PII engine can walk, and back.

A form ``a=1&ssn=536-22-8741&a=2`` becomes ``{"a": ["1", "2"], "ssn": "536-22-8741"}``:
the names become keys, so the engine's field-name signals (``ssn``, ``email``...) work on
forms as on JSON, and a repeated name becomes a list. :func:`encode_form` writes the
(possibly rewritten) document back; a value the engine dropped is left out. Names keep
their first-seen order; the values of a repeated name are written together.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

__all__ = ["encode_form", "parse_form"]


def parse_form(data: str) -> dict[str, Any]:
    """The fields of ``data`` (percent- and ``+``-decoded, UTF-8; blank values kept)."""
    out: dict[str, Any] = {}
    for k, v in parse_qsl(data, keep_blank_values=True, errors="replace"):
        cur = out.get(k)
        if cur is None:
            out[k] = v
        elif isinstance(cur, list):
            cur.append(v)
        else:
            out[k] = [cur, v]
    return out


def encode_form(doc: dict[str, Any]) -> str:
    """``doc`` as form data; dropped values (``None``) are left out."""
    pairs: list[tuple[str, str]] = []
    for k, v in doc.items():
        for item in v if isinstance(v, list) else (v,):
            if item is None:
                continue
            pairs.append((k, item if isinstance(item, str) else str(item)))
    return urlencode(pairs)
