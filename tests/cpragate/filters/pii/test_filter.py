"""The pii filter on plain objects. Test values are synthetic (valid checksums, fake
people); assertions never show body contents when they fail."""

from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from cpragate.core.access import Identity, Purpose
from cpragate.core.exchange import Exchange
from cpragate.core.pipeline import Pipeline
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny
from cpragate.errors import (
    PiiRequestRefused,
    PiiRequestUnreadable,
    PiiResponseBlocked,
    PiiResponseUninspectable,
    PiiResponseUnreadable,
)
from cpragate.filters.audit.filter import exchange_annotations
from cpragate.filters.pii import PiiFilter, PiiFilterConfig, PiiRouteSettings
from cpragate.filters.pii.filter import PiiReport, _media, route_settings
from cpragate.testing import FilterRun, make_exchange, make_request, make_response, run_filter

SSN = "536-22-8741"
CARD = "4111 1111 1111 1111"
EMAIL = "jane.roe@example.com"
DOC = {"customer": {"name": "Jane Roe", "email": EMAIL, "ssn": SSN, "card_number": CARD}, "id": 42}
JSON = [("content-type", "application/json")]


def route(personal: bool = True, settings: object = None) -> RouteInfo:
    return RouteInfo("r", "/v1/customers/{id}", ("GET",), "u", personal=personal, settings=settings)


def run(
    body: bytes,
    headers: list[tuple[str, str]] | None = None,
    config: dict[str, Any] | None = None,
    rt: RouteInfo | None = None,
) -> FilterRun:
    resp = make_response(200, JSON if headers is None else headers, body)
    return run_filter(PiiFilter, config or {}, make_exchange(route=rt or route()), resp)


def leaked(body: bytes | None, *values: str) -> bool:
    return any(v.encode() in (body or b"") for v in values)


def test_default_masks_ssn_and_card_keeps_email_and_records_counts() -> None:
    r = run(orjson.dumps(DOC))
    assert r.response is CONTINUE
    body = r.exchange.response.body  # type: ignore[union-attr]
    assert not leaked(body, SSN, CARD), "an SPI value reached the client"
    out = orjson.loads(body or b"")
    assert out["customer"]["ssn"] == "***-**-8741"
    assert out["customer"]["card_number"] == "**** **** **** 1111"
    assert out["customer"]["email"] == EMAIL  # personal but not sensitive: allowed by default
    ann = r.exchange.pii
    assert ann is not None
    assert ann.entities["us_ssn"] == 1 and ann.entities["credit_card"] == 1
    assert ann.categories["identifiers"] >= 2
    assert ann.spi == 2
    assert ann.actions["mask"] == 2
    d = [x for x in r.exchange.decisions if x.filter == "pii"]
    assert len(d) == 1 and d[0].outcome == "rewritten"
    assert not leaked(d[0].rule.encode(), SSN, CARD, EMAIL), "a value reached the decision record"


def test_only_personal_routes_are_inspected_by_default() -> None:
    f = PiiFilter(PiiFilterConfig(), SimpleNamespace(log=None))  # type: ignore[arg-type]
    assert f.applies_to(route(personal=True))
    assert not f.applies_to(route(personal=False))
    g = PiiFilter(PiiFilterConfig(routes="all"), SimpleNamespace(log=None))  # type: ignore[arg-type]
    assert g.applies_to(route(personal=False))


def test_route_settings_override_inspection_and_actions() -> None:
    f = PiiFilter(PiiFilterConfig(), SimpleNamespace(log=None))  # type: ignore[arg-type]
    off = SimpleNamespace(pii=PiiRouteSettings(inspect=False))
    on = SimpleNamespace(pii=PiiRouteSettings(inspect=True))
    assert not f.applies_to(route(personal=True, settings=off))
    assert f.applies_to(route(personal=False, settings=on))
    assert route_settings(route(settings=SimpleNamespace(pii="not settings"))) is None
    redact = SimpleNamespace(pii=PiiRouteSettings.model_validate({"actions": {"entities": {"email": "redact"}}}))
    r = run(orjson.dumps(DOC), rt=route(settings=redact))
    out = orjson.loads(r.exchange.response.body or b"")  # type: ignore[union-attr]
    assert out["customer"]["email"] == "[REDACTED:email]"
    assert out["customer"]["ssn"] == "***-**-8741"  # the route's rules keep the SPI default


def test_block_withholds_the_response_with_502() -> None:
    r = run(orjson.dumps(DOC), config={"engine": {"actions": {"entities": {"us_ssn": "block"}}}})
    assert isinstance(r.response, Deny)
    assert r.response.error is PiiResponseBlocked
    assert PiiResponseBlocked.status == 502
    assert r.response.rule == "pii:block:us_ssn"
    assert r.exchange.pii is not None and r.exchange.pii.blocked
    assert [d.outcome for d in r.exchange.decisions if d.filter == "pii"] == ["deny"]


