"""Validators: table-driven positive and negative vectors with their public sources.

Assertions compare booleans computed beforehand and name the case id, so a failure
never prints the vector itself.
"""

from __future__ import annotations

import ipaddress
import os
import random
from collections.abc import Callable
from datetime import date

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpragate.pii import validators as v

# Card numbers: the payment networks' published test numbers (Stripe docs "Testing",
# PayPal sandbox test cards); negatives flip the last digit.
LUHN = [
    ("visa-16", "4111111111111111", True),
    ("visa-13", "4222222222222", True),
    ("mc-16", "5555555555554444", True),
    ("mc-2series", "2223003122003222", True),
    ("amex-15", "378282246310005", True),
    ("discover", "6011111111111117", True),
    ("jcb", "3566002020360505", True),
    ("diners-14", "36227206271667", True),
    ("grouped-spaces", "4111 1111 1111 1111", True),
    ("grouped-dashes", "5555-5555-5555-4444", True),
    ("visa-bad-check", "4111111111111112", False),
    ("too-short", "411111111111", False),
    ("too-long", "41111111111111111111", False),
    ("letters", "abcd", False),
]


@pytest.mark.parametrize(("cid", "value", "expected"), LUHN, ids=[c[0] for c in LUHN])
def test_luhn(cid: str, value: str, expected: bool) -> None:
    ok = v.luhn_valid(value)
    assert ok is expected, cid


@pytest.mark.parametrize(
    ("cid", "digits", "expected"),
    [
        ("visa", "4111111111111111", True),
        ("mc-51", "5105105105105100", True),
        ("mc-2221", "2221000000000009", True),
        ("amex", "378282246310005", True),
        ("discover-65", "6500000000000002", True),
        ("jcb", "3530111333300000", True),
        ("unknown-9", "9111111111111111", False),
        ("unknown-1", "1234567812345670", False),
        ("empty", "", False),
    ],
)
def test_card_brand(cid: str, digits: str, expected: bool) -> None:
    ok = v.card_brand_known(digits)
    assert ok is expected, cid


# SSN rules: SSA POMS RM 10201.035 and the 2011 randomization notice.
SSN = [
    ("valid-dashes", "219-45-6789", True),
    ("valid-bare", "219456789", True),
    ("valid-spaces", "521 45 6789", True),
    ("area-000", "000-12-3456", False),
    ("area-666", "666-12-3456", False),
    ("area-9xx", "912-34-5678", False),
    ("group-00", "219-00-6789", False),
    ("serial-0000", "219-45-0000", False),
    ("woolworth", "078-05-1120", False),
    ("eight-digits", "21945678", False),
]


@pytest.mark.parametrize(("cid", "value", "expected"), SSN, ids=[c[0] for c in SSN])
def test_ssn(cid: str, value: str, expected: bool) -> None:
    ok = v.ssn_valid(value)
    assert ok is expected, cid


# IBAN examples: SWIFT IBAN Registry (one per country) and Wikipedia "International Bank
# Account Number" (the GB82 WEST example).
IBAN = [
    ("gb-registry", "GB29NWBK60161331926819", True),
    ("gb-wikipedia", "GB82WEST12345698765432", True),
    ("de", "DE89370400440532013000", True),
    ("fr", "FR1420041010050500013M02606", True),
    ("nl", "NL91ABNA0417164300", True),
    ("no-shortest", "NO9386011117947", True),
    ("print-format", "GB82 WEST 1234 5698 7654 32", True),
    ("lowercase", "gb82west12345698765432", True),
    ("bad-check", "GB82WEST12345698765433", False),
    ("bad-length", "DE8937040044053201300", False),
    ("unknown-country", "XX82WEST12345698765432", False),
    ("short", "GB82", False),
]


@pytest.mark.parametrize(("cid", "value", "expected"), IBAN, ids=[c[0] for c in IBAN])
def test_iban(cid: str, value: str, expected: bool) -> None:
    ok = v.iban_valid(value)
    assert ok is expected, cid


