"""Engine: paths, field-name logic, actions, annotations, and the masking properties."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpragate.errors import PiiError, PiiInputError
from cpragate.pii import Action, ActionRules, Annotations, Engine, PiiConfig
from cpragate.pii import engine as engine_mod
from cpragate.pii.config import CustomRecognizerConfig, TokenizeOptions
from cpragate.pii.engine import render_path

KEY = "0123456789abcdef0123456789abcdef"
ENGINE = Engine()
MASK_ALL = ActionRules(default=Action.MASK)

DOC: dict[str, Any] = {
    "customer": {
        "name": "Jane Doe",
        "email": "jane.doe@example.com",
        "ssn": "219-45-6789",
        "phone": "(415) 555-0132",
        "dob": "1985-03-12",
        "location": {"lat": 37.774912, "lng": -122.419415},
    },
    "items": [{"name": "Ergonomic Chair", "price": 19.99, "id": "3f2a9c1e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"}],
    "note": "Please call 415-555-0132 or mail jane@example.com",
    "value": "4111 1111 1111 1111",
    "coords": [37.7749, -122.4194],
    "odd key": "219-45-6789",
    "ssn": "N/A",
}


def found(doc: Any, engine: Engine = ENGINE) -> set[tuple[str, str]]:
    return {(f.path, f.entity) for f in engine.scan_json(orjson.dumps(doc))}


def test_scan_paths_and_entities() -> None:
    got = found(DOC)
    assert got >= {
        ("$.customer.name", "person"),
        ("$.customer.email", "email"),
        ("$.customer.ssn", "us_ssn"),
        ("$.customer.phone", "phone"),
        ("$.customer.dob", "date_of_birth"),
        ("$.customer.location", "geolocation"),
        ("$.note", "phone"),
        ("$.note", "email"),
        ("$.value", "credit_card"),
        ("$.coords", "geolocation"),
        ('$["odd key"]', "us_ssn"),
    }
    assert ("$.items[0].name", "person") not in got
    assert not any(p == "$.ssn" for p, _ in got)


def test_precise_geolocation_flag() -> None:
    fs = ENGINE.scan_json({"lat": 37.77, "lng": -122.41})
    assert [f.spi for f in fs] == [False]
    fs = ENGINE.scan_json({"lat": 37.7749, "lng": -122.41})
    assert [f.spi for f in fs] == [True]


def test_findings_hold_no_values() -> None:
    fs = ENGINE.scan_json(orjson.dumps(DOC), previews=True)
    blob = orjson.dumps([f.to_dict() for f in fs]).decode()
    for secret in ("219-45-6789", "jane.doe@example.com", "4111 1111 1111 1111", "37.774912"):
        assert secret not in blob


def test_process_masks_and_counts() -> None:
    body, ann = ENGINE.process_json(orjson.dumps(DOC), MASK_ALL)
    out = orjson.loads(body)
    assert out["customer"]["ssn"] == "***-**-6789"
    assert out["customer"]["location"] == {"lat": 37.77, "lng": -122.42}
    assert out["items"][0]["name"] == "Ergonomic Chair"
    assert "415-555-0132" not in out["note"]
    assert ann.entities["us_ssn"] == 2 and ann.categories["geolocation"] == 2
    assert ann.actions == {"mask": ann.total}
    assert ann.to_dict()["blocked"] is False


def test_default_rules_mask_only_spi() -> None:
    body, ann = ENGINE.process_json(orjson.dumps(DOC))
    out = orjson.loads(body)
    assert out["customer"]["email"] == "jane.doe@example.com"
    assert out["customer"]["ssn"] == "***-**-6789"
    assert ann.actions["allow"] > 0


def test_redact_drop_block() -> None:
    rules = ActionRules(default=Action.REDACT, entities={"us_ssn": Action.DROP, "geolocation": Action.DROP})
    out = orjson.loads(ENGINE.process_json(orjson.dumps(DOC), rules).body)
    assert "ssn" not in out["customer"]
    assert "lat" not in out["customer"]["location"]
    assert out["customer"]["email"] == "[REDACTED:email]"
    assert "coords" not in out
    body, ann = ENGINE.process_json(
        orjson.dumps(DOC), ActionRules(entities={"iban": Action.BLOCK, "us_ssn": Action.BLOCK})
    )
    assert body == b"" and ann.blocked and ann.blocked_by == "us_ssn"


def test_tokenize_deterministic_and_reversible() -> None:
    eng = Engine(PiiConfig(tokenize=TokenizeOptions(key=KEY, reversible=True)))  # type: ignore[arg-type]
    rules = ActionRules(default=Action.TOKENIZE)
    a = orjson.loads(eng.process_json({"email": "jane@example.com"}, rules).body)["email"]
    b = orjson.loads(eng.process_json({"email": "jane@example.com"}, rules).body)["email"]
    assert a == b and eng.detokenize(a) == "jane@example.com"
    with pytest.raises(PiiError):
        ENGINE.detokenize(a)


def test_reveal_names_entity_category_and_spi_and_refuses_keyed_hash_tokens() -> None:
    eng = Engine(PiiConfig(tokenize=TokenizeOptions(key=KEY, reversible=True)))  # type: ignore[arg-type]
    doc = eng.process_json({"email": "jane@example.com", "ssn": "219-45-6789"}, ActionRules(default=Action.TOKENIZE, spi=None)).body
    out = orjson.loads(doc)
    assert eng.reveal(out["email"]) == ("jane@example.com", "email", "identifiers", False)
    assert eng.reveal(out["ssn"]) == ("219-45-6789", "us_ssn", "identifiers", True)
    hashed = Engine(PiiConfig(tokenize=TokenizeOptions(key=KEY)))  # type: ignore[arg-type]
    with pytest.raises(PiiError, match="cannot be reversed"):
        hashed.reveal(out["email"])
    with pytest.raises(PiiError, match="not configured"):
        ENGINE.reveal(out["email"])


def test_custom_recognizer() -> None:
    cfg = PiiConfig(
        custom_recognizers=[
            CustomRecognizerConfig(
                entity="member_id",
                pattern=r"M-\d{6}",
                context=["member"],
                field_names=["member_no"],
                category="identifiers",  # type: ignore[arg-type]
                spi=True,
            )
        ]
    )
    eng = Engine(cfg)
    fs = eng.scan_json({"member_no": "M-123456", "note": "member M-654321", "x": "M-111111"})
    got = {(f.path, f.entity, f.spi) for f in fs}
    assert got == {("$.member_no", "member_id", True), ("$.note", "member_id", True)}


def test_field_names_config_and_ignore() -> None:
    eng = Engine(PiiConfig(field_names={"tax_no": "us_ssn"}, ignore_fields=["note"]))
    fs = eng.scan_json({"tax_no": "219-45-6789", "note": "ssn 219-45-6789"})
    assert [(f.path, f.entity) for f in fs] == [("$.tax_no", "us_ssn")]
    with pytest.raises(PiiError):
        Engine(PiiConfig(field_names={"x": "nope"}))


def test_scan_text_and_process_text() -> None:
    text = "ssn 219-45-6789, call 415-555-0132"
    fs = ENGINE.scan_text(text)
    assert [f.entity for f in fs] == ["us_ssn", "phone"]
    out, ann = ENGINE.process_text(text, MASK_ALL)
    assert "219-45-6789" not in out and ann.total == 2


def test_bad_json() -> None:
    with pytest.raises(PiiInputError):
        ENGINE.scan_json(b"{not json")


def test_render_path() -> None:
    assert render_path((((None, "a"), 3), "b c")) == '$.a[3]["b c"]'


def test_bare_string_document() -> None:
    assert [f.path for f in ENGINE.scan_json(b'"ssn 219-45-6789"')] == ["$"]


# ------------------------------------------------------------------ properties

PII = st.sampled_from(
    ["219-45-6789", "jane.doe@example.com", "4111 1111 1111 1111", "415-555-0132",
     "GB82WEST12345698765432", "192.0.2.44", "2001:db8::8a2e:370:7334", "37.774912, -122.419415"]
)  # fmt: skip
FILLER = st.text(alphabet="abcdefghij klmnop,.", max_size=12)
KEYS = st.sampled_from(["value", "data", "note", "ssn", "email", "attr_3", "x"])
LEAF = st.one_of(
    st.builds(lambda a, p, b: f"{a} {p} {b}", FILLER, PII, FILLER),
    PII,
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.none(),
    st.booleans(),
)
JSON = st.recursive(
    LEAF,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(JSON, st.sampled_from([Action.MASK, Action.REDACT, Action.TOKENIZE, Action.DROP]))
def test_rewriting_never_leaks_and_keeps_json_valid(doc: Any, action: Action) -> None:
    eng = Engine(PiiConfig(tokenize=TokenizeOptions(key=KEY)))  # type: ignore[arg-type]
    raw = orjson.dumps(doc)
    findings = eng.scan_json(raw)
    body, ann = eng.process_json(raw, ActionRules(default=action))
    out = orjson.loads(body)  # valid JSON
    assert ann.total == len(findings)
    text = orjson.dumps(out).decode()
    # No detected value survives (geo values are coarsened, so check the precise ones).
    for value in ("219-45-6789", "jane.doe@example.com", "4111 1111 1111 1111",
                  "GB82WEST12345698765432", "37.774912"):  # fmt: skip
        if value in raw.decode() and any(True for _ in findings):
            assert value not in text


@settings(max_examples=100)
@given(st.text(max_size=60))
def test_random_text_never_crashes(text: str) -> None:
    out, ann = ENGINE.process_text(text, MASK_ALL)
    assert isinstance(out, str)
    assert ann.total == len(ENGINE.scan_text(text))


@pytest.mark.parametrize(
    ("cid", "pair", "expected"),
    [
        ("precise", [37.774912, -122.419415], True),
        # printed floats lose trailing zeros: 39.6816/-37.1900 arrives as -37.19
        ("trailing-zeros", [39.6816, -37.19], True),
        ("lng-lat-order", [-122.4194, 37.77], True),
        ("prices", [19.99, 4.5], False),
        ("two-decimals-each", [12.25, 33.75], False),
        ("int-and-float", [12.3456, 7], False),
        ("out-of-range", [95.1234, 190.25], False),
    ],
)
def test_unlabeled_coordinate_lists(cid: str, pair: list[float], expected: bool) -> None:
    got = found({"data": [{"v": pair}]})
    assert (("$.data[0].v", "geolocation") in got) is expected, cid


def test_decimals_at_least_agrees_with_repr() -> None:
    import random

    from cpragate.pii.engine import _decimals_at_least
    from cpragate.pii.recognizers import decimals

    rng = random.Random(3)
    values: list[object] = [0.0, -0.0, 1e-5, 5e-05, 1.5e-05, 1e16, float("inf"), float("nan"), 1e6, 999999.99999,
                            123456.7891, 39.681, 39.6810, 38.0, 19.99, -48.66, 37.7749, 1, -3, "37.7749", "12.5"]  # fmt: skip
    for _ in range(50_000):
        values.append(round(rng.uniform(-180, 180), rng.randint(0, 9)))
        values.append(rng.uniform(-1e-3, 1e-3))
    for x in values:
        text = repr(x) if type(x) is float else x if type(x) is str else None
        for n in (2, 4):
            expected = decimals(text) >= n if text is not None else False
            assert _decimals_at_least(x, n) is expected


# ------------------------------------------------------------------ native == Python
# The C walk and prefilter (cpragate.pii._cscan) must give exactly what the Python engine
# gives: every finding (with masked previews), every rewritten body and annotation.


def _native_engines(config: PiiConfig | None = None) -> tuple[Engine, Engine]:
    if engine_mod._native_walk is None:
        if os.environ.get("CI") == "true":
            pytest.fail("cpragate.pii._cscan is not loaded in CI (make install builds it)")
        pytest.skip("cpragate.pii._cscan not built here (make install builds it)")
    return Engine(config, native=True), Engine(config, native=False)


def _outcome(call: Callable[[], object]) -> object:
    """The result, or the type of the exception raised (both paths must raise alike)."""
    try:
        return call()
    except Exception as exc:
        return type(exc)


def _same(native: Engine, python: Engine, raw: bytes) -> None:
    for previews in (True, False):
        assert _outcome(lambda: native.scan_json(raw, previews=previews)) == _outcome(
            lambda: python.scan_json(raw, previews=previews)
        )
    for rules in (None, ActionRules(default=Action.MASK), ActionRules(default=Action.REDACT),
                  ActionRules(default=Action.DROP)):  # fmt: skip
        assert native.process_json(raw, rules) == python.process_json(raw, rules)


def _corpus() -> list[bytes]:
    bench = Path(__file__).resolve().parents[3] / "bench"
    spec = importlib.util.spec_from_file_location("pii_corpus", bench / "pii_corpus.py")
    assert spec is not None and spec.loader is not None
    corpus = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("pii_corpus", corpus)  # (its dataclasses look their module up)
    spec.loader.exec_module(sys.modules["pii_corpus"])
    corpus = sys.modules["pii_corpus"]
    return [orjson.dumps(d.body) for seed in (corpus.EVAL_SEED, corpus.TUNE_SEED) for d in corpus.generate(seed, 300)]


def test_native_equals_python_on_the_evaluation_corpora() -> None:
    native, python = _native_engines()
    for raw in _corpus():
        _same(native, python, raw)


NATIVE_KEYS = st.sampled_from(
    ["value", "note", "x", "ssn", "email", "phone", "card_number", "dob", "name", "first_name", "customer",
     "address", "lat", "lng", "location", "coordinates", "ip", "passport", "ignored", "items", "contact"]
)  # fmt: skip
NATIVE_LEAF = st.one_of(
    LEAF,
    st.sampled_from(
        ["Jane Doe", "María José", "N/A", "1985-03-12", "37.7749,-122.4194", "12 Main Street",
         "Dear Jane Smith, your SSN 219-45-6789", "x" * 7]
    ),
    st.integers(min_value=10**11, max_value=10**18),
    st.lists(st.floats(min_value=-180, max_value=180), min_size=2, max_size=2),
)
NATIVE_JSON = st.recursive(
    NATIVE_LEAF,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(NATIVE_KEYS, children, max_size=5)),
    max_leaves=16,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(NATIVE_JSON)
def test_native_equals_python_on_random_documents(doc: Any) -> None:
    config = PiiConfig(ignore_fields=["ignored"])  # type: ignore[call-arg]
    native, python = _native_engines(config)
    _same(native, python, orjson.dumps(doc))


def test_native_walk_raises_what_the_engine_raises() -> None:
    """An exception inside a callback (here: a non-str key) reaches the caller unchanged."""
    native, python = _native_engines()
    raised = []
    for engine in (native, python):
        with pytest.raises(Exception) as info:
            engine.scan_json({"a": [{1: "219-45-6789"}]})
        raised.append(type(info.value))
    assert raised[0] is raised[1]


@pytest.mark.parametrize("native", [True, False])
def test_previews_of_a_bare_value_document(native: bool) -> None:
    # A finding in a document that is one bare string or number: its preview is the masked
    # document (this raised TypeError: the root value was looked up as None).
    e = Engine(native=native)
    (f,) = e.scan_json(b'"536-22-8741"', previews=True)
    assert f.path == "$" and f.entity == "us_ssn" and f.span == (0, 11)
    assert f.preview == "***-**-8741"
    found = e.scan_json(b'"ssn 536-22-8741, mail jane.roe@example.com"', previews=True)
    assert {x.entity for x in found} == {"us_ssn", "email"}
    for x in found:  # each preview is its span's mask
        assert x.preview is not None and "536-22" not in x.preview and "jane.roe" not in x.preview
    assert [x.preview for x in found if x.entity == "us_ssn"] == ["***-**-8741"]
    plain = e.scan_json(b'"536-22-8741"')
    assert [x._replace(preview=None) for x in e.scan_json(b'"536-22-8741"', previews=True)] == plain


def test_native_findings_paths_past_the_memo_array() -> None:
    """scan_json's C path memo keeps 64 containers in an array and the rest in a dict:
    a document with findings in 200 containers (and nested ones) has the same paths."""
    native, python = _native_engines()
    doc = {"rows": [{"id": i, "contact": {"email": f"user{i}@example.com"}, "ssn": "219-45-6789"} for i in range(200)]}
    raw = orjson.dumps(doc)
    _same(native, python, raw)
    assert len({f.path for f in native.scan_json(raw)}) == 400


def _ordered(ann: Any) -> tuple[object, ...]:
    """Annotations with their dicts' insertion order (the audit event lists them so)."""
    return (list(ann.entities.items()), list(ann.categories.items()), ann.spi, list(ann.actions.items()),
            ann.blocked, ann.blocked_by)  # fmt: skip


