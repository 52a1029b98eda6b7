"""The prefilter + dispatch: one pass finds every entity; decoys stay out."""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpragate.pii import textscan
from cpragate.pii.categories import BUILTIN
from cpragate.pii.textscan import SEP, Candidate, CustomPattern, TextScanner, _non_overlapping


def scanner(**kw: object) -> TextScanner:
    return TextScanner(frozenset(BUILTIN), [], True)


POSITIVE = [
    ("email", "mail jane@example.com now", "email"),
    ("phone", "call 415-555-0132", "phone"),
    ("phone-intl", "ring +44 20 7946 0958", "phone"),
    ("ssn", "ssn 219-45-6789", "us_ssn"),
    ("card", "card 4111 1111 1111 1111", "credit_card"),
    ("iban", "pay GB82WEST12345698765432", "iban"),
    ("ipv4", "from 192.0.2.1", "ip_address"),
    ("ipv6", "from 2001:db8::8a2e:370:7334 now", "ip_address"),
    ("geo", "at 37.774912, -122.419415", "geolocation"),
    ("geo-short-lat", "last seen at 4.2116, -31.9025 near the depot", "geolocation"),
    ("geo-short-both", "pin: 35.482, -161.902404", "geolocation"),
    ("phone-intl-groups", "Call me back at +49 30 9018202 after 5pm.", "phone"),
    ("phone-n11", "You can reach her on 411-316-3406x68285.", "phone"),
    ("dob", "she was born on March 5, 1985", "date_of_birth"),
    ("dl", "driver license D1234567", "us_driver_license"),
    ("passport", "passport number A12345678", "us_passport"),
    ("aba", "routing 011000015", "aba_routing"),
    ("address", "lives at 12 Main Street", "street_address"),
    ("person", "Dear Jane Smith, hello", "person"),
]


@pytest.mark.parametrize(("cid", "text", "entity"), POSITIVE, ids=[c[0] for c in POSITIVE])
def test_finds(cid: str, text: str, entity: str) -> None:
    entities = [h[2] for h in scanner().scan(text)]
    assert entity in entities, cid


DECOYS = [
    ("uuid", "3f2a9c1e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"),
    ("timestamp", "2024-03-05T10:15:30Z"),
    ("order", "ORD-2024-000123"),
    ("price", "19.99"),
    ("version", "1.2.3"),
    ("bad-luhn", "4111111111111112"),
    ("nine-digits", "483920175"),
    ("ten-digit-id", "8837465521"),
    ("sku", "SKU-88213-XL"),
    ("time", "10:15:30"),
    ("prices-list", "Paid 19.99, 5.49 and 3.25 today"),
    ("version-list", "versions 1.20, 2.31"),
]


@pytest.mark.parametrize(("cid", "text"), DECOYS, ids=[c[0] for c in DECOYS])
def test_decoys(cid: str, text: str) -> None:
    hits = scanner().scan(text)
    assert hits == [], cid


def test_joined_values_do_not_merge() -> None:
    text = SEP.join(["415", "555", "0132"])
    assert scanner().scan(text) == []


def test_custom_pattern_with_context_and_validator() -> None:
    cp = CustomPattern("member_id", re.compile(r"M-\d{6}"), None, ("member",), False)
    sc = TextScanner(frozenset(BUILTIN), [cp], True)
    assert [h[2] for h in sc.scan("member M-123456")] == ["member_id"]
    assert sc.scan("order M-123456") == []


def test_non_overlapping_prefers_longer() -> None:
    assert _non_overlapping([(0, 5, "a", False), (2, 12, "b", False), (20, 22, "c", False)]) == [
        (2, 12, "b", False),
        (20, 22, "c", False),
    ]


def test_timestamp_after_a_birth_date_is_not_one() -> None:
    text = "DOB 06/03/1970 per the form. Paid 2022-10-17T16:11:55.439575Z today."
    hits = [(text[a:b], e) for a, b, e, _ in scanner().scan(text)]
    assert hits == [("06/03/1970", "date_of_birth")]


@pytest.mark.parametrize(
    ("cid", "values", "expected"),
    [
        ("cue-in-sentence", ["Kind regards, Jane Smith from support"], ["Jane Smith"]),
        ("no-cue-anywhere", ["Stainless steel bottle with Lid"], []),
        # a cue that ends another value does not count (the NUL between them is no space)
        ("cue-in-previous-value", ["Regards,", "John Smith wrote this long text"], []),
        ("cue-at-sentence-start", ["Regards, John Smith wrote this long text"], ["John Smith"]),
        ("non-ascii-text", ["Caf\u00e9 news \u2014 Dear Jane Smith, thanks for all"], ["Jane Smith"]),
    ],
)
def test_names_only_after_cues(cid: str, values: list[str], expected: list[str]) -> None:
    text = SEP.join(values)
    start = len(text) - len(values[-1])
    hits = scanner().scan(text, [(start, len(text))])
    assert [text[a:b] for a, b, e, _ in hits if e == "person"] == expected, cid


