"""The pii filter's compiled response path (filters/pii/fastpath.py): the same result as
the filter's own ``on_response``, and None (nothing touched) for what it leaves to it.
Test values are synthetic; assertions never show body contents."""

from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpragate.core.clock import FakeClock
from cpragate.core.exchange import Exchange
from cpragate.core.filter import FilterContext
from cpragate.core.jsonbody import _may_round
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny
from cpragate.filters.pii import PiiFilter, PiiFilterConfig, PiiRouteSettings
from cpragate.filters.pii import fastpath as fp
from cpragate.filters.pii.filter import PiiReport
from cpragate.pii import Annotations, Engine
from cpragate.testing import make_exchange, make_request, make_response

DOC = {
    "items": [
        {"name": "Jane Roe", "email": "jane.roe@example.com", "ssn": "536-22-8741",
         "card_number": "4111111111111111", "location": {"lat": 38.316837, "lng": -118.07358}},
        {"name": "John Doe", "phone": "(415) 555-0100", "note": "call 536-22-8741 later"},
    ],
    "total": 2,
}  # fmt: skip
ROUTE = RouteInfo("r", "/v1/customers", ("GET",), "u", personal=True)


def _filter(**config: Any) -> PiiFilter:
    return PiiFilter(PiiFilterConfig.model_validate(config), FilterContext(clock=FakeClock()))


def _exchange(body: bytes, ctype: str | None = "application/json", route: RouteInfo = ROUTE) -> Exchange:
    ex = make_exchange(route=route)
    ex.response = make_response(200, [("content-type", ctype)] if ctype else [], body)
    return ex


def _drive(f: PiiFilter, ex: Exchange) -> Any:
    coro = f.on_response(ex)
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("on_response awaited")


def _outcome(ex: Exchange, v: Any) -> tuple[Any, ...]:
    assert ex.response is not None
    pii = ex.pii.to_dict() if ex.pii is not None else None
    return (type(v), getattr(v, "rule", None), ex.response.body, pii, [(d.filter, d.outcome, d.rule) for d in ex.decisions])


class _Undecided:
    """A Fast whose response path never decides: on_response runs its Python path."""

    def __init__(self, fast: fp.Fast) -> None:
        self.plan = fast.plan

    def respond(self, exchange: Exchange) -> None:
        return None


@pytest.mark.parametrize(
    "config",
    [{}, {"engine": {"actions": {"default": "mask"}}}, {"engine": {"actions": {"default": "block"}}},
     {"engine": {"actions": {"default": "redact"}}}, {"engine": {"actions": {"default": "drop"}}}],
)  # fmt: skip
def test_response_now_gives_what_the_python_path_gave(config: dict[str, Any]) -> None:
    body = orjson.dumps(DOC)
    fast, slow = _exchange(body), _exchange(body)
    f = _filter(**config)
    v_fast = f.response_now(fast)
    assert v_fast is not None
    # The Python path: the same filter with its fast path unable to decide.
    g = _filter(**config)
    g._fast = _Undecided(g._fast)  # type: ignore[assignment]
    v_slow = _drive(g, slow)
    assert _outcome(fast, v_fast) == _outcome(slow, v_slow), "the fast path answered differently"
    assert v_fast is CONTINUE or isinstance(v_fast, Deny)


# Like the end-to-end benchmark's 1 KB body (bench/harness.make_body): a customer whose
# street is too long for the value check (free-text scan), plus names after cues in text.
_LONG = {
    "id": 42, "name": "Ada Lovelace", "email": "ada.lovelace0@example.com", "phone": "+1-415-555-0100",
    "ssn": "521-10-1000", "date_of_birth": "1960-01-01",
    "address": {"street": "1 Market St #" + "x" * 640, "city": "San Francisco", "state": "CA", "zip": "94105"},
    "location": {"lat": 37.7936, "lng": -122.3958},
    "notes": "Spoke with Mary O'Neil about the refund. Dear Jane Q. Public, thanks. \u0130 Mr Bo Wu called.",
}  # fmt: skip


@pytest.mark.parametrize("config", [{}, {"engine": {"actions": {"default": "mask"}}}])
def test_the_fast_path_on_long_free_text_equals_the_pure_python_engine(config: dict[str, Any]) -> None:
    body = orjson.dumps(_LONG)
    fast, slow = _exchange(body), _exchange(body)
    f = _filter(**config)
    v_fast = f.response_now(fast)
    g = _filter(**config)
    g._fast = _Undecided(g._fast)  # type: ignore[assignment]
    g.engine = Engine(g.engine.config, native=False)
    v_slow = _drive(g, slow)
    assert _outcome(fast, v_fast) == _outcome(slow, v_slow), "the fast path answered differently"
    assert fast.response is not None and fast.response.body != body  # something was masked