_TALLY_DOC = {
    "id": 7,
    "name": "Jane Roe",
    "email": "jane.roe@example.com",
    "phone": "(415) 555-0132",
    "ssn": "219-45-6789",
    "card_number": "4111 1111 1111 1111",
    "passport": "X12345678",
    "location": {"lat": 37.774929, "lng": -122.419416},
    "coordinates": [37.774929, -122.419416],
    "note": "Dear Jane Smith, call 415-555-0132 or mail jane@example.com; ssn 219-45-6789",
    "nombre": "José Ñúñez, tarjeta 4111111111111111",
    "items": [{"ssn": "219-45-6789", "dob": "1985-03-12", "m": "M-123456 K-654321"}, "219-45-6789"],
    **{f"f{i}": f"C{i:02d}-{i:06d}" for i in range(20)},
}


def _tally_configs() -> list[tuple[PiiConfig, list[ActionRules | None]]]:
    # 20 custom entities: more kinds of finding than tally's first array holds (16).
    custom = [
        CustomRecognizerConfig(entity=f"code_{i}", pattern=rf"C{i:02d}-\d{{6}}", category="identifiers", spi=i % 2 == 0)  # type: ignore[arg-type]
        for i in range(20)
    ]
    plain = PiiConfig(custom_recognizers=custom)
    shaped = PiiConfig(mask={"char": "#", "shapes": {"us_ssn": "XXX-XX-{last4}"}})  # type: ignore[arg-type]
    bullet = PiiConfig(mask={"char": "•"})  # type: ignore[arg-type]
    tokens = PiiConfig(tokenize=TokenizeOptions(key=KEY))  # type: ignore[arg-type]
    every: list[ActionRules | None] = [
        None,
        ActionRules(default=Action.MASK),
        ActionRules(default=Action.REDACT, spi=Action.MASK),
        ActionRules(default=Action.DROP, entities={"email": Action.MASK}),  # type: ignore[dict-item]
        ActionRules(default=Action.MASK, entities={"us_passport": Action.BLOCK}),  # type: ignore[dict-item]
        ActionRules(default=Action.ALLOW, spi=None),
    ]
    return [(plain, every), (shaped, every), (bullet, every),
            (tokens, [*every, ActionRules(default=Action.TOKENIZE)])]  # fmt: skip