# ------------------------------------------------------------------ the C prefilter
# cpragate.pii._cscan.candidates must return exactly what _candidates_py returns, which
# is _CAND's matches, classified: the alphabet below holds every character class edge of
# _CAND (digits, the run's separators, ASCII letters either side of a word boundary,
# Unicode digits and spaces, which \d and \s match, NUL).

_ALPHABET = "0123456789 ().+/-,:TAZBaz_\x00\t\n\u00a0\u2003\u0663\u00e9\u4e00"


def _native() -> Callable[[str], list[Candidate]]:
    if textscan._native_candidates is None:
        if os.environ.get("CI") == "true":
            pytest.fail("cpragate.pii._cscan is not loaded in CI (make install builds it)")
        pytest.skip("cpragate.pii._cscan not built here (make install builds it)")
    return textscan._native_candidates


def test_candidates_py_is_the_prefilter() -> None:
    text = "ssn 219-45-6789\x00at 4.2116, -31.9025 and 12 Main St\x00GB82WEST12345698765432 2025-07-16T00:48:30Z"
    assert [(c[0], c[1]) for c in textscan._candidates_py(text)] == [m.span() for m in textscan._CAND.finditer(text)]
    kinds = [c[2] for c in textscan._candidates_py(text)]
    assert kinds == [2, 4, 3, 1]


@settings(max_examples=2000)
@given(st.text(alphabet=_ALPHABET, max_size=60))
def test_native_candidates_equal_python(text: str) -> None:
    assert _native()(text) == textscan._candidates_py(text)


@pytest.mark.parametrize("width", [1, 2, 4])  # the three str storage kinds
def test_native_candidates_on_every_string_kind(width: int) -> None:
    wide = {1: "\u00e9", 2: "\u4e00", 4: "\U0001f600"}[width]
    text = f"{wide} call 415-555-0132\x00{'x' * 60} 4.21, -3.1{wide} A12345678 19 Elm Road 2025-07-16T00:48:30"
    assert _native()(text) == textscan._candidates_py(text)


@settings(max_examples=3000)
@given(st.text(alphabet="bBoOrRnNiItThHdDaAyY-. x\x00", max_size=30), st.integers(-2, 32), st.integers(-2, 32))
def test_native_dob_gate_equals_the_regex(text: str, start: int, end: int) -> None:
    if textscan._native_dob_gate is None:
        _native()  # skips (or fails in CI) like the prefilter tests
    assert textscan._native_dob_gate is not None
    expected = textscan._DOB_GATE.search(text.lower(), start, end) is not None
    assert textscan._native_dob_gate(text, start, end) is expected


@settings(max_examples=3000)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 12), st.sampled_from(["a", "b", "c"])), max_size=12))
def test_native_non_overlapping_equals_python(spans: list[tuple[int, int, str]]) -> None:
    _native()  # skips (or fails in CI) when _cscan is not loaded
    assert textscan._native_non_overlapping is not None
    hits = [(s, s + n, e, n % 2 == 0) for s, n, e in spans]
    assert textscan._native_non_overlapping(list(hits)) == _non_overlapping(list(hits))


# StreetAddressRecognizer.TEXT.match in C (_cscan.address_at) must give the regex's span at
# every start: house numbers of every length (Unicode digits too, which \d matches), the
# lazy 1-4 words, suffixes and their near misses ("Streets", "Stx", "St_", "Ste"), \b
# before a dot, units, the city/state/ZIP tail and its near misses, every \s kind, NUL.
_TEXT = textscan.StreetAddressRecognizer().TEXT
_ADDRESS_FIXED = [
    "12 Main Street", "12 Main St", "12 Main St.", "12 Main St.Louis", "12 Main Stx", "12 Main St_", "12 Main St5",
    "12 Main Streets", "12 Main Streetsx", "12 Bluff Bluffs", "1 Old Mill Park Ave", "1 A B C D Ave", "1 A B C D E Ave",
    "1234567 Main St", "123456 Main St", "0 Elm Rd, Apt. 4", "0 Elm Rd Apt 4B", "0 Elm Rd, Apt.4", "0 Elm Rd Apt.",
    "0 Elm Rd, Suite 200", "0 Elm Rd Suite200x9", "0 Elm Rd Unity 5", "0 Elm Rd Ste. 12-A", "0 Elm Rd, Ste 9",
    "0 Elm Rd #4", "0 Elm Rd # 4", "0 Elm Rd #", "0 Elm Rd, #a_b-cdef", "9 Oak Ln, Springfield, IL 62704",
    "9 Oak Ln Springfield, IL 62704-1234", "9 Oak Ln, San Luis Obispo, CA 93401", "9 Oak Ln, A B C D E, CA 93401",
    "9 Oak Ln, Apt 3, Portland, OR 97201", "9 Oak Ln, Portland, Or 97201", "9 Oak Ln, Portland, OR 9720",
    "9 Oak Ln, Portland, OR 97201-12", "9 Oak Ln, Portland,OR 97201", "9 Oak Ln Portland OR 97201",
    "1 Market St #" + "x" * 640, "1 Market St\x00#4", "1\tMarket\nSt\u00a0Apt\u30004", "\u0661\u0662 Main St",
    "12 \u00c9lan Ave", "12 Main Av\u00e9", "12 Main Ave\u00e9", "12 O'Neil-Smith Blvd.", "12 Main Drives", "5 Main",
    "5 Main St, Apt 4, Boise, ID 83702-0001 and more", "5 Main Rd,", "5 Main Rd, ", "5 Main Rd, Apt", "5 Main Rd,\u2028Unit 7",
]  # fmt: skip