def test_on_response_uses_the_fast_path_and_adds_to_a_request_report() -> None:
    f = _filter()
    ex = _exchange(orjson.dumps(DOC))
    rep = PiiReport(request=Annotations())
    ex.pii = rep
    assert _drive(f, ex) is CONTINUE
    assert ex.pii is rep and rep.spi > 0 and rep.request is not None
    assert [d.outcome for d in ex.decisions if d.filter == "pii"] == ["rewritten"]


@pytest.mark.parametrize(
    ("ctype", "body"),
    [
        ("text/plain", b"ssn 536-22-8741"),
        (None, b'{"ssn": "536-22-8741"}'),
        ("application/json", b'{"ssn": '),
        ("application/x-ndjson", b'{"ssn": "536-22-8741"}\n'),
        ("image/png", b"\x89PNG"),
    ],
)
def test_what_the_fast_path_leaves_to_on_response_is_left_untouched(ctype: str | None, body: bytes) -> None:
    f = _filter()
    ex = _exchange(body, ctype)
    assert f.response_now(ex) is None
    assert ex.response is not None and ex.response.body is body
    assert ex.pii is None and not ex.decisions


def test_no_body_continues_at_once_and_records_nothing() -> None:
    f = _filter()
    ex = _exchange(b"")
    assert f.response_now(ex) is CONTINUE
    assert ex.pii is None and not ex.decisions
    ex = make_exchange(route=ROUTE)  # no response at all
    assert f.response_now(ex) is CONTINUE and not ex.decisions


def test_pass_types_route_is_left_to_on_response() -> None:
    rs = SimpleNamespace(pii=PiiRouteSettings(pass_types=["application/json"]))
    rt = RouteInfo("r", "/v1/x", ("GET",), "u", personal=True, settings=rs)
    f = _filter()
    ex = _exchange(orjson.dumps(DOC), route=rt)
    assert f.response_now(ex) is None
    assert _drive(f, ex) is CONTINUE
    assert [d.outcome for d in ex.decisions] == ["uninspected"]


def test_media_is_cached_and_answers_as_before() -> None:
    for ct in (b"application/json", b"Application/JSON; charset=utf-8", b"application/problem+json",
               b"text/html; charset=\"ISO-8859-1\"", b"application/x-www-form-urlencoded", b"image/png",
               b"application/x-ndjson", b"application/xml"):  # fmt: skip
        first = fp.media(ct)
        assert fp.media(ct) == first == fp._media(ct)
    assert fp.media(None) == (fp.SNIFF, "utf-8")
    for i in range(300):
        fp.media(b"application/x-test-%d" % i)
    assert len(fp._media_cache) <= 256


def test_summary_and_rewrote() -> None:
    ann = Annotations()
    assert fp.summary(ann) == "found=0 spi=0" and not fp.rewrote(ann)
    ann.add("us_ssn", "identifiers", True, "mask", 2)
    ann.add("email", "identifiers", False, "allow", 1)
    assert fp.summary(ann) == "found=3 spi=2 allow=1 mask=2"
    assert fp.rewrote(ann)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["email", "us_ssn", "phone", "x" * 30, "café"]), st.integers(0, 2**70), max_size=5),
    st.integers(0, 10**6),
    st.dictionaries(
        st.sampled_from(["mask", "allow", "redact", "drop", "block", "tokenize", "mas", "masks", "a", "b", "café", "x" * 50]),
        st.one_of(st.integers(0, 9), st.integers(-(2**64), 2**64)),
        max_size=10,
    ),
)
def test_summary_in_c_equals_python(entities: dict[str, int], spi: int, actions: dict[str, int]) -> None:
    """_cscan.summary (when loaded) writes what summary_py writes; without it summary is summary_py."""
    ann = Annotations(entities, {}, spi, actions, False, None)
    assert fp.summary(ann) == fp.summary_py(ann)
    if fp._native_summary is not None:
        assert fp._native_summary(entities, spi, actions) == fp.summary_py(ann)
        with pytest.raises(TypeError):
            fp._native_summary([], spi, actions)  # type: ignore[arg-type]


