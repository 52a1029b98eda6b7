"""The pii filter over real sockets: SPI from an upstream JSON response arrives masked
and the categories are recorded on the exchange. Values are synthetic; assertions never
print bodies."""

from __future__ import annotations

import gzip
from typing import Any, ClassVar

import orjson
import pytest

from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter
from cpragate.server.origin import OriginRequest, OriginResponse

from .conftest import Client, gateway, origin, plain_config, run

pytestmark = pytest.mark.e2e

SSN = "536-22-8741"
CARD = "4111-1111-1111-1111"
CUSTOMER = {"id": 42, "name": "Jane Roe", "email": "jane.roe@example.com", "ssn": SSN, "card_number": CARD,
            "note": f"verified with SSN {SSN}"}


def upstream(req: OriginRequest) -> OriginResponse:
    body = orjson.dumps(CUSTOMER)
    headers = [(b"content-type", b"application/json")]
    if req.request.path.endswith("/gz"):
        body = gzip.compress(body)
        headers.append((b"content-encoding", b"gzip"))
    return OriginResponse(200, headers, body)


class Recorder(Filter):
    """Keeps what the pii filter put on each exchange (counts only)."""

    name = "recorder"
    priority = 1
    seen: ClassVar[list[dict[str, Any] | None]] = []

    async def on_complete(self, exchange: Exchange) -> None:
        Recorder.seen.append(exchange.pii.to_dict() if exchange.pii is not None else None)


ROUTES = """\
  - {path: "/v1/customers/**", upstream: o, personal: true}
  - {path: "/v1/public/**", upstream: o}
"""


def test_ssn_and_card_arrive_masked_and_categories_are_recorded() -> None:
    Recorder.seen.clear()

    async def t() -> None:
        async with origin(upstream) as o, gateway(plain_config(o.port, ROUTES), extra_filters={"recorder": Recorder}) as gw:
            c = await Client.open(gw.bound_ports()[0])
            for path in ("/v1/customers/42", "/v1/customers/42/gz"):
                r = await c.request("GET", path)
                assert r.status == 200
                leaked = SSN.encode() in r.body or CARD.encode() in r.body
                assert not leaked, f"SPI reached the client on {path}"
                doc = orjson.loads(r.body)
                assert doc["ssn"] == "***-**-8741"
                assert doc["card_number"] == "****-****-****-1111"
                assert doc["note"] == "verified with SSN ***-**-8741"
                assert doc["email"] == CUSTOMER["email"]  # not SPI: allowed by default
                assert int(r.h("content-length") or b"0") == len(r.body)
            # A route not marked personal is not inspected by default.
            r = await c.request("GET", "/v1/public/42")
            assert r.status == 200 and orjson.loads(r.body) == CUSTOMER
            await c.close()

    run(t())
    inspected = [s for s in Recorder.seen if s is not None]
    assert len(inspected) == 2 and Recorder.seen[-1] is None
    for s in inspected:
        assert s["entities"] == {"credit_card": 1, "email": 1, "person": 1, "us_ssn": 2}
        assert s["categories"]["identifiers"] >= 3 and s["categories"]["customer_records"] == 1
        assert s["spi"] == 3 and s["actions"] == {"allow": 2, "mask": 3} and s["blocked"] is False


def test_blocked_response_is_a_502_problem_without_the_body() -> None:
    extra = "filters: {pii: {engine: {actions: {entities: {us_ssn: block}}}}}"

    async def t() -> None:
        async with origin(upstream) as o, gateway(plain_config(o.port, ROUTES, extra)) as gw:
            c = await Client.open(gw.bound_ports()[0])
            r = await c.request("GET", "/v1/customers/42")
            assert r.status == 502
            assert r.h("content-type") == b"application/problem+json"
            assert b"CPG-PII-006" in r.body
            leaked = SSN.encode() in r.body or b"jane" in r.body
            assert not leaked, "the withheld body reached the client"
            await c.close()

    run(t())