def _address_at() -> Callable[[str, int], tuple[int, int] | None]:
    _native()  # skips (or fails in CI) when _cscan is not loaded
    assert textscan._native_address is not None
    return textscan._native_address


def _assert_address_matches(text: str) -> None:
    address_at = _address_at()
    for start in range(-1, len(text) + 2):
        m = _TEXT.match(text, max(start, 0))
        assert address_at(text, start) == (m.span() if m is not None else None), (text, start)


@pytest.mark.parametrize("text", _ADDRESS_FIXED)
def test_native_address_equals_the_regex(text: str) -> None:
    _assert_address_matches(text)
    _assert_address_matches(f"\u4e00 {text} \U0001f600")  # the two wider str kinds


_ADDRESS_WORDS = ["12", "1", "123456", "1234567", "\u0663", "Main", "Old", "O'Neil", "Mc-Do.", "A", "St", "St.", "Street",
                  "Streets", "Stx", "St_", "Ave", "Avenue", "Av", "Bluff", "Bluffs", "Drives", "Ste", "Ste.", "Apt",
                  "Apt.", "Suite", "Unit", "#", "#4", "4B", "12-A", "x_y", "San", "Luis", "Portland,", "CA", "OR", "Or",
                  "94107", "94107-1234", "9410", "\u00c9lan", "main", ",", "\x00"]  # fmt: skip
_ADDRESS_SEPS = [" ", " ", " ", ", ", ",", "", "\t", "\n", "\u00a0", "\u3000", "\x00", "."]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_ADDRESS_WORDS), st.sampled_from(_ADDRESS_SEPS)), max_size=14))
def test_native_address_equals_the_regex_on_generated_text(parts: list[tuple[str, str]]) -> None:
    _assert_address_matches("".join(w + s for w, s in parts))


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet="19 \t,.#-'_AZaSstTeRdvCO\u00e9\u0663\x00", max_size=30))
def test_native_address_equals_the_regex_on_random_text(text: str) -> None:
    _assert_address_matches(text)


def test_street_suffix_words_are_the_alternation() -> None:
    from cpragate.pii.recognizers import _SUFFIXES, STREET_SUFFIX_WORDS

    alternation = re.compile("(?:" + "|".join(_SUFFIXES) + r")\Z")
    assert all(alternation.match(w) for w in STREET_SUFFIX_WORDS)
    assert len(STREET_SUFFIX_WORDS) == sum(2 if s.endswith("s?") else 1 for s in _SUFFIXES)


def test_scanner_addresses_equal_on_both_paths() -> None:
    texts = [f"ship to {t} today" for t in _ADDRESS_FIXED] + [SEP.join(_ADDRESS_FIXED)]
    for text in texts:
        assert TextScanner(frozenset(BUILTIN), [], True).scan(text) == TextScanner(
            frozenset(BUILTIN), [], True, native=False
        ).scan(text)


# The skip loops of candidates, name_runs and dob_gate test eight bytes at a time in
# 1-byte (Latin-1) text: long runs of characters they skip, with the candidates, capitals
# and cue letters at every offset in a block and Latin-1 bytes whose low seven bits are a
# digit, a capital or b/d (\xb0 \xc1 \xda \xc2 \xe2 \xe4), which must not count.
_BLOCK_FILL = "xxxxxxxxxxxxxxx  ,,..  \xb0\xc1\xda\xc2\xe2\xe4\xe9"


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 40), st.sampled_from(["1", "12 Main St", "A12345", "+1 415 555 0132", "(", "Ann",
                                                            "born", "DOB", "b", "d", "Z", "\x00", "4.21, -3.1", "x"])),
             max_size=8),
    st.randoms(use_true_random=False),
)  # fmt: skip
def test_native_skip_loops_equal_python(parts: list[tuple[int, str]], rnd: object) -> None:
    import random

    assert isinstance(rnd, random.Random)
    text = "".join("".join(rnd.choice(_BLOCK_FILL) for _ in range(n)) + piece for n, piece in parts)
    assert _native()(text) == textscan._candidates_py(text)
    runs = textscan.PersonRecognizer()._RUN
    for a, b in ((0, len(text)), (3, len(text) - 2), (9, 17)):
        assert textscan.PersonRecognizer().find(text, a, b, True) == textscan.PersonRecognizer().find(text, a, b, False)
        from cpragate.pii.recognizers import _native_runs

        assert _native_runs is not None
        assert _native_runs(text, a, b) == [m.span() for m in runs.finditer(text, a, b)]
        ascii_text = text.encode("ascii", "replace").decode()
        assert textscan._native_dob_gate is not None
        expected = textscan._DOB_GATE.search(ascii_text.lower(), a, b) is not None
        assert textscan._native_dob_gate(ascii_text, a, b) is expected
