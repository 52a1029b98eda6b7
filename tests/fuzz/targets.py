"""Fuzz targets shared by the hypothesis properties (test_properties.py, run in every
test run) and the coverage-guided atheris harness (atheris_fuzz.py, run briefly in CI and
for longer by hand).

Each target takes raw bytes and raises only on a real bug: an exception type the
module does not document, or a broken invariant (an AssertionError naming it). Inputs an
API documents as refusable (PathRefused, ConfigError, PiiInputError, ValueError from the
JSON reader, SpecSchemaError) are fine.

Targets: ``config`` (loader), ``path`` (normalizer and router), ``pii`` (engine),
``openapi`` (schema validator), ``json`` (the exact JSON reader/writer).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from cpragate.config import load_config_text
from cpragate.core import jsonbody
from cpragate.core.normalize import PathRefused, normalize_path
from cpragate.core.router import Router
from cpragate.errors import CpraGateError, PiiInputError, SpecSchemaError
from cpragate.openapi.validator import SchemaValidator
from cpragate.pii.categories import Entity
from cpragate.pii.engine import Engine

__all__ = ["TARGETS"]

# --------------------------------------------------------------------------- config loader

_ENV = {"CPG_SECRET": "s3cr3t-value-never-echoed", "HOME": "/nonexistent"}


def fuzz_config(data: bytes) -> None:
    """The loader answers any text with a config or a ConfigError that names no secret."""
    text = data.decode("utf-8", "replace")
    try:
        load_config_text(text, "fuzz.yaml", env=_ENV)
    except CpraGateError as e:
        msg = str(e)
        assert _ENV["CPG_SECRET"] not in msg, "a config error echoed a ${ENV} secret"
    except RecursionError:
        pass  # deeply nested YAML: the loader's own guard (RecursionError is documented by PyYAML)


# --------------------------------------------------------------------------- path + router

_ROUTER: Router[str] = Router()
_ROUTER_CI: Router[str] = Router(case_sensitive=False)
for _t in ("/admin", "/admin/**", "/v1/customers/{id}", "/v1/customers/{id}/orders", "/v1/files/**", "/"):
    _ROUTER.add(_t, ["GET", "POST"], _t)
    _ROUTER_CI.add(_t, ["GET", "POST"], _t)
_BAD_OUT = re.compile(r"//|/\./|/\.\./|/\.$|/\.\.$|%2[Ff]|%5[Cc]|%25[0-9A-Fa-f]{2}|[^\x21-\x7e]|[\\#?]")


def fuzz_path(data: bytes) -> None:
    """A canonical path is idempotent, has no dot-segments, empty segments, encoded
    separators or double encoding; routing it never raises and an /admin spelling routes
    to an /admin template."""
    try:
        out = normalize_path(data)
    except PathRefused:
        return
    assert out.startswith("/"), out
    assert _BAD_OUT.search(out) is None, f"non-canonical output {out!r}"
    assert normalize_path(out.encode("ascii")) == out, f"not idempotent: {out!r}"
    for router in (_ROUTER, _ROUTER_CI):
        m = router.match("GET", out)
        folded = out if router is _ROUTER else out.lower()
        if folded.rstrip("/") == "/admin" or folded.startswith("/admin/"):
            assert m, f"{out!r} did not reach the /admin rule"
            assert m.payload.startswith("/admin"), f"{out!r} routed to {m.payload}"
        if m:
            assert m.payload.startswith("/admin") == (folded.rstrip("/") == "/admin" or folded.startswith("/admin/"))


# --------------------------------------------------------------------------- PII engine

_ENGINE = Engine()
_SPI = {Entity.US_SSN, Entity.CREDIT_CARD}


def fuzz_pii(data: bytes) -> None:
    """Scanning and rewriting never crash; the output of a rewrite is JSON; an SSN or card
    the engine finds on its own is gone from a rewritten document that carries it."""
    try:
        found = _ENGINE.scan_json(data)
    except PiiInputError:
        found = None
    if found is not None:
        res = _ENGINE.process_json(data)
        if res.body:
            json.loads(res.body)  # valid JSON out
    text = data.decode("utf-8", "replace")
    out, _ = _ENGINE.process_text(text)
    assert isinstance(out, str)
    spi = []
    for f in _ENGINE.scan_text(text):
        s, e = f.span  # type: ignore[misc]
        assert 0 <= s < e <= len(text), f.span
        if f.entity in _SPI:
            spi.append(text[s:e])
    if spi:
        # The same text as a JSON string value (context words and all): masked there too.
        res = _ENGINE.process_json(json.dumps({"note": text}, ensure_ascii=False).encode())
        out = json.loads(res.body)["note"] if res.body else ""
        for raw in set(spi):
            # each detected occurrence is rewritten (the same digits may remain inside
            # another, non-SPI token, e.g. a phone number that contains them)
            assert out.count(raw) <= text.count(raw) - spi.count(raw), "an SPI value found by scan_text survived process_json"


# --------------------------------------------------------------------------- OpenAPI validator

_SCHEMA = {
    "type": "object",
    "required": ["id", "email"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "email": {"type": "string", "format": "email", "maxLength": 64},
        "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"}, "maxItems": 4},
        "address": {"type": "object", "properties": {"zip": {"type": "string", "pattern": "^[0-9]{5}$"}}},
        "kind": {"enum": ["a", "b"]},
    },
}
_VALIDATOR = SchemaValidator(_SCHEMA)


def fuzz_openapi(data: bytes) -> None:
    """The validator agrees with itself (is_valid iff no violations), every violation has
    a JSON pointer into the instance, and arbitrary schemas compile or raise SpecSchemaError."""
    try:
        doc = jsonbody.loads(data)
    except ValueError:
        return
    violations = _VALIDATOR.validate(doc)
    assert _VALIDATOR.is_valid(doc) == (violations == []), "is_valid and validate disagree"
    for v in violations:
        assert v[0] == "" or v[0].startswith("/"), v
    if isinstance(doc, dict):
        try:
            SchemaValidator(doc, where="fuzz").validate({"x": 1})
        except SpecSchemaError:
            pass


# --------------------------------------------------------------------------- JSON walkers

def fuzz_json(data: bytes) -> None:
    """Exact JSON: what parses round-trips through dumps, integers of any size exactly."""
    try:
        doc = jsonbody.loads(data)
    except ValueError:
        return
    out = jsonbody.dumps(doc)
    again = jsonbody.loads(out)
    assert _same(again, doc), "dumps/loads changed the document"
    assert jsonbody.dumps(again) == out, "serialization is not stable"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (a != a and b != b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "config": fuzz_config,
    "path": fuzz_path,
    "pii": fuzz_pii,
    "openapi": fuzz_openapi,
    "json": fuzz_json,
}
