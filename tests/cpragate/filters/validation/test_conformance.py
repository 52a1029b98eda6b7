"""Response conformance: undeclared properties removed (or recorded in monitor mode)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from cpragate.core.verdict import CONTINUE, Deny
from cpragate.errors import ResponseNonConforming
from cpragate.filters.validation.conformance import ConformanceFilter, path_template
from cpragate.testing import make_exchange, make_response, run_filter

PETSTORE = """
routes:
  - from_openapi: tests/fixtures/openapi/petstore-expanded-3.0.yaml
    upstream: api
"""


def test_undeclared_properties_are_removed_and_counted(mini: Any) -> None:
    gw = mini(PETSTORE)
    body = b'[{"id": 1, "name": "a", "password_hash": "x"}, {"id": 2, "name": "b", "password_hash": "y", "ssn": "z"}]'
    run = gw.call("GET", "/pets", json_response=body)
    assert run.response is CONTINUE
    assert run.exchange.response is not None
    assert orjson.loads(run.exchange.response.body or b"") == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    rep = run.exchange.conformance
    assert rep is not None and rep.outcome == "removed"
    assert rep.removed == {"/*/password_hash": 2, "/*/ssn": 1}
    assert ("conformance", "remove") in [(d.filter, d.outcome) for d in run.exchange.decisions]


def test_monitor_mode_only_records(mini: Any) -> None:
    gw = mini(PETSTORE + "    conformance: {mode: monitor}\n")
    body = b'{"id": 1, "name": "a", "password_hash": "x"}'
    run = gw.call("GET", "/pets/1", json_response=body)
    assert run.exchange.response is not None and run.exchange.response.body == body
    rep = run.exchange.conformance
    assert rep is not None and rep.outcome == "would_remove" and rep.removed == {"/password_hash": 1}


def test_conforming_responses_are_forwarded_byte_for_byte(mini: Any) -> None:
    body = b'{"id": 1,   "name": "a"}'
    run = mini(PETSTORE).call("GET", "/pets/1", json_response=body)
    assert run.exchange.response is not None and run.exchange.response.body is not None
    assert run.exchange.response.body == body
    assert run.exchange.conformance is not None and run.exchange.conformance.outcome == "conforming"


def test_schema_violations_are_logged_or_block(mini: Any, caplog: pytest.LogCaptureFixture) -> None:
    body = b'{"id": "not-an-int", "name": "secret-value"}'
    run = mini(PETSTORE).call("GET", "/pets/1", json_response=body)
    assert run.response is CONTINUE
    rep = run.exchange.conformance
    assert rep is not None and [(v.pointer, v.rule) for v in rep.violations] == [("/id", "type")]
    assert "secret-value" not in caplog.text and "not-an-int" not in caplog.text
    run = mini(PETSTORE + "    conformance: {on_violation: block}\n").call("GET", "/pets/1", json_response=body)
    assert isinstance(run.response, Deny) and run.response.error is ResponseNonConforming


def test_default_and_error_responses_use_their_schema(mini: Any) -> None:
    run = mini(PETSTORE).call("GET", "/pets/1", json_response=b'{"code": 5, "message": "m", "trace": "t"}', status=404)
    assert run.exchange.response is not None
    assert orjson.loads(run.exchange.response.body or b"") == {"code": 5, "message": "m"}


@pytest.mark.parametrize(
    ("config", "body", "outcome", "forwarded"),
    [
        ("", b"not json", "withheld", False),
        ("    conformance: {on_error: allow}\n", b"not json", "unchecked", True),
    ],
)
def test_unparseable_json(mini: Any, config: str, body: bytes, outcome: str, forwarded: bool) -> None:
    run = mini(PETSTORE + config).call("GET", "/pets/1", json_response=body)
    assert (run.response is CONTINUE) is forwarded
    assert run.exchange.conformance is not None and run.exchange.conformance.outcome == outcome


def test_unchecked_cases(mini: Any) -> None:
    gw = mini(PETSTORE)
    run = gw.call("GET", "/pets/1", response=make_response(200, {"content-type": "text/plain"}, b"hello"))
    assert run.exchange.conformance is not None and run.exchange.conformance.reason == "undeclared_media_type"
    run = gw.call("DELETE", "/pets/1", response=make_response(204, {}, b""))
    assert run.exchange.conformance is not None and run.exchange.conformance.reason == "no_body"


def test_not_in_chain_without_binding() -> None:
    assert run_filter(ConformanceFilter, exchange=make_exchange(), response=make_response(200, body=b"{}")).response is CONTINUE


def test_path_template_names_array_indexes_only() -> None:
    doc = {"items": [{"a": 1}, {"0": {"b": 2}}]}
    assert path_template(doc, "/items/1/0/b") == "/items/*/0/b"
    assert path_template(doc, "/x~1y") == "/x~1y"


def test_resolutions_are_remembered_per_route_and_bounded(mini: Any) -> None:
    gw = mini(PETSTORE)
    for _ in range(2):  # the second round is answered from the per-route memory
        run = gw.call("GET", "/pets/1", response=make_response(200, {"content-type": "text/plain"}, b"hello"))
        assert run.exchange.conformance is not None and run.exchange.conformance.reason == "undeclared_media_type"
        run = gw.call("GET", "/pets/1", json_response=b'{"id": 1, "name": "a", "x": 1}')
        assert run.exchange.conformance is not None and run.exchange.conformance.outcome == "removed"
    for i in range(200):  # client-chosen content types cannot grow it without bound
        gw.call("GET", "/pets/1", response=make_response(200, {"content-type": f"text/x-{i}"}, b"hello"))
    filt = gw.filters["conformance"]
    assert isinstance(filt, ConformanceFilter)
    assert all(len(plan.media) <= 64 for plan in filt._plans.values())
