"""Category map: every built-in entity has a CPRA category and SPI flag as DESIGN.md says."""

from __future__ import annotations

from cpragate.pii.categories import BUILTIN, Category, Entity, SpiKind, info


def test_every_entity_is_classified() -> None:
    names = {v for k, v in vars(Entity).items() if k.isupper()}
    assert names == set(BUILTIN)


def test_spi_entities() -> None:
    spi = {e for e, i in BUILTIN.items() if i.spi}
    assert spi == {
        Entity.US_SSN,
        Entity.CREDIT_CARD,
        Entity.IBAN,
        Entity.GEOLOCATION,
        Entity.US_DRIVER_LICENSE,
        Entity.US_PASSPORT,
    }


def test_examples_from_issue() -> None:
    ssn = info(Entity.US_SSN)
    card = info(Entity.CREDIT_CARD)
    email = info(Entity.EMAIL)
    assert ssn is not None and ssn.category is Category.IDENTIFIERS and ssn.spi
    assert card is not None and card.spi_kind is SpiKind.FINANCIAL_ACCOUNT
    assert email is not None and not email.spi
    assert info("nope") is None
