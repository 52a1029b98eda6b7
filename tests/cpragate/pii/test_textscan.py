"""The prefilter + dispatch: one pass finds every entity; decoys stay out."""

from __future__ import annotations

import re

import pytest

from cpragate.pii.categories import BUILTIN
from cpragate.pii.textscan import SEP, CustomPattern, TextScanner, _non_overlapping


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