@pytest.mark.parametrize("ctype", ["application/json", "application/json; charset=utf-8", "application/vnd.api+json", "application/problem+json"])
def test_json_content_types(ctype: str) -> None:
    r = run(orjson.dumps(DOC), [("content-type", ctype)])
    assert not leaked(r.exchange.response.body, SSN), "the SSN reached the client"  # type: ignore[union-attr]


def test_unparseable_json_follows_on_error() -> None:
    bad = b'{"ssn": "' + SSN.encode() + b'"'
    r = run(bad)
    assert isinstance(r.response, Deny) and r.response.error is PiiResponseUninspectable
    assert r.response.rule == "pii:json-unparseable"
    r = run(bad, config={"on_error": "allow"})
    assert r.response is CONTINUE
    assert r.exchange.response.body is bad  # type: ignore[union-attr]
    assert [d.outcome for d in r.exchange.decisions if d.filter == "pii"] == ["uninspected"]
    rs = SimpleNamespace(pii=PiiRouteSettings(on_error="allow"))
    assert run(bad, rt=route(settings=rs)).response is CONTINUE


def test_text_is_rewritten_in_its_charset() -> None:
    text = f"Customer SSN {SSN}, card {CARD}, café".encode("latin-1")
    r = run(text, [("content-type", "text/plain; charset=ISO-8859-1")])
    body = r.exchange.response.body or b""  # type: ignore[union-attr]
    assert not leaked(body, SSN, CARD), "an SPI value reached the client"
    assert body.decode("latin-1").endswith("café")
    assert r.exchange.pii is not None and r.exchange.pii.spi == 2


def test_text_off_and_undecodable_text() -> None:
    text = f"SSN {SSN}".encode()
    r = run(text, [("content-type", "text/plain")], config={"text": False})
    assert r.exchange.response.body is text and r.exchange.pii is None  # type: ignore[union-attr]
    assert [d.rule for d in r.exchange.decisions] == ["pii:pass-type:text/plain"]
    r = run(b"\xff\xfe SSN", [("content-type", "text/plain; charset=utf-8")])
    assert isinstance(r.response, Deny) and r.response.error is PiiResponseUninspectable
    r = run(b"SSN", [("content-type", "text/plain; charset=no-such-charset")])
    assert isinstance(r.response, Deny)


def test_other_types_are_refused_unless_listed_in_pass_types() -> None:
    body = b"\x89PNG" + SSN.encode()
    r = run(body, [("content-type", "image/png")])
    assert isinstance(r.response, Deny) and r.response.error is PiiResponseUnreadable
    assert r.response.rule == "pii:unreadable-type" and PiiResponseUnreadable.status == 502
    for cfg, rt in (
        ({"pass_types": ["image/*"]}, None),
        ({"pass_types": ["Image/PNG"]}, None),
        ({}, route(settings=SimpleNamespace(pii=PiiRouteSettings(pass_types=["image/png"])))),
    ):
        r = run(body, [("content-type", "image/png; q=1")], config=cfg, rt=rt)
        assert r.response is CONTINUE
        assert r.exchange.response.body is body and r.exchange.pii is None  # type: ignore[union-attr]
        assert [(d.outcome, d.rule) for d in r.exchange.decisions] == [("uninspected", "pii:pass-type:image/png")]
    # A route's own list replaces the filter's.
    rs = SimpleNamespace(pii=PiiRouteSettings(pass_types=["application/pdf"]))
    r = run(body, [("content-type", "image/png")], config={"pass_types": ["image/*"]}, rt=route(settings=rs))
    assert isinstance(r.response, Deny)
    r = run(b"%PDF" + SSN.encode(), [("content-type", "application/octet-stream")])
    assert isinstance(r.response, Deny) and r.response.error is PiiResponseUnreadable


def test_missing_content_type_is_inspected_as_json_or_refused() -> None:
    r = run(orjson.dumps(DOC), [])
    assert r.response is CONTINUE
    assert not leaked(r.exchange.response.body, SSN), "the SSN reached the client"  # type: ignore[union-attr]
    for body in (b"hello " + SSN.encode(), b"{not json", b"[1, 2"):
        r = run(body, [])
        assert isinstance(r.response, Deny) and r.response.error is PiiResponseUnreadable
        assert r.exchange.response.body is body  # type: ignore[union-attr]


