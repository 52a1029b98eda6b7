"""Recognizers: whole-value checks (telling keys) and anchored matches at candidates.

Vectors: NANP 555-01xx fiction numbers, card-network test numbers, IBAN registry
examples, RFC 5737/3849 documentation addresses.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpragate.pii import recognizers as r

VALUE_CASES = [
    ("email-ok", r.EmailRecognizer, "jane@example.com", True),
    ("email-na", r.EmailRecognizer, "N/A", False),
    ("phone-ok", r.PhoneRecognizer, "(415) 555-0132", True),
    ("phone-word", r.PhoneRecognizer, "unknown", False),
    ("ssn-ok", r.UsSsnRecognizer, "219-45-6789", True),
    ("ssn-bad-area", r.UsSsnRecognizer, "666-45-6789", False),
    ("ssn-mixed-sep", r.UsSsnRecognizer, "219-45 6789", False),
    ("card-ok", r.CreditCardRecognizer, "4111-1111-1111-1111", True),
    ("card-luhn-bad", r.CreditCardRecognizer, "4111111111111112", False),
    ("iban-ok", r.IbanRecognizer, "DE89 3704 0044 0532 0130 00", True),
    ("aba-ok", r.AbaRoutingRecognizer, "011000015", True),
    ("ip-v4", r.IpAddressRecognizer, "192.0.2.1", True),
    ("ip-xff", r.IpAddressRecognizer, "192.0.2.1, 198.51.100.7", True),
    ("ip-bad", r.IpAddressRecognizer, "1.2.3", False),
    ("geo-pair", r.GeolocationRecognizer, "37.7749,-122.4194", True),
    ("geo-out", r.GeolocationRecognizer, "137.7749,-122.4194", False),
    ("dob-ok", r.DateOfBirthRecognizer, "1985-03-12", True),
    ("dob-future", r.DateOfBirthRecognizer, "2999-03-12", False),
    ("dl-ok", r.UsDriverLicenseRecognizer, "D1234567", True),
    ("dl-no-digit", r.UsDriverLicenseRecognizer, "ABCDEF", False),
    ("passport-ok", r.UsPassportRecognizer, "A12345678", True),
    ("passport-short", r.UsPassportRecognizer, "A123", False),
    ("ssn-bare", r.UsSsnRecognizer, "219456789", True),
    ("ssn-spaces", r.UsSsnRecognizer, " 219 45 6789 ", True),
    ("ssn-group-00", r.UsSsnRecognizer, "219-00-6789", False),
    ("ssn-serial-0000", r.UsSsnRecognizer, "219-45-0000", False),
    ("ssn-area-9xx", r.UsSsnRecognizer, "919-45-6789", False),
    ("ssn-advertising", r.UsSsnRecognizer, "078-05-1120", False),
    ("ssn-arabic-digits", r.UsSsnRecognizer, "\u0662\u0661\u0669-45-6789", False),
    ("dl-dashes", r.UsDriverLicenseRecognizer, "a123-456-78-901-0", True),
    ("dl-edge-dash", r.UsDriverLicenseRecognizer, "-1234567", False),
    ("dl-too-long", r.UsDriverLicenseRecognizer, "D" + "1" * 20, False),
    ("passport-9-digits", r.UsPassportRecognizer, "123456789", True),
    ("passport-4-digits", r.UsPassportRecognizer, "ABCD1234", False),
    ("passport-non-ascii-digits", r.UsPassportRecognizer, "A\u0661\u0662\u0663\u0664\u0665\u0666", True),
    ("person-ok", r.PersonRecognizer, "Mary-Jane O'Brien", True),
    ("person-digits", r.PersonRecognizer, "user123", False),
    ("address-ok", r.StreetAddressRecognizer, "1600 Amphitheatre Pkwy", True),
    ("address-empty", r.StreetAddressRecognizer, "  ", False),
]


@pytest.mark.parametrize(("cid", "cls", "value", "expected"), VALUE_CASES, ids=[c[0] for c in VALUE_CASES])
def test_match_value(cid: str, cls: type[r.Recognizer], value: str, expected: bool) -> None:
    ok = cls().match_value(value)
    assert ok is expected, cid


AT_CASES = [
    # (id, recognizer, text, context, expected matched length or None)
    ("phone-dashes", r.PhoneRecognizer, "415-555-0132 later", "", 12),
    ("phone-ext", r.PhoneRecognizer, "415-555-0132x99", "", 15),
    ("phone-bare-no-ctx", r.PhoneRecognizer, "4155550132", "order ", None),
    ("phone-intl-long-group", r.PhoneRecognizer, "+49 30 9018200 after 5pm", "", 14),
    ("phone-intl-ext", r.PhoneRecognizer, "+49 30 9018200 ext. 12, thanks", "", 22),
    ("phone-intl-invalid", r.PhoneRecognizer, "+44 12 then", "", None),
    ("phone-n11", r.PhoneRecognizer, "(611)936-9523 ok", "", 13),
    ("phone-bare-ctx", r.PhoneRecognizer, "4155550132", "call me at ", 10),
    ("ssn-shape", r.UsSsnRecognizer, "219-45-6789.", "", 11),
    ("ssn-bare-no-ctx", r.UsSsnRecognizer, "219456789", "", None),
    ("ssn-bare-ctx", r.UsSsnRecognizer, "219456789", "my ssn is ", 9),
    ("card-visa", r.CreditCardRecognizer, "4111 1111 1111 1111 exp", "", 19),
    ("card-no-iin", r.CreditCardRecognizer, "9111111111111113", "", None),
    ("iban-print", r.IbanRecognizer, "GB82 WEST 1234 5698 7654 32 ok", "", 27),
    ("aba-ctx", r.AbaRoutingRecognizer, "011000015", "routing ", 9),
    ("aba-no-ctx", r.AbaRoutingRecognizer, "011000015", "", None),
    ("ipv4", r.IpAddressRecognizer, "192.0.2.1.", "", 9),
    ("ipv4-version", r.IpAddressRecognizer, "1.2.3.4.5", "", None),
    ("geo", r.GeolocationRecognizer, "37.774912, -122.419415.", "", 22),
    ("geo-prices", r.GeolocationRecognizer, "19.99, 5.49", "", None),
    # a float prints without trailing zeros: -48.6600 -> -48.66
    ("geo-trailing-zeros", r.GeolocationRecognizer, "-48.66, -91.487 near", "", 15),
    ("geo-two-decimals-each", r.GeolocationRecognizer, "12.50, 33.25", "", None),
    ("geo-out-of-range", r.GeolocationRecognizer, "95.1234, 10.123", "", None),
    ("dob-ctx", r.DateOfBirthRecognizer, "1985-03-12", "born on ", 10),
    ("dob-no-ctx", r.DateOfBirthRecognizer, "1985-03-12", "shipped ", None),
    ("dob-not-a-timestamp", r.DateOfBirthRecognizer, "2022-10-17T16:11:55Z", "dob 06/03/1970. paid ", None),
    ("dl-ctx", r.UsDriverLicenseRecognizer, "D1234567", "driver's license ", 8),
    ("passport-ctx", r.UsPassportRecognizer, "A12345678", "passport ", 9),
    ("address", r.StreetAddressRecognizer, "12 Main Street, Springfield, IL 62704.", "", 37),
    ("address-no-suffix", r.StreetAddressRecognizer, "3 Items arrived", "", None),
]


@pytest.mark.parametrize(("cid", "cls", "text", "ctx", "length"), AT_CASES, ids=[c[0] for c in AT_CASES])
def test_match_at(cid: str, cls: type[r.Recognizer], text: str, ctx: str, length: int | None) -> None:
    span = cls().match_at(text, 0, ctx)
    got = None if span is None else span[1] - span[0]
    assert got == length, cid


@pytest.mark.parametrize(
    ("cid", "text", "expected"),
    [
        ("cue-customer", "Customer Jane Smith called", ["Jane Smith"]),
        ("dear", "Dear Jane,", ["Jane"]),
        ("regards", "Regards,\nJohn Smith", ["John Smith"]),
        ("initial", "my name is Robert J. Brown", ["Robert J. Brown"]),
        ("no-cue", "The Ergonomic Chair is great", []),
        ("stop-words", "Thanks, Support Team", []),
        # one-word runs: a strong cue before them counts, a weak cue ("to") does not
        ("one-word-strong-cue", "Kind regards, Jane", ["Jane"]),
        ("one-word-weak-cue", "sent it to Jane today", []),
        ("two-words-weak-cue", "sent it to Jane Smith today", ["Jane Smith"]),
        ("cue-word-alone", "Dear, thanks", []),
        ("sentence-start", "Stainless steel bottle", []),
    ],
)
def test_person_in_text(cid: str, text: str, expected: list[str]) -> None:
    got = [text[a:b] for a, b in r.PersonRecognizer().find(text)]
    assert got == expected, cid


def test_email_around_at() -> None:
    text = "write to jane.doe@example.com."
    span = r.EmailRecognizer().around_at(text, text.index("@"))
    assert span == (9, 29)
    assert r.EmailRecognizer().around_at("a @ b", 2) is None


def test_ipv6_at() -> None:
    rec = r.IpAddressRecognizer()
    assert rec.v6_at("2001:db8::1 x", 0) == (0, 11)
    assert rec.v6_at("10:15:30", 0) is None


def test_decimals() -> None:
    assert r.decimals("37.7749") == 4
    assert r.decimals("37") == 0


def test_context_words_are_matched_as_substrings() -> None:
    ssn = r.UsSsnRecognizer()
    assert ssn.has_context("my ssn: ")
    assert ssn.has_context("social security no. ")
    assert not ssn.has_context("order ")
    assert not ssn.has_context("")
    assert not r.IbanRecognizer().has_context("iban ")  # no context words at all


def _random_texts(alphabet: str, n: int, longest: int, seed: int) -> list[str]:
    import random

    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, longest))) for _ in range(n)]


def test_date_pattern_matches_the_plain_alternation() -> None:
    # DATE is DATE_PLAIN rewritten so sre can skip to candidate characters: same matches.
    dob = r.DateOfBirthRecognizer()
    plain, date = dob.DATE_PLAIN, dob.DATE
    alphabet = "0123456789-/. ,JanFebMarAprMayJunJulAugSepOctNovDecstndrdthT abxADFJMNOS"
    texts = _random_texts(alphabet, 20_000, 30, 5)
    texts += ["born 1985-03-12", "DOB: March 12, 1985", "12th March 1985", "03/12/1985", "Sept. 3rd, 1990",
              "1985-03-12T10", "Octoberborn 12, 1990", "on 1 Dec 2001 and Jan 5 1970"]  # fmt: skip
    for text in texts:
        assert [m.span() for m in date.finditer(text)] == [m.span() for m in plain.finditer(text)]
        for pos in range(len(text)):
            a, b = date.match(text, pos), plain.match(text, pos)
            assert (a.span() if a else None) == (b.span() if b else None)


def test_person_value_ascii_path_agrees_with_the_regex() -> None:
    rec = r.PersonRecognizer()
    texts = _random_texts("ab Z'.-\t1_", 30_000, 12, 3)
    texts += ["Steven Gross", "Mary-Jane O'Neil", "J. R. R. Tolkien", "a b c d e", "a b c d e f", "Ann  Lee",
              "Ann -Lee", "Ann .Lee", "Ann 'Lee", "Ann Lee ", "x", "Jos\u00e9 \u00c1lvarez", "A1", "a_b"]  # fmt: skip
    for text in texts:
        s = text.strip()
        expected = 2 <= len(s) <= 80 and rec._VALUE.fullmatch(s) is not None
        assert rec.match_value(text) is expected


def test_email_local_part_walk_agrees_with_the_regex() -> None:
    rec = r.EmailRecognizer()
    texts = _random_texts("ab.'@ x_\n-\x00\u00e9", 20_000, 20, 9)
    texts += ["Contact john.doe@example.com now", "'.a@b.co", "\n@x.io", "a\n@x.io", "x" * 70 + "@b.co"]
    for text in texts:
        for at in (i for i, c in enumerate(text) if c == "@"):
            m = rec._LOCAL_TAIL.search(text, max(0, at - 64), at)
            got = rec.around_at(text, at)
            if m is None:
                assert got is None
            else:
                start = m.start()
                while start < at and text[start] in ".'":
                    start += 1
                d = rec._DOMAIN.match(text, at + 1)
                assert got == (None if start == at or d is None else (start, d.end()))


def test_cue_lookup_is_endswith() -> None:
    for before in ["my name is", "xname is", "dear", "into", "to", "", "-", "hello,", "thank you,", "i'm", "from",
                   "mr.", "abc", "attn", "cc:", "\u2014", "customer", "named"]:  # fmt: skip
        assert r._cued(before, r._CUES_BY_LAST) is before.endswith(r.NAME_CUES)


# PersonRecognizer.find's capitalized runs in C (_cscan.name_runs) must be _RUN's matches:
# the alphabet holds every class edge of _RUN (capitals, small letters, - ' . space tab,
# word characters before a capital, Unicode letters and digits, which \w matches).
_RUN = r.PersonRecognizer()._RUN
_RUN_ALPHABET = "ABZabz-'. \t_1\u00e9\u00c9\u0663\u4e00,"


def _native_runs() -> Callable[[str, int, int], list[tuple[int, int]]]:
    if r._native_runs is None:
        if os.environ.get("CI") == "true":
            pytest.fail("cpragate.pii._cscan is not loaded in CI (make install builds it)")
        pytest.skip("cpragate.pii._cscan not built here (make install builds it)")
    return r._native_runs


@settings(max_examples=4000)
@given(st.text(alphabet=_RUN_ALPHABET, max_size=40), st.integers(-2, 42), st.integers(-2, 42))
def test_native_name_runs_equal_the_regex(text: str, start: int, end: int) -> None:
    expected = [m.span() for m in _RUN.finditer(text, start, end)]
    assert _native_runs()(text, start, end) == expected


def test_native_name_runs_on_names_and_every_string_kind() -> None:
    texts = ["Dear Jane Q. Public-Smith, regards Mary O'Neil", "aJane Doe", "_Ann Lee", "\u00e9Ann Lee",
             "Ann B.\tCole Dee Eve Fay", "Jo-A Li", "Ann Lee \U0001f600 Bo Wu", "Mr. X. Y. Zed"]  # fmt: skip
    for text in texts:
        for a in range(len(text)):
            expected = [m.span() for m in _RUN.finditer(text, a, len(text) - 1)]
            assert _native_runs()(text, a, len(text) - 1) == expected
        assert r.PersonRecognizer().find(text, 0, None, True) == r.PersonRecognizer().find(text, 0, None, False)


# PersonRecognizer.find whole in C (_cscan.person_find) must give the Python path's spans:
# cue phrases and words (also as capitalized or dotted words inside a run), stop words at
# both ends of a run, weak cues before one and two words, initials, words longer than the
# C key (32), and text before a run that is not ASCII (lowered by str.lower(), whose case
# maps may change its length: "\u0130", the Kelvin sign), Unicode spaces and the em dash.
_CUE_TOKENS = [*r.NAME_CUES, "Dear", "DEAR", "Mr.", "Dr", "Customer", "Contact:", "Attn", "Thanks,", "Best",
               "Regards", "Signed", "Hi", "Agent", "Named", "Jane", "Roe", "Mary-Ann", "O'Neil", "J.", "Q.",
               "The", "Street", "March", "Ok", "I", "Ab", "Xy-Zw", "Mc'Donald", "x", "42", ",", ".", ":", "-",
               "\u0130", "\u212a", "\u00e9t\u00e9", "\u00c9mile", "\u00a0", "\x1c", "\u2003", "\u2014",
               "\U0001f600", "Abcdefghijklmnopqrstuvwxyzabcdefgh", "Jabcdefghijklmnopqrstuvwxyzabcdefg"]  # fmt: skip


def _native_find() -> Callable[[str, int, int], list[tuple[int, int]]]:
    if r._native_find is None:
        if os.environ.get("CI") == "true":
            pytest.fail("cpragate.pii._cscan is not loaded in CI (make install builds it)")
        pytest.skip("cpragate.pii._cscan not built here (make install builds it)")
    return r._native_find


@settings(max_examples=6000, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(_CUE_TOKENS), st.sampled_from(["", " ", " ", "\t", ", ", "  ", "\n"])), max_size=14),
    st.integers(-2, 60),
    st.integers(-2, 400),
)
def test_native_person_find_equals_the_python_path(parts: list[tuple[str, str]], start: int, end: int) -> None:
    text = "".join(w + sep for w, sep in parts)
    person = r.PersonRecognizer()
    assert _native_find()(text, start, end) == person.find(text, start, end, native=False)
    assert person.find(text) == person.find(text, 0, None, native=False)


def test_native_person_find_on_long_runs_and_every_string_kind() -> None:
    person = r.PersonRecognizer()
    long = "Jabcdefghijklmnopqrstuvwxyz" * 12
    texts = ["Dear Jane Q. Public-Smith, regards Mary O'Neil", "my name is Ann Lee Customer", "To Bo", "to Bo Wu",
             "from Ann", "Contact Ann Lee", "Dear Street March", "thanks, The Ann Lee Street", "hi " + long,
             f"dear {long} Ann {long} Agent", "\u0130 Mr Ann Lee", "\u212ar. Ann", "\u2014 Ann Lee",
             "\u2014Ann", "name:\u00a0Ann Lee", "name:\x1cAnn", "\u00e9 dear Ann Lee \U0001f600 dear Bo Wu",
             "cc: Ann B.\tCole Dee Eve Fay", "Mr. X. Y. Zed", "Customer Agent Contact", "Dear Jane Agent"]  # fmt: skip
    for text in texts:
        for a in range(-1, len(text) + 1, 3):
            assert _native_find()(text, a, len(text)) == person.find(text, a, None, native=False)
            assert _native_find()(text, 0, a) == person.find(text, 0, a, native=False)


# DateOfBirthRecognizer.DATE's matches in C (_cscan.date_matches) must be the regex's:
# digits (ASCII and Unicode, which \d matches), every separator, ordinal suffix, month
# abbreviation letter and the T of a timestamp.
_DATE_ALPHABET = "0129-/., TstndrhJanFebMayOctDecSepuglyx\u0663"


def _native_dates() -> Callable[[str, int, int], list[tuple[int, int]]]:
    from cpragate.pii import textscan

    if textscan._native_dates is None:
        if os.environ.get("CI") == "true":
            pytest.fail("cpragate.pii._cscan is not loaded in CI (make install builds it)")
        pytest.skip("cpragate.pii._cscan not built here (make install builds it)")
    return textscan._native_dates


@settings(max_examples=6000)
@given(st.text(alphabet=_DATE_ALPHABET, max_size=36), st.integers(-2, 38), st.integers(-2, 38))
def test_native_dates_equal_the_regex(text: str, start: int, end: int) -> None:
    date = r.DateOfBirthRecognizer().DATE
    assert _native_dates()(text, start, end) == [m.span() for m in date.finditer(text, start, end)]


def test_native_dates_on_date_forms() -> None:
    date = r.DateOfBirthRecognizer().DATE
    texts = ["born 1985-03-12", "DOB: March 12, 1985", "12th March 1985", "03/12/1985", "Sept. 3rd, 1990",
             "1985-03-12T10", "1985-3-1T", "Octoberborn 12, 1990", "on 1 Dec 2001 and Jan 5 1970", "3.4.19855",
             "May 1st, 2000", "21st Jun., 2001", "1/2/2003\u0663", "12 Mayday 1999", "\u00e9 9 Feb 1999"]  # fmt: skip
    texts += _random_texts("0123456789-/. ,JanFebMarAprMayJunJulAugSepOctNovDecstndrdthT abxADFJMNOS", 5000, 30, 11)
    for text in texts:
        assert _native_dates()(text, 0, len(text)) == [m.span() for m in date.finditer(text)]
