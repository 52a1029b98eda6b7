"""Property-based fuzzing (hypothesis) of the config loader, path normalizer and router,
PII engine, OpenAPI validator and JSON reader/writer, plus a replay of the kept corpus
(tests/fuzz/corpus/<target>/, seeds and every input atheris ever found interesting
enough to keep). The invariants live in targets.py, shared with the atheris harness."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from .targets import TARGETS, fuzz_config, fuzz_json, fuzz_openapi, fuzz_path, fuzz_pii

CORPUS = Path(__file__).parent / "corpus"
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def corpus_files() -> list[tuple[str, Path]]:
    return [(t, f) for t in sorted(TARGETS) for f in sorted((CORPUS / t).glob("*")) if f.is_file()]


@pytest.mark.parametrize(("target", "path"), corpus_files(), ids=lambda x: x if isinstance(x, str) else x.name)
def test_corpus_replays_clean(target: str, path: Path) -> None:
    TARGETS[target](path.read_bytes())


def test_every_target_has_a_corpus() -> None:
    for t in TARGETS:
        assert any((CORPUS / t).glob("*")), f"tests/fuzz/corpus/{t}/ is empty"


# --------------------------------------------------------------------------- paths

_SEG = st.one_of(
    st.sampled_from(["admin", "ADMIN", "Admin", ".", "..", "", "x", "v1", "customers", "42", "%2e", "%2E%2e", "%2f", "%5c",
                     "%25", "%252e", "%25%32%65", "%61dmin", "adm%69n", ";x=1", "%00", "%EF%BC%8F", "%C0%AF", "%C3%A9",
                     "%E2%84%AA", "~", "%7e", "a%20b", "\\", "..;", "%2e%2e%2f"]),
    st.text(alphabet="abcAB%25fF.;/-_~:@!$&'()*+,=", max_size=6),
)


@FAST
@given(st.lists(_SEG, max_size=8))
@example(["", "%25%32%65", "admin"])  # the double encoding this fuzzer found (fixed in normalize.py)
def test_path_segments(segs: list[str]) -> None:
    fuzz_path(("/" + "/".join(segs)).encode("utf-8"))


@FAST
@given(st.binary(max_size=64))
def test_path_bytes(raw: bytes) -> None:
    fuzz_path(b"/" + raw)


# --------------------------------------------------------------------------- JSON

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@FAST
@given(_JSON)
def test_json_round_trip(doc: object) -> None:
    fuzz_json(json.dumps(doc).encode())


@FAST
@given(st.binary(max_size=80))
def test_json_bytes(raw: bytes) -> None:
    fuzz_json(raw)


@FAST
@given(st.integers(min_value=-(10**40), max_value=10**40))
def test_json_big_integers_exact(n: int) -> None:
    fuzz_json(b'{"n": %d, "l": [%d]}' % (n, n))


# --------------------------------------------------------------------------- OpenAPI validator

_INSTANCE = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.integers(), st.text(max_size=3), st.none()),
        "email": st.one_of(st.emails(), st.text(max_size=10), st.integers()),
        "tags": st.lists(st.one_of(st.text(max_size=5), st.integers()), max_size=6),
        "address": st.one_of(st.fixed_dictionaries({"zip": st.text(alphabet="0123456789a", max_size=6)}), st.integers()),
        "kind": st.sampled_from(["a", "b", "c", 1]),
        "extra": st.booleans(),
    },
)


@FAST
@given(_INSTANCE)
def test_openapi_validator(doc: dict[str, object]) -> None:
    fuzz_openapi(json.dumps(doc).encode())


@FAST
@given(st.dictionaries(st.sampled_from(["type", "pattern", "minimum", "items", "$ref", "enum", "format", "maxLength"]),
                       st.one_of(st.text(max_size=8), st.integers(), st.lists(st.integers(), max_size=2)), max_size=4))
def test_openapi_arbitrary_schemas_compile_or_refuse(schema: dict[str, object]) -> None:
    fuzz_openapi(json.dumps(schema).encode())


# --------------------------------------------------------------------------- PII engine

def _luhn_complete(prefix: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(prefix)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return prefix + str((10 - total % 10) % 10)


_CARD = st.from_regex(r"4[0-9]{14}", fullmatch=True).map(_luhn_complete)
_SSN = st.tuples(st.integers(1, 665), st.integers(1, 99), st.integers(1, 9999)).map(lambda t: f"{t[0]:03d}-{t[1]:02d}-{t[2]:04d}")
_WORDS = st.text(alphabet="abcdefghij ,.:", max_size=12)


@FAST
@given(st.lists(st.one_of(_CARD, _SSN, _WORDS), max_size=5), st.sampled_from(["note", "ssn", "card", "comment", "x"]))
def test_pii_values_in_documents(parts: list[str], field: str) -> None:
    text = " ".join(parts)
    fuzz_pii(json.dumps({field: text, "nested": [{"v": text}]}).encode())
    fuzz_pii(text.encode())


@FAST
@given(st.binary(max_size=120))
def test_pii_bytes(raw: bytes) -> None:
    fuzz_pii(raw)


# --------------------------------------------------------------------------- config loader

_KEYS = ["listeners", "upstreams", "routes", "storage", "limits", "routing", "filters", "trusted_proxies", "state_dir", "bogus"]
_VALS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 70000), st.text(max_size=10), st.just("${CPG_SECRET}"),
    st.just("file:/nonexistent"), st.lists(st.text(max_size=5), max_size=3),
    st.just({"bind": "127.0.0.1:0"}), st.just({"o": {"url": "http://127.0.0.1:9", "allow_plaintext": True}}),
    st.just([{"path": "/a/{id}", "upstream": "o"}]), st.just({"max_headers": 5}),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(_KEYS), _VALS, max_size=6))
def test_config_structures(doc: dict[str, object]) -> None:
    fuzz_config(json.dumps(doc).encode())  # JSON is YAML


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="abc:-[]{}&*!|>'\"\n #%@`,?\t0123456789$", max_size=80))
def test_config_text(text: str) -> None:
    fuzz_config(text.encode())
