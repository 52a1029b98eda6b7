"""Field-name signals: snake/camel/kebab, abbreviations, qualifiers and plurals."""

from __future__ import annotations

import pytest

from cpragate.pii import fieldnames as fn
from cpragate.pii.categories import Entity


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("customerSSN", "customer_ssn"),
        ("Phone-No", "phone_no"),
        ("dateOfBirth", "date_of_birth"),
        ("IBAN", "iban"),
        ("__x__", "x"),
    ],
)
def test_normalize(key: str, expected: str) -> None:
    assert fn.normalize_key(key) == expected


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("ssn", Entity.US_SSN),
        ("social_security_number", Entity.US_SSN),
        ("customerSSN", Entity.US_SSN),
        ("email", Entity.EMAIL),
        ("contactEmailAddress", Entity.EMAIL),
        ("emails", Entity.EMAIL),
        ("billing_phone", Entity.PHONE),
        ("dob", Entity.DATE_OF_BIRTH),
        ("birthDate", Entity.DATE_OF_BIRTH),
        ("passport_no", Entity.US_PASSPORT),
        ("cardNumber", Entity.CREDIT_CARD),
        ("routing-number", Entity.ABA_ROUTING),
        ("client_ip", Entity.IP_ADDRESS),
        ("first_name", Entity.PERSON),
        ("street_address", Entity.STREET_ADDRESS),
        ("lat", fn.GEO_LAT),
        ("lng", fn.GEO_LNG),
        ("longitude", fn.GEO_LNG),
        ("coordinates", fn.GEO_PAIR),
        ("name", fn.AMBIGUOUS_NAME),
        # not telling
        ("email_verified", None),
        ("phone_count", None),
        ("ssn_last4", None),
        ("long_description", None),
        ("voicemail", None),
        ("product_name", None),
        ("value", None),
        ("", None),
    ],
)
def test_classify(key: str, expected: str | None) -> None:
    assert fn.classify_key(key) == expected


def test_extra_names_win() -> None:
    assert fn.classify_key("member_tax_no", {"member_tax_no": Entity.US_SSN}) == Entity.US_SSN


def test_cache_is_bounded() -> None:
    sig = fn.KeySignals(max_size=3)
    for i in range(10):
        sig.get(f"k{i}")
    assert len(sig._cache) <= 3
    assert sig.get("ssn") == Entity.US_SSN


@pytest.mark.parametrize(
    ("key", "expected"),
    [("customer", True), ("users", True), ("billingContact", True), ("product", False), (None, False)],
)
def test_person_container(key: str | None, expected: bool) -> None:
    assert fn.is_person_container(key) is expected