def test_native_tally_equals_python() -> None:
    """_cscan.tally (the rewrite's counting loop in C) gives the Python loop's bodies and
    annotations, in the same dict order, for every action, mask shapes, a non-ASCII mask
    character (the Python masker, called back), custom entities past its first array."""
    raw = orjson.dumps(_TALLY_DOC)
    docs = [raw, *_corpus()[:60]]
    for config, all_rules in _tally_configs():
        native, python = _native_engines(config)
        for rules in all_rules:
            for doc in docs:
                a, b = native.process_json(doc, rules), python.process_json(doc, rules)
                assert a.body == b.body
                assert _ordered(a.annotations) == _ordered(b.annotations)
    native, _ = _native_engines(_tally_configs()[0][0])
    ann = native.process_json(raw, ActionRules(default=Action.MASK)).annotations
    assert len(ann.entities) > 16 and ann.actions == {"mask": ann.total}


def test_native_tally_checks_its_arguments() -> None:
    if engine_mod._native_tally is None:
        pytest.skip("cpragate.pii._cscan not built here (make install builds it)")
    tally = engine_mod._native_tally
    args: list[Any] = [[], {}, {}, print, {}, None, None, "geolocation", None, {}, {}, print, 2]
    assert tally(*args) == ({}, {}, 0, {}, [])
    with pytest.raises(TypeError):
        tally(*args[:-1])
    with pytest.raises(TypeError):
        tally(*args[:-1], "2")
    with pytest.raises(TypeError, match="8-tuple"):
        tally([("x",)], *args[1:])
    with pytest.raises(TypeError):
        tally(*args[:8], "**", *args[9:])
    hit = ({"a": "x"}, "a", None, "e", False, None, "field", None)
    with pytest.raises(TypeError, match="4-tuple"):
        tally([hit], {}, {"e": ("c", False)}, *args[3:])
    with pytest.raises(KeyError):  # an action without a value
        tally([hit], {}, {"e": ("c", False, "nope", "e")}, *args[3:])