def test_summary_without_the_native_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fp, "_native_summary", None)
    ann = Annotations({"email": 2}, {}, 1, {"mask": 1, "allow": 1}, False, None)
    assert fp.summary(ann) == "found=2 spi=1 allow=1 mask=1"


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from([b"1", b"7", b"0", b"-", b"x", b'"', b"1234567890", b"9" * 19, b"-" + b"5" * 19]), max_size=40))
def test_may_round_answers_as_jsonbody(parts: list[bytes]) -> None:
    src = b"".join(parts)
    assert fp.may_round(src) == _may_round(src)
    if fp._native_may_round is not None:
        assert fp._native_may_round(src) == _may_round(src)


@pytest.mark.parametrize("n", range(15, 42))
def test_may_round_on_runs_at_every_offset(n: int) -> None:
    for run in (18, 19, 20, 25):
        for lead in (b"", b"-", b"x", b"x-", b"--"):
            src = b"a" * (n - len(lead)) + lead + b"3" * run + b"]"
            assert fp.may_round(src) == _may_round(src), "may_round differs from jsonbody"
            if fp._native_may_round is not None:
                assert fp._native_may_round(src) == _may_round(src), "_cscan.may_round differs from jsonbody"


def test_a_big_integer_is_kept_exact_on_the_fast_path() -> None:
    body = b'{"ssn": "536-22-8741", "id": 123456789012345678901234567890, "neg": -9223372036854775809}'
    ex = _exchange(body)
    assert _filter().response_now(ex) is CONTINUE
    assert ex.response is not None
    out = ex.response.body or b""
    assert b"123456789012345678901234567890" in out and b"-9223372036854775809" in out
    assert ex.response_json is not None and ex.response_json.exact


def test_request_now_lets_requests_with_nothing_to_inspect_through_compiled() -> None:
    """The filter's request phase is the compiled ``Fast.request_now``: a request without
    query string or body is let through there; the others reach the filter's inspection."""
    f = _filter(routes="all", request={"body": "annotate", "query": "annotate"})
    assert f.request_now == f._fast.request_now
    seen: list[Exchange] = []
    inspect = f._fast.request_inspect
    assert inspect is not None

    def spy(ex: Exchange) -> Any:
        seen.append(ex)
        return inspect(ex)

    f._fast.request_inspect = spy
    bare = make_exchange(make_request("GET", "/v1/customers"), route=ROUTE)
    assert f.request_now(bare) is CONTINUE and seen == [] and bare.pii is None
    asked = make_exchange(make_request("GET", "/v1/customers?email=jane.roe%40example.com"), route=ROUTE)
    assert f.request_now(asked) is CONTINUE and seen == [asked]
    assert asked.pii is not None and asked.pii.request.categories  # annotated, not refused
    body = make_exchange(
        make_request("POST", "/v1/customers", {"content-type": "application/json"}, orjson.dumps(DOC)), route=ROUTE
    )
    assert f.request_now(body) is CONTINUE and seen == [asked, body]
    assert body.pii is not None and body.pii.request.spi >= 1
    f._fast.request_inspect = None  # no inspection wired: nothing is refused
    assert f._fast.request_now(asked) is CONTINUE


def test_plan_keeps_the_last_route_and_answers_as_the_dict() -> None:
    fast = _filter()._fast
    other = RouteInfo("o", "/v1/orders", ("GET",), "u", personal=True)
    a, b = fast.plan(ROUTE), fast.plan(other)
    for _ in range(3):
        assert fast.plan(ROUTE) is a and fast.plan(ROUTE) is a and fast.plan(other) is b
    assert fast.plans[id(ROUTE)] is a and fast.plans[id(other)] is b and fast.plan(None) is fast.default_plan


def test_the_decision_text_is_the_summary_on_repeated_responses() -> None:
    """The engine hands the fast path the text of counts it has seen last (tally's kinds);
    every response's decision still reads what summary() writes."""
    f = _filter()
    body = orjson.dumps(DOC)
    for _ in range(4):
        ex = _exchange(body)
        assert f.response_now(ex) is CONTINUE
        assert isinstance(ex.pii, Annotations)
        fresh = Annotations(dict(ex.pii.entities), {}, ex.pii.spi, dict(ex.pii.actions), False, None)
        assert [d.rule for d in ex.decisions if d.filter == "pii"] == [fp.summary_py(fresh)]
