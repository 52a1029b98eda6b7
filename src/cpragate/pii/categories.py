"""CPRA categories of personal information and the built-in entities that map to them.

Every finding carries one :class:`Category` (Cal. Civ. Code 1798.140(v)) and an SPI flag
(sensitive personal information, 1798.140(ae)). Financial account and card numbers are
"customer records" information (1798.80(e), referenced by 1798.140(v)(1)(B)); their SPI
kind is ``financial_account``. The SPI flag is per finding, not per entity: a latitude/
longitude pair is *precise* geolocation (SPI) only with at least 4 decimals (about 11 m,
well within the statute's 1,850 feet).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["BUILTIN", "Category", "Entity", "EntityInfo", "SpiKind", "info"]


class Category(StrEnum):
    """CPRA personal-information categories, 1798.140(v)(1)(A)-(L)."""

    IDENTIFIERS = "identifiers"
    CUSTOMER_RECORDS = "customer_records"
    PROTECTED_CLASSIFICATIONS = "protected_classifications"
    COMMERCIAL = "commercial"
    BIOMETRIC = "biometric"
    INTERNET_ACTIVITY = "internet_activity"
    GEOLOCATION = "geolocation"
    SENSORY = "sensory"
    PROFESSIONAL = "professional"
    EDUCATION = "education"
    INFERENCES = "inferences"


class SpiKind(StrEnum):
    """Which clause of the SPI definition (1798.140(ae)) a finding falls under."""

    GOVERNMENT_ID = "government_id"
    FINANCIAL_ACCOUNT = "financial_account"
    PRECISE_GEOLOCATION = "precise_geolocation"
    ACCOUNT_LOGIN = "account_login"
    OTHER = "other"


class Entity:
    """Built-in entity names (plain strings); custom recognizers add their own names."""

    EMAIL = "email"
    PHONE = "phone"
    US_SSN = "us_ssn"
    CREDIT_CARD = "credit_card"
    IBAN = "iban"
    ABA_ROUTING = "aba_routing"
    IP_ADDRESS = "ip_address"
    GEOLOCATION = "geolocation"
    DATE_OF_BIRTH = "date_of_birth"
    US_DRIVER_LICENSE = "us_driver_license"
    US_PASSPORT = "us_passport"
    PERSON = "person"
    STREET_ADDRESS = "street_address"


@dataclass(frozen=True, slots=True)
class EntityInfo:
    """The category and SPI classification of one entity."""

    entity: str
    category: Category
    spi: bool
    spi_kind: SpiKind | None = None


BUILTIN: dict[str, EntityInfo] = {
    e.entity: e
    for e in (
        EntityInfo(Entity.EMAIL, Category.IDENTIFIERS, False),
        EntityInfo(Entity.PHONE, Category.IDENTIFIERS, False),
        EntityInfo(Entity.US_SSN, Category.IDENTIFIERS, True, SpiKind.GOVERNMENT_ID),
        EntityInfo(Entity.CREDIT_CARD, Category.CUSTOMER_RECORDS, True, SpiKind.FINANCIAL_ACCOUNT),
        EntityInfo(Entity.IBAN, Category.CUSTOMER_RECORDS, True, SpiKind.FINANCIAL_ACCOUNT),
        # A routing number names a bank, not an account: personal (customer records) but
        # not SPI on its own.
        EntityInfo(Entity.ABA_ROUTING, Category.CUSTOMER_RECORDS, False),
        EntityInfo(Entity.IP_ADDRESS, Category.IDENTIFIERS, False),
        # spi here is the entity default; each finding says whether it is precise.
        EntityInfo(Entity.GEOLOCATION, Category.GEOLOCATION, True, SpiKind.PRECISE_GEOLOCATION),
        # Age is a protected classification (1798.140(v)(1)(C) via Civ. Code 51).
        EntityInfo(Entity.DATE_OF_BIRTH, Category.PROTECTED_CLASSIFICATIONS, False),
        EntityInfo(Entity.US_DRIVER_LICENSE, Category.IDENTIFIERS, True, SpiKind.GOVERNMENT_ID),
        EntityInfo(Entity.US_PASSPORT, Category.IDENTIFIERS, True, SpiKind.GOVERNMENT_ID),
        EntityInfo(Entity.PERSON, Category.IDENTIFIERS, False),
        EntityInfo(Entity.STREET_ADDRESS, Category.IDENTIFIERS, False),
    )
}


def info(entity: str) -> EntityInfo | None:
    """The classification of a built-in entity, or None for unknown names."""
    return BUILTIN.get(entity)
