import asyncio

import pydantic
import pytest

from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterConfig, FilterContext
from cpragate.core.verdict import CONTINUE, Verdict
from cpragate.testing import make_exchange


class Only(Filter):
    name = "only"

    async def on_request(self, exchange: Exchange) -> Verdict:
        return CONTINUE


def test_implements_detects_overrides() -> None:
    assert Only.implements("on_request") and not Only.implements("on_response")


def test_defaults() -> None:
    f = Only(FilterConfig(), FilterContext())
    ex = make_exchange()
    assert asyncio.run(f.on_response(ex)) is CONTINUE
    assert asyncio.run(f.on_complete(ex)) is None
    assert f.applies_to(None) is True  # type: ignore[arg-type]
    assert "only" in repr(f)


def test_filter_config_forbids_unknown_keys() -> None:
    with pytest.raises(pydantic.ValidationError):
        FilterConfig.model_validate({"nope": 1})