# ABA: Federal Reserve Bank routing numbers published on frbservices.org (011000015 is
# the FRB Boston), and the ABA checksum.
ABA = [
    ("frb-boston", "011000015", True),
    ("chase-ny", "021000021", True),
    ("bofa-ca", "121000358", True),
    ("bad-check", "011000016", False),
    ("bad-prefix", "991000015", False),
    ("eight", "01100001", False),
]


@pytest.mark.parametrize(("cid", "value", "expected"), ABA, ids=[c[0] for c in ABA])
def test_aba(cid: str, value: str, expected: bool) -> None:
    ok = v.aba_valid(value)
    assert ok is expected, cid


# Phone: NANP 555-01xx fiction range and libphonenumber's example numbers.
PHONE = [
    ("nanp-dashes", "415-555-0132", True),
    ("nanp-parens", "(415) 555-0132", True),
    ("nanp-dots", "415.555.0132", True),
    ("nanp-plus1", "+1 415 555 0132", True),
    ("nanp-001", "001-415-555-0132", True),
    ("nanp-ext", "415-555-0132x123", True),
    ("nanp-bare", "4155550132", True),
    ("uk-intl", "+44 20 7946 0958", True),
    ("de-intl", "+49 30 901820", True),
    ("de-intl-long-group", "+49 30 9018200", True),
    ("fr-intl-pairs", "+33 1 42 68 53 00", True),
    ("npa-starts-1", "115-555-0132", False),
    ("nxx-starts-0", "415-055-0132", False),
    # N11 service codes are never assigned, but a number written with one is still a
    # phone number someone typed (test data, placeholders): same shape, same treatment.
    ("n11", "411-555-0132", True),
    ("intl-unknown-cc", "+999 1234 5678", False),
    ("intl-too-long", "+44 20 7946 0958 1234 5678", False),
    ("too-short", "555-0132", False),
    ("intl-invalid", "+44 12", False),
]


@pytest.mark.parametrize(("cid", "value", "expected"), PHONE, ids=[c[0] for c in PHONE])
def test_phone(cid: str, value: str, expected: bool) -> None:
    ok = v.phone_valid(value)
    assert ok is expected, cid


def test_intl_phone_agrees_with_phonenumbers() -> None:
    """The compiled fast path gives phonenumbers.is_valid_number's answer: each region's
    example numbers, one-digit variations of them and random digit strings."""
    rng = random.Random(5)
    checked = valid = 0
    for cc, regions in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()):
        if cc == 1:
            continue  # NANP: our own structural check, tested above
        for region in regions:
            ex = (
                phonenumbers.example_number_for_non_geo_entity(cc)
                if region == "001"
                else phonenumbers.example_number(region)
            )
            base = str(ex.national_number) if ex is not None else ""
            for i in range(4):
                if base and i < 3:
                    digits = list(base)
                    digits[rng.randrange(len(digits))] = str(rng.randrange(10))
                    national = "".join(digits) if i else base
                else:
                    national = "".join(str(rng.randrange(10)) for _ in range(rng.randint(5, 12)))
                text = f"+{cc} {national}"
                try:
                    ref = phonenumbers.is_valid_number(phonenumbers.parse(text, None))
                except phonenumbers.NumberParseException:
                    ref = False
                assert v.phone_valid(text) is ref, f"country code {cc}, region {region}, variant {i}"
                checked += 1
                valid += ref
    assert checked > 800
    assert valid > 300  # the comparison covered valid numbers, not only rejections


# IP: RFC 5737 / RFC 3849 documentation ranges.
IP = [
    ("v4", "192.0.2.1", True),
    ("v4-zero", "0.0.0.0", True),
    ("v4-octet-256", "192.0.2.256", False),
    ("v4-leading-zero", "192.0.02.1", False),
    ("v4-three-parts", "192.0.2", False),
    ("v6-full", "2001:0db8:0000:0000:0000:ff00:0042:8329", True),
    ("v6-compressed", "2001:db8::ff00:42:8329", True),
    ("v6-loopback", "::1", True),
    ("v6-bad", "2001:db8:::1", False),
    ("time", "10:15:30", False),
]