def test_ndjson_is_rewritten_line_by_line() -> None:
    lines = [orjson.dumps({"id": i, "ssn": SSN, "email": EMAIL}) for i in range(3)]
    body = b"\n".join(lines[:2]) + b"\r\n\n" + lines[2] + b"\n"
    r = run(body, [("content-type", "application/x-ndjson")])
    assert r.response is CONTINUE
    out = r.exchange.response.body or b""  # type: ignore[union-attr]
    assert not leaked(out, SSN), "an SSN reached the client"
    docs = [orjson.loads(x) for x in out.split(b"\n") if x.strip()]
    assert [d["id"] for d in docs] == [0, 1, 2] and all(d["ssn"] == "***-**-8741" for d in docs)
    assert out.count(b"\n") == body.count(b"\n") and b"\r\n" in out
    assert r.exchange.pii is not None and r.exchange.pii.entities == {"us_ssn": 3, "email": 3}
    clean = b'{"a": 1}\n{"b": 2}\n'
    assert run(clean, [("content-type", "application/jsonl")]).exchange.response.body is clean  # type: ignore[union-attr]
    r = run(lines[0] + b"\nnot json\n", [("content-type", "application/x-ndjson")])
    assert isinstance(r.response, Deny) and r.response.error is PiiResponseUninspectable
    assert r.response.rule == "pii:ndjson-unparseable"
    r = run(lines[0] + b"\n" + orjson.dumps({"passport_number": "X12345678"}), [("content-type", "application/x-ndjson")],
            config={"engine": {"actions": {"entities": {"us_passport": "block"}}}})
    assert isinstance(r.response, Deny) and r.response.error is PiiResponseBlocked


def test_form_and_xml_responses_are_inspected() -> None:
    body = f"name=Jane+Roe&ssn={SSN}&note=card+{CARD.replace(' ', '+')}".encode()
    r = run(body, [("content-type", "application/x-www-form-urlencoded")])
    out = r.exchange.response.body or b""  # type: ignore[union-attr]
    assert not leaked(out, SSN, CARD.replace(" ", "+")), "SPI reached the client"
    assert b"ssn=%2A%2A%2A-%2A%2A-8741" in out and out.startswith(b"name=Jane+Roe&")
    xml = f"<customer><ssn>{SSN}</ssn></customer>".encode()
    r = run(xml, [("content-type", "application/xml")])
    assert not leaked(r.exchange.response.body, SSN), "the SSN reached the client"  # type: ignore[union-attr]
    for ctype in ("application/xml", "application/atom+xml"):
        r = run(xml, [("content-type", ctype)], config={"text": False})
        assert r.response is CONTINUE and r.exchange.response.body is xml  # type: ignore[union-attr]
        assert [d.rule for d in r.exchange.decisions] == [f"pii:pass-type:{ctype}"]


def test_clean_or_allowed_bodies_are_forwarded_byte_for_byte() -> None:
    body = b'{ "order": "ORD-1", "total": 12.50 }'
    r = run(body)
    assert r.exchange.response.body is body  # type: ignore[union-attr]
    assert [d.outcome for d in r.exchange.decisions if d.filter == "pii"] == ["inspected"]
    only_email = orjson.dumps({"email": EMAIL})
    r = run(only_email)
    assert r.exchange.response.body is only_email  # type: ignore[union-attr]
    assert r.exchange.pii is not None and r.exchange.pii.entities == {"email": 1}


def test_integers_beyond_64_bits_survive() -> None:
    body = b'{"big": 123456789012345678901234567890, "ssn": "' + SSN.encode() + b'"}'
    r = run(body)
    out = r.exchange.response.body or b""  # type: ignore[union-attr]
    assert b"123456789012345678901234567890" in out
    assert not leaked(out, SSN), "the SSN reached the client"
    nan = b'{"x": NaN}'
    assert isinstance(run(nan).response, Deny)


def test_empty_and_missing_bodies_are_skipped() -> None:
    for body in (b"", None):
        r = run_filter(PiiFilter, {}, make_exchange(route=route()), make_response(204, JSON, body))
        assert r.response is CONTINUE and r.exchange.pii is None


@pytest.mark.parametrize(
    ("ctype", "expected"),
    [
        (b"application/json", (1, "utf-8")),
        (b"Application/JSON ; charset=UTF-8", (1, "utf-8")),
        (b"application/hal+json", (1, "utf-8")),
        (b'text/csv; charset="windows-1252"', (2, "windows-1252")),
        (b"text/html", (2, "utf-8")),
        (b"application/octet-stream", None),
        (b"image/png", None),
        (b"multipart/form-data; boundary=x", None),
        (b"application/xml", (2, "utf-8")),
        (b"application/soap+xml; charset=utf-16", (2, "utf-16")),
        (b"application/x-ndjson", (4, "utf-8")),
        (b"application/x-www-form-urlencoded; charset=latin-1", (5, "latin-1")),
        (None, (3, "utf-8")),
    ],
)
def test_media_types(ctype: bytes | None, expected: tuple[int, str] | None) -> None:
    assert _media(ctype) == expected