def _matcher_pairs() -> list[tuple[Callable[[str], bool], Callable[[str], bool]]]:
    if engine_mod._native_matcher is None:
        pytest.skip("cpragate.pii._cscan not built here (make install builds it)")
    e = Engine()
    pairs = [
        (e._matcher(entity), e._recognizers[entity].match_value)
        for entity in ("us_ssn", "date_of_birth", "credit_card", "phone", "street_address", "email")
    ]
    assert e._person_match is not None and Engine(native=False)._person_match is None
    return [*pairs, (e._person_match, e._recognizers["person"].match_value)]


SHAPED = st.one_of(
    st.text(alphabet="0123456789- ", max_size=25),
    st.text(alphabet="0123456789-/. \t", min_size=8, max_size=12),
    st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z"),
    st.from_regex(r"\A[0-9]{3}[- ]?[0-9]{2}[- ]?[0-9]{4}\Z"),
    st.from_regex(r"\A[0-9]{4}[ -][0-9]{4,6}[ -][0-9]{4}([ -][0-9]{1,7})?\Z"),
    st.text(max_size=24),
    st.text(alphabet="abcXYZ '.-_1\t", max_size=20),
    st.from_regex(r"\A[A-Za-z][A-Za-z'.\-]{0,8}( [A-Za-z'.\-]{1,8}){0,5}\Z"),
    # phone numbers: North American shapes, prefixes, extensions, other country codes
    st.from_regex(r"\A(\+1|1|001|\+44|\+)?[ .-]?\(?[0-9]{3}\)?[ .-]?[0-9]{3}[ .-]?[0-9]{4}( ?(x|ext\.?|#|X) ?[0-9]{1,7})?\Z"),
    st.text(alphabet="0123456789 ()+-.xXe#", min_size=5, max_size=34),
    # street addresses: around the length limits, with and without letters
    st.text(alphabet="0123456789 #-.,", min_size=1, max_size=8),
    st.from_regex(r"\A[0-9]{1,5} [A-Z][a-z]{2,8} (St|Ave|Blvd)\.?( Apt [0-9]{1,3})?\Z"),
    st.text(alphabet="a1 ", min_size=295, max_size=305),
    # e-mail addresses: dots, hyphens, label and top-level domain lengths, near 254
    st.from_regex(r"\A[a-z0-9.'_+-]{1,12}@([a-z0-9-]{1,8}\.){0,3}[a-z0-9-]{0,26}\Z"),
    st.text(alphabet="ab.@-1", max_size=16),
    st.builds(lambda a, d: a + "@" + d + ".com", st.text(alphabet="ab.", min_size=1, max_size=250), st.just("x")),
)


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow])
@given(SHAPED)
def test_native_value_matchers_answer_as_the_recognizers(value: str) -> None:
    """_cscan.value_matcher (SSN, date of birth, card under a telling key; a name in a person
    record) answers exactly as the recognizer's match_value, whatever the value (the C part
    takes only common shapes)."""
    for native, python in _matcher_pairs():
        assert native(value) is python(value)