@pytest.mark.parametrize(("cid", "value", "expected"), IP, ids=[c[0] for c in IP])
def test_ip(cid: str, value: str, expected: bool) -> None:
    ok = v.ip_valid(value)
    assert ok is expected, cid


@pytest.mark.parametrize(
    ("cid", "value", "expected"),
    [
        ("plain", "jane.doe@example.com", True),
        ("plus", "jane+tag@mail.example.org", True),
        ("no-tld", "jane@localhost", False),
        ("numeric-tld", "jane@host.123", False),
        ("no-at", "jane.example.com", False),
        ("two-at", "a@b@example.com", False),
    ],
)
def test_email(cid: str, value: str, expected: bool) -> None:
    ok = v.email_valid(value)
    assert ok is expected, cid


@pytest.mark.parametrize(
    ("cid", "value", "expected"),
    [
        ("iso", "1985-03-12", date(1985, 3, 12)),
        ("iso-time", "1985-03-12T00:00:00Z", date(1985, 3, 12)),
        ("us", "03/12/1985", date(1985, 3, 12)),
        ("dmy", "25.12.1985", date(1985, 12, 25)),
        ("words", "March 12, 1985", date(1985, 3, 12)),
        ("words-dmy", "12 March 1985", date(1985, 3, 12)),
        ("bad-month", "1985-13-12", None),
        ("garbage", "yesterday", None),
    ],
)
def test_parse_date(cid: str, value: str, expected: date | None) -> None:
    got = v.parse_date(value)
    assert got == expected, cid


def test_dob_bounds() -> None:
    today = date(2024, 1, 1)
    assert v.dob_plausible("1985-03-12", today)
    assert not v.dob_plausible("1850-03-12", today)
    assert not v.dob_plausible("2030-03-12", today)


def test_latlng() -> None:
    assert v.latlng_valid(37.7749, -122.4194)
    assert not v.latlng_valid(91.0, 0.5)
    assert not v.latlng_valid(10.0, 181.0)
    assert not v.latlng_valid(0, 0)


def test_registry_names() -> None:
    assert set(v.VALIDATORS) >= {"luhn", "iban", "aba", "ssn", "phone", "ip"}
    assert v.VALIDATORS["luhn"]("4111111111111111")


def _ipv6_reference(value: str) -> bool:
    if ":" not in value or len(value) > 45:
        return False
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def test_ipv6_agrees_with_ipaddress() -> None:
    """The hexadecimal-form regex accepts only addresses, and with the ipaddress fallback
    the answer is ipaddress's: random addresses in every text form, and corrupted ones."""
    rng = random.Random(11)
    cases = ["::", "::1", "1::", "1:2:3:4:5:6:7::", "::ffff:192.0.2.1", "fe80::1%eth0", ":::",
             "1:2:3:4:5:6:7:8:9", "12345::", "10:15:30", "2001:db8::1::2", "g::1"]  # fmt: skip
    for _ in range(3000):
        bits = rng.getrandbits(rng.choice([128, 64, 16]))
        a = ipaddress.IPv6Address(bits << rng.choice([0, 0, 64]) & (2**128 - 1))
        cases += [a.compressed, a.exploded, a.compressed.upper()]
        chars = list(a.compressed)
        chars[rng.randrange(len(chars))] = rng.choice("0a:g.")
        cases.append("".join(chars))
    fast = 0
    for c in cases:
        ref = _ipv6_reference(c)
        assert v.ipv6_valid(c) is ref, c
        if v._IPV6_HEX.fullmatch(c) is not None:
            fast += 1
            assert ref, c  # the regex never accepts a non-address
    assert fast > len(cases) // 2  # and it answers most of them without ipaddress


def test_ipv4_agrees_with_octet_rules() -> None:
    rng = random.Random(12)
    for _ in range(5000):
        parts = [
            str(rng.randint(0, 300)) if rng.random() < 0.9 else rng.choice(["01", "00", "", "a", "1234", "\u0663"])
            for _ in range(rng.choice([4, 4, 4, 3, 5]))
        ]
        text = ".".join(parts)
        ref = len(parts) == 4 and all(
            p.isdigit() and p.isascii() and len(p) <= 3 and not (len(p) > 1 and p[0] == "0") and int(p) <= 255
            for p in parts
        )
        assert v.ipv4_valid(text) is ref, text