@pytest.mark.parametrize(
    "number",
    [b"123456789012345678901234567890", b"-12345678901234567890", b"-9223372036854775809", b"18446744073709551616"],
)
def test_rewritten_bodies_keep_every_integer_exact(number: bytes) -> None:
    # orjson reads these as floats; a rewrite must not round them (core.jsonbody re-parses exactly).
    body = b'{"n": ' + number + b', "ssn": "' + SSN.encode() + b'"}'
    out = run(body).exchange.response.body or b""  # type: ignore[union-attr]
    assert number in out and not leaked(out, SSN)


def test_lone_surrogates_survive_a_rewrite() -> None:
    body = b'{"note": "\\ud800", "ssn": "' + SSN.encode() + b'"}'
    r = run(body)
    assert r.response is CONTINUE
    out = r.exchange.response.body or b""  # type: ignore[union-attr]
    assert b"\\ud800" in out and not leaked(out, SSN)


# ----------------------------------------------------------------------------- requests


def run_request(
    target: str,
    body: bytes | None = None,
    ctype: str | None = "application/json",
    config: dict[str, Any] | None = None,
    rt: RouteInfo | None = None,
) -> FilterRun:
    headers = [("content-type", ctype)] if ctype is not None else []
    req = make_request("POST", target, headers, body)
    return run_filter(PiiFilter, config or {}, make_exchange(req, route=rt or route()))


def test_requests_are_annotated_by_default_and_forwarded_unchanged() -> None:
    body = orjson.dumps(DOC)
    r = run_request(f"/v1/customers?ssn={SSN}&q=hello", body)
    assert r.request is CONTINUE
    assert r.exchange.request.body is body
    assert r.exchange.request.query == f"ssn={SSN}&q=hello".encode()
    rep = r.exchange.pii
    assert isinstance(rep, PiiReport) and rep.request is not None
    assert rep.request.entities == {"us_ssn": 2, "credit_card": 1, "email": 1, "person": 1}
    assert rep.request.spi == 3 and rep.request.actions == {"allow": 5}
    assert rep.total == 0, "request counts must not be mixed into the response's"
    d = [x for x in r.exchange.decisions if x.filter == "pii"]
    assert [x.outcome for x in d] == ["request"] and not leaked(d[0].rule.encode(), SSN, CARD, EMAIL)
    # Nothing personal: no report, no decision.
    r = run_request("/v1/customers?page=2", b'{"order": "ORD-1"}')
    assert r.exchange.pii is None and r.exchange.decisions == []


def test_request_counts_and_response_counts_stay_apart() -> None:
    req = make_request("GET", f"/v1/customers?email={EMAIL}")
    resp = make_response(200, JSON, orjson.dumps(DOC))
    r = run_filter(PiiFilter, {}, make_exchange(req, route=route()), resp)
    rep = r.exchange.pii
    assert isinstance(rep, PiiReport) and rep.request is not None
    assert rep.request.entities == {"email": 1}
    assert rep.entities["us_ssn"] == 1 and rep.entities["email"] == 1
    d = rep.to_dict()
    assert d["request"]["entities"] == {"email": 1} and d["entities"]["credit_card"] == 1
    ann = exchange_annotations(r.exchange)
    assert ann is not None
    assert ann["pii"]["request"] == {"categories": {"identifiers": 1}, "entities": {"email": 1}, "spi": 0}
    assert ann["pii"]["entities"]["us_ssn"] == 1 and "blocked" not in ann["pii"]


def test_query_block_keeps_spi_out_of_urls() -> None:
    cfg = {"request": {"query": "block"}}
    r = run_request(f"/v1/customers?tax={SSN.replace('-', '')}&ssn={SSN}", None, config=cfg)
    assert isinstance(r.request, Deny) and r.request.error is PiiRequestRefused
    assert r.request.rule == "pii:request-query" and PiiRequestRefused.status == 400
    assert r.exchange.pii is not None and r.exchange.pii.request is not None  # type: ignore[attr-defined]
    assert r.exchange.pii.request.entities["us_ssn"] >= 1  # type: ignore[attr-defined]
    # Personal but not sensitive: allowed by the default rules, so not refused.
    assert run_request(f"/v1/customers?email={EMAIL}", None, config=cfg).request is CONTINUE
    # The block applies to the query only; the body is still only annotated.
    assert run_request("/v1/customers", orjson.dumps(DOC), config=cfg).request is CONTINUE
    # A route can turn it on for itself.
    rs = SimpleNamespace(pii=PiiRouteSettings.model_validate({"request": {"query": "block"}}))
    assert isinstance(run_request(f"/x?ssn={SSN}", None, rt=route(settings=rs)).request, Deny)