def test_native_value_matchers_on_known_values() -> None:
    ssn, dob, card, phone, address, email, person = (m for m, _ in _matcher_pairs())
    assert email("jane.roe@example.com") and email("a+b@mail.example.co.uk") and not email("jane@example")
    assert not email("jane..roe@example.com") and not email("jane@-example.com") and email(" jane@example.com ")
    assert person("Jane Roe") and person("Mary-Ann O'Neil") and person("José Núñez")
    for bad in ("J", "Jane  Roe", "Jane -Roe", "1Jane", "Jane Roe2", "A B C D E F", "x" * 81):
        assert not person(bad)
    assert ssn("219-45-6789") and ssn("219 45 6789") and ssn("219456789")
    for bad in ("219-45 6789", "000-45-6789", "666-45-6789", "919-45-6789", "219-00-6789", "219-45-0000",
                "078-05-1120", "123-45-6789", " 219-45-6789x", "219-45-678"):  # fmt: skip
        assert not ssn(bad)
    assert ssn(" 219-45-6789 ")  # surrounding whitespace: the Python method (strip) answers
    assert dob("1985-03-12") and dob("2000-02-29") and dob("03/12/1985")
    for bad in ("1899-12-31", "1985-02-29", "1985-13-01", "1985-00-10", "0000-01-01", "1985-04-31"):
        assert not dob(bad)
    assert not dob("2999-01-01")  # a future year: the clock decides, in Python
    assert card("4111111111111111") and card("4111 1111 1111 1111") and card("3782-822463-10005")
    for bad in ("4111111111111112", "4111 1111-1111 1111", "411111111111", "4111 1111 1111 1111 1111 1"):
        assert not card(bad)
    assert phone("(415) 555-2671") and phone("415-555-2671") and phone("+1 415 555 2671") and phone("4155552671 x12")
    for bad in ("(015) 555-2671", "415-155-2671", "555-2671", "415-555-267", "phone", "1234567", "+1 415 555 26711"):
        assert not phone(bad)
    assert phone("+44 20 7946 0958")  # another country code: phonenumbers' metadata, in Python
    assert address("12 Main St") and address("abc") and address("Apt 4, 1 Elm Street")
    for bad in ("12", "1234", "12 34", "x" * 301, "#1-2"):
        assert not address(bad)
    assert address(" a1b ") and address("Calle Ñandú 5")  # strip / non-ASCII: the Python method
    with pytest.raises(ValueError):
        engine_mod._native_matcher(8, print, None)  # type: ignore[misc]
    with pytest.raises(ValueError):
        engine_mod._native_matcher(1, print, None)  # type: ignore[misc]
    with pytest.raises(TypeError):
        engine_mod._native_matcher("1", print, None)  # type: ignore[arg-type, misc]


_COORD = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-200, max_value=200),
    st.integers(-2_000_000, 2_000_000).map(lambda i: i / 1000),  # three decimals or fewer: repr decides
    st.integers(-2_000_000_000, 2_000_000_000).map(lambda i: i / 10_000_000),
    st.sampled_from([0.0, -0.0, 90.0, -90.0, 180.0, -180.0, 90.0001, 1e-4, 9.9999e-5, 1e6, 37.7749, 37.77490001]),
    st.integers(-200, 200),
    st.just("37.7749"),
)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_COORD, _COORD, st.booleans())
def test_native_geo_fields_answer_as_the_engine(lat: Any, lng: Any, both: bool) -> None:
    """The C walk's lat/lng pair (both floats: answered in C, precision proved by the
    arithmetic or else left to the engine's repr) finds what _geo_fields finds."""
    native, python = _native_engines()
    doc: dict[str, Any] = {"location": {"lat": lat, "lng": lng} if both else {"lng": lng, "x": 1, "lat": lat}}
    for engine in (native, python):
        assert engine._geo_on
    a, b = native._detect(doc), python._detect(doc)
    assert [(h[1], h[2], h[3], h[4], h[6], h[7]) for h in a] == [(h[1], h[2], h[3], h[4], h[6], h[7]) for h in b]
    assert all(h[0] is doc["location"] for h in a)


def test_native_geo_fields_when_geolocation_is_off() -> None:
    native, python = _native_engines(PiiConfig(entities=["email"]))  # type: ignore[list-item]
    doc = {"location": {"lat": 37.774929, "lng": -122.419416}}
    assert native._detect(doc) == python._detect(doc) == []


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_COORD, _COORD, st.sampled_from([0, 1, 2, 3]))
def test_native_tally_rounds_coordinate_fields_as_python(lat: Any, lng: Any, decimals: int) -> None:
    """A masked lat/lng pair in two float fields is rounded in _cscan.tally (operators._round's
    arithmetic; near ties and the rest left to the Python rewrite): the same numbers, bit
    for bit, as the Python tally and rewrite, for every geo_decimals."""
    config = PiiConfig(mask={"geo_decimals": decimals})  # type: ignore[arg-type]
    native, python = _native_engines(config)
    rules = ActionRules(default=Action.MASK)
    out = []
    for engine in (native, python):
        doc = {"id": 1, "location": {"lat": lat, "lng": lng}}
        root, ann = engine.process_value(doc, rules)
        out.append((repr(root), _ordered(ann)))
    assert out[0] == out[1]