def test_iso_date_fast_path_agrees_with_the_regex() -> None:
    rng = random.Random(11)
    for _ in range(5_000):
        y, m, d = rng.randint(0, 9999), rng.randint(0, 19), rng.randint(0, 39)
        text = f"{y:04d}-{m:02d}-{d:02d}"
        iso = v._DATE_ISO.fullmatch(text)
        assert iso is not None
        try:
            expected: date | None = date(int(iso[1]), int(iso[2]), int(iso[3]))
        except ValueError:
            expected = None
        assert v.parse_date(text) == expected
    # Not the fast path's shape: still parsed by the regexes.
    assert v.parse_date("1985-3-12") == date(1985, 3, 12)
    assert v.parse_date("1985-03-12T10:00:00Z") == date(1985, 3, 12)


def test_us_date_fast_path_agrees_with_the_regex() -> None:
    rng = random.Random(12)
    for _ in range(5_000):
        a, b, y = rng.randint(0, 39), rng.randint(0, 39), rng.randint(0, 9999)
        text = f"{a:02d}{rng.choice('-/.')}{b:02d}{rng.choice('-/.')}{y:04d}"
        us = v._DATE_US.fullmatch(text)
        assert us is not None and v._DATE_ISO.fullmatch(text) is None
        first, second = int(us[1]), int(us[2])
        mo, d = (first, second) if first <= 12 else (second, first)
        try:
            expected: date | None = date(int(us[3]), mo, d)
        except ValueError:
            expected = None
        assert v.parse_date(text) == expected
    # Not the fast path's shape: still parsed by the regexes.
    assert v.parse_date("3/12/1985") == date(1985, 3, 12)
    assert v.parse_date("03/1a/1985") is None
    assert v.parse_date("1985-03-12T10:00:00Z") == date(1985, 3, 12)


def test_digits_of() -> None:
    assert v.digits_of("(415) 555-2671 x12") == "415555267112"
    assert v.digits_of("4111111111111111") == "4111111111111111"
    assert v.digits_of("abc") == ""
    assert v.digits_of("\u0661\u0662 34") == "34"


def test_iban_mod97_agrees_with_int() -> None:
    # iban_valid computes mod 97 digit by digit; compare with the int() of the
    # substituted string on random alphanumeric bodies of valid-length countries.
    rng = random.Random(13)
    chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for _ in range(800):
        country = rng.choice(sorted(v._IBAN_LENGTHS))
        body = "".join(rng.choice(chars) for _ in range(v._IBAN_LENGTHS[country] - 4))
        for check in range(100):
            iban = f"{country}{check:02d}{body}"
            moved = iban[4:] + iban[:4]
            expected = int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
            assert v.iban_valid(iban) is expected


# ------------------------------------------------------------------ fast paths vs references
# The e-mail alphabet holds every class edge of _EMAIL (atext punctuation, "@", ".", "-",
# digits, letters either side of the TLD rule, a non-ASCII letter and a space).
_EMAIL_ALPHABET = "aZ09.@-_+!#'`{~" + "x\u00e9 "


def _native_email() -> Callable[[str], bool]:
    if v._native_email is None:
        if os.environ.get("CI") == "true":
            pytest.fail("cpragate.pii._cscan is not loaded in CI (make install builds it)")
        pytest.skip("cpragate.pii._cscan not built here (make install builds it)")
    return v._native_email


@settings(max_examples=3000)
@given(st.text(alphabet=_EMAIL_ALPHABET, max_size=30))
def test_native_email_equals_the_regex(text: str) -> None:
    assert _native_email()(text) is v._email_valid_py(text)


