"""Compare JSON Schema validators on request-body-sized documents.

Run:  .venv/bin/python bench/openapi_validators.py
Needs: pip install jsonschema-rs fastjsonschema jsonschema  (the last two only for this bench)

Measures, per library, the time to validate one already-parsed JSON document of about
1 KB and about 64 KB against a realistic customer schema (nested objects, arrays,
formats, enums, $ref to $defs), when the document is valid (the common case) and when
it has one error deep inside (every error collected where the library can).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

SCHEMA: dict[str, Any] = {
    "$defs": {
        "Address": {
            "type": "object",
            "required": ["street", "city", "zip"],
            "properties": {
                "street": {"type": "string", "maxLength": 200},
                "city": {"type": "string", "maxLength": 100},
                "zip": {"type": "string", "pattern": "^[0-9]{5}(-[0-9]{4})?$"},
                "state": {"type": "string", "enum": ["CA", "NV", "OR", "WA"]},
            },
            "additionalProperties": False,
        },
        "Order": {
            "type": "object",
            "required": ["id", "total", "status"],
            "properties": {
                "id": {"type": "integer", "minimum": 1},
                "total": {"type": "number", "minimum": 0},
                "status": {"type": "string", "enum": ["open", "paid", "shipped"]},
                "note": {"type": ["string", "null"], "maxLength": 500},
            },
        },
    },
    "type": "object",
    "required": ["id", "email", "name", "address", "orders"],
    "properties": {
        "id": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        "email": {"type": "string", "format": "email", "maxLength": 254},
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "marketing_opt_in": {"type": "boolean"},
        "address": {"$ref": "#/$defs/Address"},
        "orders": {"type": "array", "maxItems": 10000, "items": {"$ref": "#/$defs/Order"}},
        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
    },
}


def document(n_orders: int) -> dict[str, Any]:
    return {
        "id": 42,
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "marketing_opt_in": False,
        "address": {"street": "1 Main St", "city": "Sacramento", "zip": "95814", "state": "CA"},
        "orders": [
            {"id": i + 1, "total": 19.99 + i, "status": "paid", "note": None if i % 2 else "gift"}
            for i in range(n_orders)
        ],
        "tags": ["vip", "newsletter"],
    }


def sized(target: int) -> dict[str, Any]:
    n = 1
    while len(json.dumps(document(n))) < target:
        n += 1
    return document(n)


def timeit(fn: Callable[[], object], budget: float = 0.5) -> float:
    """Median microseconds per call over batches filling about ``budget`` seconds."""
    fn()
    start = time.perf_counter()
    calls = 0
    while time.perf_counter() - start < 0.05:
        fn()
        calls += 1
    batch = max(1, calls)
    samples = []
    deadline = time.perf_counter() + budget
    while time.perf_counter() < deadline or len(samples) < 5:
        t0 = time.perf_counter()
        for _ in range(batch):
            fn()
        samples.append((time.perf_counter() - t0) / batch * 1e6)
    return statistics.median(samples)


def main() -> None:
    import fastjsonschema
    import jsonschema
    import jsonschema_rs

    draft7 = {**{k: v for k, v in SCHEMA.items() if k != "$defs"}, "definitions": SCHEMA["$defs"]}
    draft7 = json.loads(json.dumps(draft7).replace("#/$defs/", "#/definitions/"))

    rs = jsonschema_rs.Draft202012Validator(SCHEMA, validate_formats=True)
    fast = fastjsonschema.compile(draft7, formats={})
    ref_cls = jsonschema.Draft202012Validator
    ref = ref_cls(SCHEMA, format_checker=ref_cls.FORMAT_CHECKER)

    def fast_valid(doc: Any) -> bool:
        try:
            fast(doc)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    def candidates(good: Any, bad: Any) -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
        return {
            "jsonschema-rs": (
                lambda: rs.is_valid(good),
                lambda: [(e.instance_path, e.kind.name) for e in rs.iter_errors(bad)],
            ),
            # fastjsonschema stops at the first error: it cannot list them all.
            "fastjsonschema": (lambda: fast_valid(good), lambda: fast_valid(bad)),
            "jsonschema": (
                lambda: ref.is_valid(good),
                lambda: [(list(e.absolute_path), e.validator) for e in ref.iter_errors(bad)],
            ),
        }

    compile_us = {
        "jsonschema-rs": timeit(lambda: jsonschema_rs.Draft202012Validator(SCHEMA), 0.3),
        "fastjsonschema": timeit(lambda: fastjsonschema.compile(draft7), 0.3),
        "jsonschema": timeit(lambda: ref_cls(SCHEMA), 0.3),
    }
    print(f"{'library':16} {'size':>7} {'valid µs':>10} {'invalid, all errors µs':>24}")
    for label, target in (("1 KB", 1024), ("64 KB", 64 * 1024)):
        good = sized(target)
        bad = json.loads(json.dumps(good))
        bad["orders"][-1]["status"] = "lost"
        assert rs.is_valid(good) and not rs.is_valid(bad)
        assert fast_valid(good) and not fast_valid(bad)
        assert ref.is_valid(good) and not ref.is_valid(bad)
        rows = candidates(good, bad)
        for name, (valid, invalid) in rows.items():
            print(f"{name:16} {label:>7} {timeit(valid):10.1f} {timeit(invalid):24.1f}")
    print()
    from cpragate.openapi import CompiledSchema, JsonLimits, check_limits

    compiled = CompiledSchema(SCHEMA)
    limits = JsonLimits()
    print(f"{'cpragate.openapi step':34} {'1 KB µs':>9} {'64 KB µs':>9}")
    docs = {label: sized(size) for label, size in (("1 KB", 1024), ("64 KB", 64 * 1024))}
    steps = {
        "check_limits": lambda d: check_limits(d, limits),
        "CompiledSchema.validate (valid)": compiled.validate,
        "CompiledSchema.undeclared (none)": compiled.undeclared,
        "CompiledSchema.read_only (none)": compiled.read_only,
    }
    for name, step in steps.items():
        cells = [timeit(lambda d=d, step=step: step(d)) for d in docs.values()]
        print(f"{name:34} {cells[0]:9.1f} {cells[1]:9.1f}")
    print()
    for name, us in compile_us.items():
        print(f"compile {name:16} {us:10.1f} µs")
    print(
        f"\n1 KB document: {len(json.dumps(sized(1024)))} bytes; 64 KB: {len(json.dumps(sized(65536)))} bytes"
    )


if __name__ == "__main__":
    main()