def test_native_join_texts_quiet_only_when_the_scanner_finds_nothing() -> None:
    """join_texts(..., quiet=True) answers None (nothing to scan) only for texts with no
    prefilter candidate, no "@", no ":" and no sentence, where TextScanner.scan finds nothing."""
    if engine_mod._native_join is None:
        pytest.skip("cpragate.pii._cscan not built here (make install builds it)")
    join = engine_mod._native_join
    scanner = Engine(native=True)._scanner
    ref = (None, None, None)
    for texts in (["Springfield"], ["Lake Jennifer", "t1-abc"], ["Suite 12b"], ["4155552671x"], ["ab@"], ["x:y"],
                  ["Dear Jane Roe, thanks"], ["12 Main Street"], ["4.2116, -31.9025"], ["DE89370400440532013000"],
                  ["call 415-555-2671"], ["  ", "é ü"]):  # fmt: skip
        loud = join(texts, [ref] * len(texts), 1000, False)
        quiet = join(texts, [ref] * len(texts), 1000, True)
        assert loud is not None
        if quiet is None:
            assert scanner.scan(loud[0], loud[2]) == [], texts
        else:
            assert quiet == loud
    assert join(["Springfield"], [ref], 1000, True) is None
    assert join(["call 415-555-2671"], [ref], 1000, True) is not None


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(alphabet="aZ 09+(-.,:@\x00é", min_size=6, max_size=30), min_size=1, max_size=3))
def test_native_quiet_join_never_hides_a_finding(texts: list[str]) -> None:
    if engine_mod._native_join is None:
        pytest.skip("cpragate.pii._cscan not built here (make install builds it)")
    join = engine_mod._native_join
    scanner = Engine(native=True)._scanner
    refs = [(None, None, None)] * len(texts)
    loud = join(texts, refs, 1000, False)
    if loud is not None and join(texts, refs, 1000, True) is None:
        assert scanner.scan(loud[0], loud[2]) == []
    native, python = _native_engines()
    doc = {f"k{i}": t for i, t in enumerate(texts)}
    assert native.process_value(dict(doc))[1] == python.process_value(dict(doc))[1]


def test_native_tally_repeats_give_fresh_equal_counts() -> None:
    """tally copies its last dicts when the same kinds of finding repeat: every call still
    gets its own dicts (mutating one changes no later answer), equal to the Python tally's,
    also when documents, rules and engines alternate."""
    native, python = _native_engines()
    other, _ = _native_engines(PiiConfig(mask={"char": "#"}))  # type: ignore[arg-type]
    docs = [_TALLY_DOC, {"email": "jane.roe@example.com"}, {"x": 1}, _TALLY_DOC, _TALLY_DOC]
    for rules in (None, ActionRules(default=Action.MASK), None):
        for engine in (native, other, native):
            for doc in docs:
                a = engine.process_json(orjson.dumps(doc), rules).annotations
                b = python.process_json(orjson.dumps(doc), rules).annotations
                assert _ordered(a) == _ordered(b)
                a.entities["email"] = 99
                a.categories.clear()
                a.actions["mask"] = -1


def test_native_tally_hands_the_summary_of_repeated_kinds() -> None:
    """tally(..., with_summary=True): a sixth item, the decision text of the counts when
    they are the kinds counted last (else None), equal to filters/pii/fastpath.summary_py;
    Annotations carry it (summary_text) until their counts change."""
    from cpragate.filters.pii.fastpath import summary_py

    native, python = _native_engines()
    docs = [
        {"ssn": "219-45-6789", "email": "jane.roe@example.com", "name": "Jane Roe", "note": "call 415-555-2671"},
        {"ssn": "219-45-6789", "email": "jane.roe@example.com"},
        {"card_number": "4111111111111111", "location": {"lat": 37.774912, "lng": -122.419412}},
    ]
    rules = [None, ActionRules(default=Action.MASK), ActionRules(default=Action.ALLOW)]
    for _ in range(3):
        for doc in docs:
            for r in rules:
                ann = native.process_value(orjson.loads(orjson.dumps(doc)), r)[1]
                ref = python.process_value(orjson.loads(orjson.dumps(doc)), r)[1]
                assert ann == ref and python.process_value(orjson.loads(orjson.dumps(doc)), r)[1].summary_text is None
                assert ann.summary_text is None or ann.summary_text == summary_py(ann)
            # the same document and rules again: the kinds repeat, the text comes with them
            # (from the second repeat: a decision made during a call is boxed anew by the
            # compiled decider, so the kinds of that call are not the cached ones)
            for _ in range(2):
                again = native.process_value(orjson.loads(orjson.dumps(doc)), rules[-1])[1]
            assert again.summary_text == summary_py(again)
    for _ in range(3):
        ann = native.process_value(orjson.loads(orjson.dumps(docs[1])))[1]
    assert ann.summary_text is not None
    ann.add("email", "identifiers", False, "allow", 1)
    assert ann.summary_text is None
    for change in (lambda a: a.count("email", "identifiers", False, None), lambda a: a.merge(Annotations({"x": 1}))):
        ann = native.process_value(orjson.loads(orjson.dumps(docs[1])))[1]
        assert ann.summary_text is not None
        change(ann)
        assert ann.summary_text is None
    # the 13-argument form answers as before
    tally = engine_mod._native_tally
    assert tally is not None
    args: list[Any] = [[], {}, {}, print, {}, None, None, "geolocation", None, {}, {}, print, 2]
    assert tally(*args, True)[5] is None and len(tally(*args)) == 5


def test_native_key_signals_by_identity_follow_each_engine() -> None:
    """The walk finds a key's signal by the key object (orjson hands the same str again);
    engines with other field names, alternating on the very same key objects, and an
    engine whose signal cache was emptied, still answer as their Python paths."""
    plain = _native_engines()
    renamed = _native_engines(PiiConfig(field_names={"note": "us_ssn", "ref": "email"}))  # type: ignore[call-arg]
    ignoring = _native_engines(PiiConfig(ignore_fields=["ssn", "email"]))  # type: ignore[call-arg]
    # (orjson.loads hands out the same key objects on every parse: its key cache)
    doc = orjson.loads(
        b'{"ssn":"219-45-6789","note":"219-45-6789","ref":"jane.roe@example.com","email":"jane.roe@example.com",'
        b'"items":[{"ssn":"219-45-6789","note":"x 219-45-6789 y","ref":"a@b.co"}]}'
    )
    for _ in range(3):
        for native, python in (plain, renamed, ignoring, plain):
            for rules in (None, ActionRules(default=Action.MASK)):
                a = native.process_value(orjson.loads(orjson.dumps(doc)), rules)
                b = python.process_value(orjson.loads(orjson.dumps(doc)), rules)
                assert a[0] == b[0] and a[1] == b[1]
            native._sigs.clear()
    assert plain[0].scan_json(orjson.dumps(doc)) == plain[1].scan_json(orjson.dumps(doc))


