"""Per-purpose minimization with stub identities (authn sets the real ones)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from cpragate.core.access import Identity
from cpragate.core.verdict import CONTINUE, Deny
from cpragate.errors import RequestInvalid, ResponseNotMinimizable
from cpragate.filters.minimize.config import MinimizeRouteSettings
from cpragate.filters.minimize.filter import MinimizeFilter, caller_of
from cpragate.testing import make_exchange, make_request, make_response, run_filter

CUSTOMER = {
    "id": 42,
    "name": "Ann Example",
    "email": "ann@example.com",
    "ssn": "123-45-6789",
    "marketing_opt_in": True,
    "address": {"street": "1 Main St", "city": "Fresno"},
}
RULES = {
    "rules": [
        {"purposes": ["third_party"], "response": {"allow": ["id", "email", "marketing_opt_in"]}},
        {"consumers": ["support-desk"], "response": {"deny": ["ssn", "address.street"]}, "request": {"deny": ["ssn"]}},
        {"purposes": ["service_provider"], "response": {"deny": ["ssn"]}},
    ],
    "default": {"response": {"allow": ["id"]}},
}


@dataclass
class Settings:
    minimize: MinimizeRouteSettings


def run(identity: object | None, rules: dict[str, Any] = RULES, *, body: bytes | None = None,
        method: str = "GET", ct: str = "application/json", config: dict[str, Any] | None = None) -> Any:
    from cpragate.core.route import RouteInfo

    route = RouteInfo("r", "/c/{id}", ("GET", "POST"), "api", settings=Settings(MinimizeRouteSettings.model_validate(rules)))
    req = make_request(method, "/c/42", headers={"content-type": "application/json"}, body=body)
    ex = make_exchange(req, route=route)
    ex.identity = identity  # type: ignore[assignment]
    resp = make_response(200, {"content-type": ct}, orjson.dumps(CUSTOMER))
    return run_filter(MinimizeFilter, config, ex, resp)


def ident(consumer: str, purpose: str) -> Identity:
    return Identity(consumer=consumer, purpose=purpose, method="api_key", credential_id="k")  # type: ignore[arg-type]


def body_of(r: Any) -> Any:
    return orjson.loads(r.exchange.response.body)


def test_third_party_receives_only_its_allow_list() -> None:
    r = run(ident("ad-partner", "third_party"))
    assert body_of(r) == {"id": 42, "email": "ann@example.com", "marketing_opt_in": True}
    rep = r.exchange.minimize
    assert rep.rule == "purpose:third_party" and rep.response_removed == {"/name": 1, "/ssn": 1, "/address": 1}
    assert ("minimize", "remove") in [(d.filter, d.outcome) for d in r.exchange.decisions]


def test_consumer_rule_wins_over_purpose_rule() -> None:
    r = run(ident("support-desk", "service_provider"))
    assert r.exchange.minimize.rule == "consumer:support-desk"
    assert "ssn" not in body_of(r) and body_of(r)["address"] == {"city": "Fresno"}


def test_purpose_rule_for_service_providers() -> None:
    r = run(ident("billing", "service_provider"))
    assert set(body_of(r)) == set(CUSTOMER) - {"ssn"}


def test_anonymous_callers_get_the_default() -> None:
    assert body_of(run(None)) == {"id": 42}


def test_no_rule_and_no_default_passes_unchanged() -> None:
    r = run(ident("x", "contractor"), {"rules": RULES["rules"]})
    assert r.exchange.response.body == orjson.dumps(CUSTOMER) and r.exchange.minimize is None


def test_monitor_mode_records_without_removing() -> None:
    r = run(ident("ad-partner", "third_party"), {**RULES, "mode": "monitor"})
    assert body_of(r) == CUSTOMER
    assert r.exchange.minimize.mode == "monitor" and r.exchange.minimize.response_removed["/ssn"] == 1
    assert ("minimize", "would_remove") in [(d.filter, d.outcome) for d in r.exchange.decisions]


def test_request_bodies_sent_upstream() -> None:
    r = run(ident("support-desk", "service_provider"), body=b'{"note": "hi", "ssn": "123-45-6789"}', method="POST")
    assert r.request is CONTINUE and orjson.loads(r.exchange.request.body) == {"note": "hi"}
    assert r.exchange.minimize.request_removed == {"/ssn": 1}


@pytest.mark.parametrize(("config", "refused"), [(None, True), ({"on_error": "allow"}, False)])
def test_non_json_bodies_follow_on_error(config: dict[str, Any] | None, refused: bool) -> None:
    r = run(ident("ad-partner", "third_party"), ct="text/csv", config=config)
    assert isinstance(r.response, Deny) is refused
    if refused:
        assert r.response.error is ResponseNotMinimizable
    r = run(ident("support-desk", "x"), body=b"ssn=1", method="POST", config=config)
    assert isinstance(r.request, Deny) is refused
    if refused:
        assert r.request.error is RequestInvalid


def test_caller_is_read_defensively() -> None:
    @dataclass
    class Consumer:
        name: str
        purpose: str

    @dataclass
    class Nested:
        consumer: Consumer

    assert caller_of(None) == (None, None)
    assert caller_of(object()) == (None, None)
    assert caller_of(ident("a", "third_party")) == ("a", "third_party")
    assert caller_of(Nested(Consumer("b", "contractor"))) == ("b", "contractor")


def test_routes_without_rules_skip_the_filter() -> None:
    from cpragate.core.route import RouteInfo

    f = MinimizeFilter(MinimizeFilter.Config(), None)  # type: ignore[arg-type]
    assert not f.applies_to(RouteInfo("r", "/", ("GET",), "api"))


@pytest.mark.parametrize(
    ("content_type", "json"),
    [
        (None, True),
        (b"", True),
        (b"application/json", True),
        (b"Application/JSON; charset=utf-8", True),
        (b"application/problem+json", True),
        (b"text/html", False),
        (b"application/jsonp", False),
    ],
)
def test_json_or_unlabelled_content_types(content_type: bytes | None, json: bool) -> None:
    from cpragate.filters.minimize import filter as mod

    for _ in range(2):  # the second answer comes from the bounded memory
        assert mod._json_or_unlabelled(content_type) is json
    for i in range(100):
        mod._json_or_unlabelled(f"text/x-{i}".encode())
    assert len(mod._json_media) <= 64
