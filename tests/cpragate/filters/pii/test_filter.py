"""The pii filter on plain objects. Test values are synthetic (valid checksums, fake
people); assertions never show body contents when they fail."""

from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny
from cpragate.errors import PiiResponseBlocked, PiiResponseUninspectable
from cpragate.filters.pii import PiiFilter, PiiFilterConfig, PiiRouteSettings
from cpragate.filters.pii.filter import _media, route_settings
from cpragate.testing import FilterRun, make_exchange, make_response, run_filter

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
    r = run(b"\xff\xfe SSN", [("content-type", "text/plain; charset=utf-8")])
    assert isinstance(r.response, Deny) and r.response.error is PiiResponseUninspectable
    r = run(b"SSN", [("content-type", "text/plain; charset=no-such-charset")])
    assert isinstance(r.response, Deny)


def test_other_types_pass_unread() -> None:
    body = b"\x89PNG" + SSN.encode()
    r = run(body, [("content-type", "image/png")])
    assert r.response is CONTINUE
    assert r.exchange.response.body is body  # type: ignore[union-attr]
    assert r.exchange.pii is None


def test_missing_content_type_is_sniffed() -> None:
    r = run(orjson.dumps(DOC), [])
    assert not leaked(r.exchange.response.body, SSN), "the SSN reached the client"  # type: ignore[union-attr]
    plain = b"hello " + SSN.encode()
    r = run(plain, [])
    assert r.exchange.response.body is plain and r.exchange.pii is None  # type: ignore[union-attr]
    notjson = b"{not json"
    r = run(notjson, [])
    assert r.response is CONTINUE and r.exchange.response.body is notjson  # type: ignore[union-attr]


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