def test_native_key_signal_table_lets_keys_and_engines_go() -> None:
    """The C walk's key-signal table holds keys (a map's keys may be data) and the sigs
    dict of the engine they came from: entries age out as other keys come, a new engine
    drops them all, and an engine clearing its sigs drops its own."""
    if engine_mod._native_walk is None:
        pytest.skip("cpragate.pii._cscan not built here (make install builds it)")
    import gc
    import sys
    import weakref

    from cpragate.pii import _cscan

    class Key(str):
        pass  # a str subclass can be weakly referenced: the test sees when a key is freed

    def walk_twice(engine: Engine, doc: dict[str, Any]) -> None:
        engine.process_value(doc)  # a key's signal is made (engine._sigs) ...
        engine.process_value(doc)  # ... and found there, then kept in the table

    first, _ = _native_engines()
    kept = Key("jane.roe@example.com")
    ref = weakref.ref(kept)
    walk_twice(first, {kept: "1", "note": "x"})
    assert _cscan.sig_held() >= 1
    del kept
    first._sigs.clear()  # a plain clear: only the table holds the key now
    gc.collect()
    assert ref() is not None
    old_sigs = first._sigs
    sigs_refs = sys.getrefcount(old_sigs)
    second, _ = _native_engines()  # a new engine (start, reload): the table lets all go
    assert _cscan.sig_held() == 0 and sys.getrefcount(old_sigs) < sigs_refs
    del first, old_sigs  # (the engine's own caches held the key as long as the engine lived)
    gc.collect()
    assert ref() is None
    # entries age out as other keys come: none is kept for ever
    keys = [f"field_{i}" for i in range(64)]
    walk_twice(second, dict.fromkeys(keys, "x"))
    stored = sum(map(sys.getrefcount, keys))
    walk_twice(second, {f"other_{i}": "x" for i in range(8192)})
    aged = sum(map(sys.getrefcount, keys))
    held = _cscan.sig_held()
    _cscan.sig_forget(None)
    # after 8,192 other keys none of the 64 is in the table: forgetting all frees none of them
    assert sum(map(sys.getrefcount, keys)) == aged < stored and 0 < held <= 1024
    walk_twice(second, {"a": 1, "b": 2})
    # an engine clearing its sigs (at 20,000 keys) drops its entries from the table too
    sig = next(iter(second._sigs.values()))
    second._sigs.update({f"pad_{i}": sig for i in range(20_000 - len(second._sigs))})
    second.process_value({"fresh_key_x": "1"})
    assert len(second._sigs) == 1 and _cscan.sig_held() == 0


def test_native_ssn_matcher_with_other_advertising_sets() -> None:
    """value_matcher(1, ...) packs a frozenset of 9-digit strings; a set, or a frozenset with
    another entry, is looked up as before: the answers are the same."""
    if engine_mod._native_matcher is None:
        pytest.skip("cpragate.pii._cscan not built here (make install builds it)")
    from cpragate.pii import validators as v

    make = engine_mod._native_matcher
    fallback = Engine()._recognizers["us_ssn"].match_value
    for listed in (frozenset({"219456789"}), {"219456789"}, frozenset({"219456789", "x"}), frozenset(), set()):
        m = make(1, fallback, listed)
        assert m("219-45-6789") is (not listed)
        assert m("219-45-6788") is True and m("078-05-1120") is True  # (only the given set is consulted)
    m = make(1, fallback, v.SSN_ADVERTISING)
    assert not m("078-05-1120") and not m("123-45-6789") and m("219-45-6789")


def test_native_join_texts_of_many_values() -> None:
    """More values than join_texts keeps on its stack: the same findings and bodies."""
    native, python = _native_engines()
    doc = {f"v{i}": (f"call 415-555-{2600 + i} now" if i % 3 else f"note {i} with nothing") for i in range(40)}
    doc["when"] = "2024-01-02T03:04:05Z"
    _same(native, python, orjson.dumps(doc))
    _same(native, python, orjson.dumps([doc, {"a": "x" * 2000 + " 415-555-2671"}]))


# ------------------------------------------------------------------ scan_texts (one C call)
# _cscan.scan_texts joins the texts and, for prose and addresses, scans and maps them in C;
# any other text goes back to the scanner's Python. Either way the hits must be those of
# the Python reference (join, TextScanner.scan, _map_hits).

_SCAN_WORDS = st.sampled_from(
    ["Dear", "Jane", "Smith", "born", "on", "12", "Main", "Street", "St", "St.", "Springfield", "IL", "62704",
     "Mr.", "María", "1", "Market", "#xxxx", "call", "me", "thanks", "é", "a@b.co", "10:15", "415-555-2671",
     "Apt", "4", "the", "and", "DOB", "Avenue", "my", "name", "is", "Ann", "Lee", "Ave", "CA", "94105", "b-day",
     "Birth", "Dob", "O'Neil", "\u0130", "\u212a", "Suite", "9b", "x" * 40, "1985-03-12", "DE89370400440532013000"]
)  # fmt: skip
_SCAN_TEXT = st.one_of(
    st.lists(_SCAN_WORDS, min_size=1, max_size=14).map(" ".join),
    st.text(alphabet="aZ 09+(-.,:@\x00éMSt", min_size=0, max_size=40),
)
_SCAN_CONFIGS = [
    None,
    PiiConfig(names_in_free_text=False),  # type: ignore[call-arg]
    PiiConfig(entities=["street_address", "person"]),  # type: ignore[call-arg]
    PiiConfig(entities=["person", "date_of_birth"]),  # type: ignore[call-arg]
    PiiConfig(entities=["email", "phone"]),  # type: ignore[call-arg]
    PiiConfig(max_string_chars=1024),  # type: ignore[call-arg]
]


