"""Validation, conformance and minimization over real sockets, in front of the demo API
(its spec: examples/demo-openapi.yaml). Assertions never print bodies."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import orjson
import pytest

from cpragate.core.access import Identity
from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter
from cpragate.core.verdict import CONTINUE, Verdict
from cpragate.demo.api import DemoApi

from .conftest import Client, gateway, origin, plain_config, run

pytestmark = pytest.mark.e2e

SPEC = Path(__file__).resolve().parents[2] / "examples" / "demo-openapi.yaml"


def routes(extra: str = "") -> str:
    return f"""\
  - from_openapi: {SPEC}
    upstream: o
    personal: true
{extra}"""


class Recorder(Filter):
    """Keeps what validation, conformance and minimize recorded on each exchange."""

    name = "recorder"
    priority = 1
    seen: ClassVar[list[Exchange]] = []

    async def on_complete(self, exchange: Exchange) -> None:
        Recorder.seen.append(exchange)


class StubAuthn(Filter):
    """Stands in for authn (issue 3): the X-Test-Purpose header picks the caller's purpose."""

    name = "stub_authn"
    priority = 1200

    async def on_request(self, exchange: Exchange) -> Verdict:
        purpose = exchange.request.headers.get(b"x-test-purpose")
        if purpose is not None:
            exchange.identity = Identity(consumer="partner", purpose=purpose.decode(), method="api_key",  # type: ignore[arg-type]
                                         credential_id="k_test")
        return CONTINUE


FILTERS: dict[str, type[Filter]] = {"recorder": Recorder, "stub_authn": StubAuthn}


def test_excessive_data_exposure_is_removed_and_monitor_only_records() -> None:
    Recorder.seen.clear()

    async def t() -> None:
        async with origin(DemoApi()) as o:
            async with gateway(plain_config(o.port, routes()), extra_filters=FILTERS) as gw:
                c = await Client.open(gw.bound_ports()[0])
                r = await c.request("GET", "/v1/customers/42")
                assert r.status == 200
                doc = orjson.loads(r.body)
                assert "password_hash" not in doc and "internal_risk_score" not in doc and doc["id"] == 42
                r = await c.request("GET", "/v1/customers?limit=3")
                items = orjson.loads(r.body)["items"]
                assert len(items) == 3 and not any("password_hash" in i for i in items)
                await c.close()
            rep = Recorder.seen[-1].conformance
            assert rep is not None and rep.removed == {"/items/*/password_hash": 3, "/items/*/internal_risk_score": 3}
            monitor = routes("    conformance: {mode: monitor}\n")
            async with gateway(plain_config(o.port, monitor), extra_filters=FILTERS) as gw:
                c = await Client.open(gw.bound_ports()[0])
                r = await c.request("GET", "/v1/customers/42")
                assert "password_hash" in orjson.loads(r.body)
                await c.close()
            rep = Recorder.seen[-1].conformance
            assert rep is not None and rep.outcome == "would_remove"
            assert rep.removed == {"/password_hash": 1, "/internal_risk_score": 1}

    run(t())


def test_invalid_requests_and_mass_assignment_are_refused_with_pointers() -> None:
    async def t() -> None:
        extra = "    overrides:\n      createTicket: {validation: {privileged: [{property: priority, scopes: [support]}]}}\n"
        async with origin(DemoApi()) as o, gateway(plain_config(o.port, routes(extra)), extra_filters=FILTERS) as gw:
            c = await Client.open(gw.bound_ports()[0])
            json = {"content-type": "application/json"}
            r = await c.request("POST", "/v1/tickets", json, b'{"customer_id": 42, "body": "hi"}')
            assert r.status == 201
            r = await c.request("POST", "/v1/tickets", json,
                                b'{"customer_id": 42, "body": "hi", "status": "closed", "priority": "urgent", "is_admin": true}')
            assert r.status == 422 and r.h("content-type") == b"application/problem+json"
            doc = orjson.loads(r.body)
            assert doc["code"] == "CPG-VAL-004"
            assert {(v["pointer"], v["rule"]) for v in doc["violations"]} == {
                ("/body/status", "readOnly"),
                ("/body/is_admin", "undeclared"),
                ("/body/priority", "privileged"),
            }
            assert b"closed" not in r.body and b"urgent" not in r.body
            r = await c.request("GET", "/v1/customers?limit=500")
            assert r.status == 400 and orjson.loads(r.body)["violations"] == [{"pointer": "/query/limit", "rule": "maximum"}]
            r = await c.request("POST", "/v1/tickets", {"content-type": "text/plain"}, b"hello")
            assert r.status == 415
            await c.close()

    run(t())


def test_per_purpose_minimization_of_the_demo_policy_rules() -> None:
    extra = """    overrides:
      getCustomer:
        minimize:
          rules:
            - purposes: [third_party]
              response: {allow: [id, email, marketing_opt_in]}
"""

    async def t() -> None:
        async with origin(DemoApi()) as o, gateway(plain_config(o.port, routes(extra)), extra_filters=FILTERS) as gw:
            c = await Client.open(gw.bound_ports()[0])
            r = await c.request("GET", "/v1/customers/42", {"x-test-purpose": "third_party"})
            assert set(orjson.loads(r.body)) == {"id", "email", "marketing_opt_in"}
            r = await c.request("GET", "/v1/customers/42", {"x-test-purpose": "service_provider"})
            assert {"name", "ssn", "address"} <= set(orjson.loads(r.body))
            await c.close()

    run(t())