def test_query_mask_rewrites_the_forwarded_query() -> None:
    r = run_request(f"/v1/customers?ssn={SSN}&tag=a&tag=b&empty=", None, config={"request": {"query": "mask"}})
    assert r.request is CONTINUE
    q = r.exchange.request.query
    assert not leaked(q, SSN) and q == b"ssn=%2A%2A%2A-%2A%2A-8741&tag=a&tag=b&empty="
    cfg = {"request": {"query": "mask", "actions": {"entities": {"email": "drop"}}}}
    r = run_request(f"/v1/customers?email={EMAIL}&page=1", None, config=cfg)
    assert r.exchange.request.query == b"page=1"


def test_body_mask_applies_the_request_rules() -> None:
    cfg = {"request": {"body": "mask", "actions": {"default": "redact", "spi": "mask"}}}
    r = run_request("/v1/customers", orjson.dumps(DOC), config=cfg)
    assert r.request is CONTINUE
    out = orjson.loads(r.exchange.request.body or b"")
    assert out["customer"]["ssn"] == "***-**-8741" and out["customer"]["email"] == "[REDACTED:email]"
    assert out["id"] == 42
    cfg = {"request": {"body": "mask", "actions": {"entities": {"us_ssn": "block"}}}}
    r = run_request("/v1/customers", orjson.dumps(DOC), config=cfg)
    assert isinstance(r.request, Deny) and r.request.rule == "pii:request-block:us_ssn"
    # form bodies
    form = f"name=Jane+Roe&ssn={SSN}".encode()
    r = run_request("/v1/customers", form, "application/x-www-form-urlencoded", config={"request": {"body": "mask"}})
    assert r.exchange.request.body == b"name=Jane+Roe&ssn=%2A%2A%2A-%2A%2A-8741"
    # text bodies
    text = f"please update SSN {SSN}".encode()
    r = run_request("/v1/notes", text, "text/plain", config={"request": {"body": "mask"}})
    assert r.exchange.request.body == b"please update SSN ***-**-8741"


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (orjson.dumps(DOC), "application/json"),
        (f"name=Jane+Roe&ssn={SSN}".encode(), "application/x-www-form-urlencoded"),
        (f"my ssn is {SSN}".encode(), "text/plain"),
        (orjson.dumps({"a": 1}) + b"\n" + orjson.dumps({"ssn": SSN}), "application/x-ndjson"),
    ],
)
def test_body_block_refuses_what_the_rules_would_not_allow(body: bytes, ctype: str) -> None:
    r = run_request("/v1/customers", body, ctype, config={"request": {"body": "block"}})
    assert isinstance(r.request, Deny) and r.request.error is PiiRequestRefused
    assert r.request.rule == "pii:request-body"
    assert r.exchange.request.body is body
    ok = {"request": {"body": "block", "actions": {"spi": "allow"}}}
    assert run_request("/v1/customers", body, ctype, config=ok).request is CONTINUE


def test_unreadable_request_bodies() -> None:
    body = b"--x\r\ncontent-disposition: form-data; name=f\r\n\r\n" + SSN.encode() + b"\r\n--x--"
    ctype = "multipart/form-data; boundary=x"
    r = run_request("/v1/upload", body, ctype)  # annotate: recorded, forwarded
    assert r.request is CONTINUE
    assert [(d.outcome, d.rule) for d in r.exchange.decisions] == [("uninspected", "pii:request-body-unreadable")]
    for mode in ("mask", "block"):
        r = run_request("/v1/upload", body, ctype, config={"request": {"body": mode}})
        assert isinstance(r.request, Deny) and r.request.error is PiiRequestUnreadable
        assert PiiRequestUnreadable.status == 415
        r = run_request("/v1/upload", body, ctype, config={"request": {"body": mode}, "pass_types": ["multipart/*"]})
        assert r.request is CONTINUE
    r = run_request("/v1/x", b'{"ssn": ', config={"request": {"body": "mask"}})
    assert isinstance(r.request, Deny) and r.request.error is PiiRequestUnreadable
    r = run_request("/v1/x", b"\xff\xfe", "text/plain", config={"request": {"body": "block"}})
    assert isinstance(r.request, Deny) and r.request.error is PiiRequestUnreadable