def _scan_both(native: Engine, python: Engine, texts: list[str]) -> tuple[list[Any], list[Any], bool]:
    parent = {f"k{i}": t for i, t in enumerate(texts)}
    refs: list[Any] = [(parent, f"k{i}", None) for i in range(len(texts))]
    fast: list[Any] = []
    native._scan_texts(list(texts), list(refs), fast)
    slow: list[Any] = []
    python._scan_texts(list(texts), list(refs), slow)
    flags = native._scan_flags
    fn = engine_mod._native_scan_texts
    assert fn is not None
    direct: list[Any] = []
    took = fn(list(texts), list(refs), native._max_string_chars, native._scan_quiet, flags, direct) is None
    return fast, slow, took and direct == slow


def _scan_engines(config: PiiConfig | None) -> tuple[Engine, Engine]:
    native, python = _native_engines(config)
    if native._scan_fn is None:
        pytest.skip("_cscan.scan_texts not in this build")
    return native, python


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_SCAN_TEXT, min_size=1, max_size=4), st.sampled_from(range(len(_SCAN_CONFIGS))))
def test_native_scan_texts_equals_the_python_scan(texts: list[str], which: int) -> None:
    native, python = _scan_engines(_SCAN_CONFIGS[which])
    fast, slow, _ = _scan_both(native, python, texts)
    assert fast == slow


def test_native_scan_texts_answers_prose_and_addresses_in_c() -> None:
    """The fixed cases: the benchmark's long street, names after cues, addresses in prose,
    texts that need the Python scanner (numbers, e-mail, a colon, a birth-date cue)."""
    native, python = _scan_engines(None)
    in_c = [
        ["1 Market St #" + "x" * 640, "San Francisco"],
        ["my name is Jane Smith and I live at 12 Main Street, Springfield, IL 62704"],
        ["Dear Ann Lee, thanks for writing", "Springfield"],
        ["nothing to see here, really nothing", "Lake Jennifer is a city"],
        ["Mr. O'Neil lives at 9 Ave Maria", "x" * 400 + " 12 Main Street"],
        ["Dear Ann Lee " + "y " * 40000 + " 12 Main Street"],
        [f"Dear Ann Lee, this is note {'x' * i} for you" for i in range(40)],  # (beyond the stack arrays)
        ["2024-01-02T03:04:05Z", "Lake Jennifer is a city", "0b5e1a1c-8a9e-4bd4-9f0e-1d2c3b4a5f6e", "Mr. Ann Lee"],
    ]
    in_python = [
        ["call 415-555-2671 today please"],
        ["write to a@b.co, Jane Smith"],
        ["at 10:15 Jane Smith came by"],
        ["Jane Smith was born on 1985-03-12 in Springfield"],
        ["\u00e9 Dear Jane Smith, your DOB is on file"],
        ["nothing to see here, really nothing", "\u0130 stanbul is a city \u212a"],  # (non-ASCII: dates' regex)
        [f"Dear Ann Lee, call 415-555-{2600 + i} now" for i in range(40)],
    ]
    for texts in in_c + in_python:
        fast, slow, took = _scan_both(native, python, texts)
        assert fast == slow
        assert took is (texts in in_c), texts
    fast, _, _ = _scan_both(native, python, in_c[0])
    assert [(h[3], h[5]) for h in fast] == [("street_address", (0, 19))]
    fast, _, _ = _scan_both(native, python, in_c[1])
    assert {h[3] for h in fast} == {"person", "street_address"}


def test_native_scan_texts_off_with_custom_recognizers() -> None:
    config = PiiConfig(
        custom_recognizers=[CustomRecognizerConfig(entity="ticket", pattern=r"TK-\d{6}", category="identifiers")]  # type: ignore[call-arg]
    )  # type: ignore[call-arg]
    native, _ = _native_engines(config)
    assert native._scan_fn is None and native._scanner.fast_flags == -1
    assert Engine(native=False)._scanner.fast_flags == -1


def _without_locations(hits: list[Any]) -> list[Any]:
    return [(h[0], h[1], h[3], h[4], h[5], h[6], h[7]) for h in hits]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(NATIVE_JSON, st.sampled_from(["", "Dear Jane Smith, I live at 12 Main Street, Springfield, IL 62704"]))
def test_native_detect_without_paths_differs_only_in_locations(doc: Any, prose: str) -> None:
    """process_value's _detect(paths=False): the C walk and scan leave a single value's
    location None; every other member of every hit, and their order, as with paths and as
    the Python walk (which makes locations regardless)."""
    config = PiiConfig(ignore_fields=["ignored"])  # type: ignore[call-arg]
    native, python = _native_engines(config)
    doc = {"doc": doc, "note": prose} if prose else doc
    with_paths = native._detect(doc)
    without = native._detect(doc, None, False)
    reference = python._detect(doc, None, False)
    assert _without_locations(without) == _without_locations(with_paths) == _without_locations(reference)
    assert with_paths == python._detect(doc)
    for h, full in zip(without, with_paths, strict=True):
        assert h[2] is None or h[2] == full[2]
    assert native.scan_json(orjson.dumps(doc)) == python.scan_json(orjson.dumps(doc))


def test_native_process_value_hits_carry_no_locations() -> None:
    """The demo's record through process_value: the field hits have no location tuple,
    and the outcome is the Python engine's."""
    native, python = _native_engines()
    doc = {"name": "Ada Lovelace", "email": "ada@example.com", "ssn": "219-45-6789", "tags": ["x"],
           "address": {"street": "1 Market St #" + "x" * 400, "city": "San Francisco"},
           "location": {"lat": 37.7749, "lng": -122.4194}, "emails": ["ann@example.com"]}  # fmt: skip
    hits = native._detect(doc, None, False)
    assert [h[3] for h in hits if h[2] is None] == ["email", "us_ssn", "email", "person", "street_address"]
    assert [h[3] for h in hits if h[2] is not None] == ["geolocation"]
    a = native.process_value(orjson.loads(orjson.dumps(doc)), ActionRules(default=Action.MASK))
    b = python.process_value(orjson.loads(orjson.dumps(doc)), ActionRules(default=Action.MASK))
    assert (a[0], a[1]) == (b[0], b[1])