def test_native_email_edges() -> None:
    label = "a" * 63
    cases = [
        "a@b.co", "a.b@c.de", ".a@b.co", "a.@b.co", "a..b@c.de", "a@-b.co", "a@b-.co", "a@b.c",
        f"a@{label}.com", f"a@{label}a.com", "a@b." + "c" * 24, "a@b." + "c" * 25, "a@b.co1",
        "a@b..co", "@b.co", "a@.co", "a@b.co\n", "j@" + "b" * 250 + ".co", "a@b.c\u00f6",
    ]  # fmt: skip
    for i, c in enumerate(cases):
        assert _native_email()(c) is v._email_valid_py(c), f"case {i}"


# Phone extensions: text around every marker, case, spacing and digit-count edge, and
# non-ASCII text (the regex path).
_EXT_PIECES = ["211.714.6218", "+44 20 7946 0958", "x", "X", "ext", "EXT.", "Ext", "extension", "#", "e", "t.",
               " ", "  ", "\t", "1", "12", "123456", "1234567", "\u00a0", "\u0661", "\u017f", "\u212a", "n"]  # fmt: skip


@settings(max_examples=3000)
@given(st.lists(st.sampled_from(_EXT_PIECES), max_size=7))
def test_extension_strip_equals_the_regex(pieces: list[str]) -> None:
    text = "".join(pieces).strip()
    assert v._without_extension(text) == v._EXTENSION.sub("", text)


def _native_fn(name: str) -> Callable[..., object]:
    fn = getattr(v, name)
    if fn is None:
        if os.environ.get("CI") == "true":
            pytest.fail("cpragate.pii._cscan is not loaded in CI (make install builds it)")
        pytest.skip("cpragate.pii._cscan not built here (make install builds it)")
    return fn  # type: ignore[no-any-return]


@settings(max_examples=3000)
@given(st.text(alphabet="0123456789 -x\u0663\u00e9", min_size=10, max_size=26))
def test_native_luhn_equals_python(text: str) -> None:
    assert _native_fn("_native_luhn")(text) is v._luhn_valid_py(text)


def test_native_luhn_on_card_numbers() -> None:
    for cid, value, _expected in LUHN:
        assert _native_fn("_native_luhn")(value) is v._luhn_valid_py(value), cid


@settings(max_examples=2000)
@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=15, max_size=34))
def test_native_iban_mod97_equals_python(iban: str) -> None:
    assert _native_fn("_native_mod97")(iban) == v._iban_mod97_py(iban)


_PHONE_PIECES = ["+1", "+44", "001", "1", "0", "415", "555", "2671", "011", "(", ")", "-", ".", " ", "\t", "\x1c", "x",
                 "X", "ext.", "Extension", "#", "e", "12", "1234567", "\u00a0", "\u0663", "+", "011 44"]  # fmt: skip


@settings(max_examples=4000)
@given(st.lists(st.sampled_from(_PHONE_PIECES), max_size=9))
def test_native_phone_equals_python_where_it_answers(pieces: list[str]) -> None:
    value = "".join(pieces)
    known = _native_fn("_native_phone")(value)
    assert known in (-1, 0, 1)
    if known >= 0:
        assert (known == 1) is v._phone_valid_py(value)
    else:
        assert not value.isascii() or value.strip().startswith("+")


@settings(max_examples=2000)
@given(st.text(alphabet="0123456789 -()x\u0663\u00e9", max_size=20))
def test_native_digits_of_equals_python(text: str) -> None:
    assert _native_fn("_native_digits")(text) == v._digits_of_py(text)


@settings(max_examples=3000)
@given(st.text(alphabet="0123456789.\u0663 ", max_size=18))
def test_native_ipv4_equals_the_regex(text: str) -> None:
    assert _native_fn("_native_ipv4")(text) is (v._IPV4.fullmatch(text) is not None)


def test_native_ipv4_octets() -> None:
    for octet in [*map(str, range(300)), "00", "01", "099", "0255", ""]:
        for text in (f"{octet}.1.2.3", f"1.2.3.{octet}", f"10.{octet}.0.1"):
            assert _native_fn("_native_ipv4")(text) is (v._IPV4.fullmatch(text) is not None)