def test_request_inspection_off() -> None:
    cfg = {"request": {"body": "off", "query": "off"}}
    r = run_request(f"/v1/customers?ssn={SSN}", orjson.dumps(DOC), config=cfg)
    assert r.request is CONTINUE and r.exchange.pii is None
    off = SimpleNamespace(pii=PiiRouteSettings.model_validate({"request": {"body": "off"}}))
    r = run_request("/v1/customers", orjson.dumps(DOC), rt=route(settings=off))
    assert r.exchange.pii is None


def test_request_bodies_are_buffered_only_on_routes_that_inspect_them() -> None:
    ctx = SimpleNamespace(log=None)
    on, off = PiiFilter(PiiFilterConfig(), ctx), PiiFilter(PiiFilterConfig.model_validate({"request": {"body": "off"}}), ctx)  # type: ignore[arg-type]
    plain = route()
    no_body = route(settings=SimpleNamespace(pii=PiiRouteSettings.model_validate({"request": {"body": "off"}})))
    body = route(settings=SimpleNamespace(pii=PiiRouteSettings.model_validate({"request": {"body": "block"}})))
    assert on.needs_request_body_on(plain) and not on.needs_request_body_on(no_body)
    assert not off.needs_request_body_on(plain) and off.needs_request_body_on(body)
    # The chain built for a route asks per route; without a route it takes the class-wide flag.
    assert Pipeline([on], no_body).needs_request_body is False
    assert Pipeline([off], body).needs_request_body is True
    assert Pipeline([on]).needs_request_body is True


# ----------------------------------------------------------------------------- streaming


def _stream(config: dict[str, Any] | None = None, ctype: str = "application/json", rt: RouteInfo | None = None) -> tuple[Exchange, Any]:
    f = PiiFilter(PiiFilterConfig.model_validate(config or {}), SimpleNamespace(log=None))  # type: ignore[arg-type]
    ex = make_exchange(route=rt or route())
    ex.response = make_response(200, [("content-type", ctype)], None)
    return ex, f.open_response_stream(ex)


def test_open_response_stream_masks_element_by_element() -> None:
    rows = [{"id": i, "ssn": SSN, "email": EMAIL} for i in range(50)]
    data = orjson.dumps({"total": 50, "data": rows})
    ex, s = _stream()
    assert s is not None
    out = b"".join(s.feed(data[i : i + 97]) for i in range(0, len(data), 97)) + s.close()
    assert not leaked(out, SSN), "an SSN reached the client"
    doc = orjson.loads(out)
    assert doc["total"] == 50 and [r["id"] for r in doc["data"]] == list(range(50))
    assert all(r["ssn"] == "***-**-8741" for r in doc["data"])
    assert ex.pii is not None and ex.pii.entities == {"us_ssn": 50, "email": 50}
    assert [(d.outcome, d.rule) for d in ex.decisions] == [("streamed", "found=100 spi=50 allow=50 mask=50 elements=50")]


def test_open_response_stream_is_none_when_off_or_not_json() -> None:
    assert _stream(ctype="text/csv")[1] is None
    assert _stream(ctype="image/png")[1] is None
    assert _stream({"stream": {"enabled": False}})[1] is None
    rs = SimpleNamespace(pii=PiiRouteSettings.model_validate({"stream": {"enabled": False}}))
    assert _stream(rt=route(settings=rs))[1] is None


def test_stream_block_and_limits_raise_gateway_errors() -> None:
    rows = [{"id": 1, "email": EMAIL}, {"id": 2, "passport_number": "X12345678"}, {"id": 3}]
    ex, s = _stream({"engine": {"actions": {"entities": {"us_passport": "block"}}}})
    data = orjson.dumps(rows)
    cut = len(orjson.dumps(rows[0])) + 2  # "[", the first element, ","
    assert s.feed(data[:cut]) == b"[" + orjson.dumps(rows[0])  # sent before the block is known
    with pytest.raises(PiiResponseBlocked):
        s.feed(data[cut:])
    assert ex.pii is not None and ex.pii.blocked and ex.pii.blocked_by == "us_passport"
    assert [(d.outcome, d.rule) for d in ex.decisions] == [("deny", "pii:block:us_passport")]
    assert s.feed(b"]") == b"" and s.close() == b""  # nothing more after a refusal
    ex, s = _stream({"stream": {"max_element_bytes": 1024}})
    with pytest.raises(PiiResponseUninspectable):
        s.feed(b'[{"note": "' + b"x" * 2000)
    assert ex.decisions[-1].rule == "pii:stream-element-too-large"
    ex, s = _stream()
    with pytest.raises(PiiResponseUninspectable):
        s.feed(b"[1,")
        s.close()
    assert ex.decisions[-1].rule == "pii:stream-unparseable"


def test_stream_array_names_the_member_to_stream() -> None:
    doc = {"tags": ["a", "b"], "data": [{"ssn": SSN}, {"ssn": SSN}], "next": None}
    _, s = _stream({"stream": {"array": "data"}})
    out = s.feed(orjson.dumps(doc)) + s.close()
    assert orjson.loads(out) == {"tags": ["a", "b"], "data": [{"ssn": "***-**-8741"}] * 2, "next": None}
    assert s.stream.elements == 2


def _caller(consumer: str, purpose: Purpose) -> Identity:
    return Identity(consumer, purpose, "api_key", "cpg_test")


def test_actions_per_purpose_and_per_consumer() -> None:
    """A consumer's own rules win over its purpose's, which win over the route's (issue 5 §3)."""
    cfg = {
        "by_purpose": {"third_party": {"categories": {"identifiers": "redact"}}},
        "by_consumer": {"fraud-desk": {"entities": {"us_ssn": "allow"}}},
    }
    route_cfg = SimpleNamespace(pii=PiiRouteSettings.model_validate(
        {"by_purpose": {"contractor": {"entities": {"email": "drop"}}}}
    ))

    def body_for(identity: Identity | None) -> dict[str, Any]:
        ex = make_exchange(route=route(settings=route_cfg))
        ex.identity = identity
        r = run_filter(PiiFilter, cfg, ex, make_response(200, JSON, orjson.dumps(DOC)))
        return orjson.loads(r.exchange.response.body or b"")  # type: ignore[union-attr,no-any-return]

    default = body_for(None)["customer"]
    assert default["email"] == EMAIL and default["ssn"] == "***-**-8741"  # the filter's defaults
    partner = body_for(_caller("partner", "third_party"))["customer"]
    assert partner["email"] == "[REDACTED:email]"  # the filter-level purpose rule
    contractor = body_for(_caller("helpdesk", "contractor"))["customer"]
    assert "email" not in contractor  # the route-level purpose rule
    desk = body_for(_caller("fraud-desk", "third_party"))["customer"]
    assert desk["ssn"] == SSN and desk["email"] == EMAIL  # its own rules replace the purpose's
    provider = body_for(_caller("support-app", "service_provider"))["customer"]
    assert provider["ssn"] == "***-**-8741"  # no entry: the route's rules


def test_per_purpose_keys_are_validated() -> None:
    with pytest.raises(ValueError, match="by_purpose"):
        PiiFilterConfig.model_validate({"by_purpose": {"advertiser": {"default": "allow"}}})


def test_request_rules_per_consumer_and_purpose() -> None:
    """Request-side inspection resolves its rules per caller like the response side (issue 5 §3)."""
    cfg = {
        "request": {
            "body": "block",
            "query": "block",
            "by_consumer": {"payroll": {"spi": "allow"}},
            "by_purpose": {"third_party": {"categories": {"identifiers": "block"}}},
        },
    }

    def verdict(identity: object | None, body: bytes, target: str = "/v1/customers", conf: dict[str, Any] = cfg) -> object:
        ex = make_exchange(make_request("POST", target, JSON, body), route=route())
        ex.identity = identity  # type: ignore[assignment]
        return run_filter(PiiFilter, conf, ex).request

    ssn_doc = orjson.dumps({"employee": {"ssn": SSN}})
    email_doc = orjson.dumps({"contact": EMAIL})
    # The consumer allowed to send SSNs (its own entry wins over its purpose's) ...
    assert verdict(_caller("payroll", "third_party"), ssn_doc) is CONTINUE
    assert verdict(_caller("payroll", "service_provider"), b"", f"/v1/customers?ssn={SSN}") is CONTINUE
    # ... and one refused: no entry, the filter's request defaults (SPI not allowed).
    refused = verdict(_caller("support-app", "service_provider"), ssn_doc)
    assert isinstance(refused, Deny) and refused.error is PiiRequestRefused and refused.rule == "pii:request-body"
    assert isinstance(verdict(None, ssn_doc), Deny)  # anonymous: the request defaults
    # The purpose's entry: a third party may not send identifiers (e-mail), a service provider may.
    assert isinstance(verdict(_caller("partner", "third_party"), email_doc), Deny)
    assert verdict(_caller("support-app", "service_provider"), email_doc) is CONTINUE

    # The response side's per-caller rules are not request rules: leave to receive SSNs is not leave to send them.
    resp_only = {"request": {"body": "block"}, "by_consumer": {"fraud-desk": {"entities": {"us_ssn": "allow"}}}}
    assert isinstance(verdict(_caller("fraud-desk", "third_party"), ssn_doc, conf=resp_only), Deny)
    own = {**resp_only, "request": {"body": "block", "by_consumer": {"fraud-desk": {"entities": {"us_ssn": "allow"}}}}}
    assert verdict(_caller("fraud-desk", "third_party"), ssn_doc, conf=own) is CONTINUE

    # A route's request entries override the filter's for the same consumer; mask mode rewrites per caller.
    rs = SimpleNamespace(pii=PiiRouteSettings.model_validate(
        {"request": {"body": "mask", "by_consumer": {"payroll": {"entities": {"us_ssn": "redact"}}}}}
    ))
    ex = make_exchange(make_request("POST", "/v1/customers", JSON, ssn_doc), route=route(settings=rs))
    ex.identity = _caller("payroll", "third_party")  # type: ignore[assignment]
    r = run_filter(PiiFilter, cfg, ex)
    assert r.request is CONTINUE
    assert orjson.loads(r.exchange.request.body or b"")["employee"]["ssn"] == "[REDACTED:us_ssn]"


def test_request_per_caller_keys_are_validated() -> None:
    with pytest.raises(ValueError, match="by_purpose"):
        PiiFilterConfig.model_validate({"request": {"by_purpose": {"advertiser": {"default": "allow"}}}})
    with pytest.raises(ValueError, match=r"by_consumers"):
        PiiFilterConfig.model_validate({"request": {"by_consumers": {}}})


def test_request_rules_resolve_route_level_before_filter_level_and_never_inherit_response_allowances() -> None:
    ssn_doc = orjson.dumps({"employee": {"ssn": SSN}})

    def verdict(cfg: dict[str, Any], route_pii: dict[str, Any] | None, who: object) -> object:
        rs = SimpleNamespace(pii=PiiRouteSettings.model_validate(route_pii)) if route_pii else None
        ex = make_exchange(make_request("POST", "/v1/x", JSON, ssn_doc), route=route(settings=rs))
        ex.identity = who  # type: ignore[assignment]
        return run_filter(PiiFilter, cfg, ex).request

    allow_all = {"default": "allow", "spi": "allow"}
    strict = {"default": "block", "spi": "block"}
    # a route's own strict request.actions beat a filter-wide request.by_purpose allowance
    cfg = {"request": {"body": "block", "by_purpose": {"third_party": allow_all}}}
    assert isinstance(verdict(cfg, {"request": {"actions": strict}}, _caller("p", "third_party")), Deny)
    assert verdict(cfg, None, _caller("p", "third_party")) is CONTINUE  # no route rules: the filter's entry
    # a response-side consumer allowance does not become a request-side one
    cfg = {"request": {"body": "block"}, "by_consumer": {"reporting": allow_all}}
    assert isinstance(verdict(cfg, None, _caller("reporting", "service_provider")), Deny)
    # nor does a filter-wide response by_purpose over a route's strict response actions
    cfg = {"request": {"body": "block"}, "by_purpose": {"service_provider": allow_all}}
    assert isinstance(verdict(cfg, {"actions": strict}, _caller("x", "service_provider")), Deny)
    # the route's by_consumer wins over its own actions; the filter's by_consumer does not
    cfg = {"request": {"body": "block", "by_consumer": {"payroll": strict}}}
    route_pii = {"request": {"actions": strict, "by_consumer": {"payroll": allow_all}}}
    assert verdict(cfg, route_pii, _caller("payroll", "third_party")) is CONTINUE
    cfg = {"request": {"body": "block", "by_consumer": {"payroll": allow_all}}}
    assert isinstance(verdict(cfg, {"request": {"actions": strict}}, _caller("payroll", "third_party")), Deny)


def test_reports_compare_and_print_as_the_dataclasses_did() -> None:
    """Annotations and PiiReport are plain classes (a compiled dataclass's __init__ ran
    interpreted): the same constructor (positional and keyword), equality and repr."""
    from cpragate.pii import Annotations

    a = Annotations({"email": 1}, {"identifiers": 1}, 0, {"mask": 1})
    assert a == Annotations(entities={"email": 1}, categories={"identifiers": 1}, actions={"mask": 1})
    assert a != Annotations() and Annotations() == Annotations() and Annotations().entities is not Annotations().entities
    assert repr(Annotations(spi=2)) == (
        "Annotations(entities={}, categories={}, spi=2, actions={}, blocked=False, blocked_by=None)"
    )
    rep = PiiReport(request=Annotations())
    assert rep != PiiReport() and rep == PiiReport(request=Annotations()) and rep != Annotations()
    assert PiiReport().request is None and isinstance(rep, Annotations)
    assert repr(rep).startswith("PiiReport(entities={}, ") and repr(rep).endswith(", request=Annotations(" + repr(
        Annotations()
    )[len("Annotations(") :] + ")")
    assert rep.to_dict()["request"] == Annotations().to_dict()
