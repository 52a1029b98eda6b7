"""Order, short-circuit, unwinding and failure isolation of the filter chain."""

import asyncio
from typing import ClassVar

from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterConfig, FilterContext
from cpragate.core.messages import Headers, Response
from cpragate.core.pipeline import Pipeline, order_filters
from cpragate.core.verdict import CONTINUE, Deny, Respond, Verdict
from cpragate.errors import FilterFailed, NotRouted
from cpragate.testing import FakeClock, make_exchange, make_response, run_pipeline

LOG: list[str] = []


def mk(name: str, prio: int, deny: bool = False, respond: bool = False, boom: str = "", complete_prio: int | None = None) -> Filter:
    class F(Filter):
        priority = prio
        complete_priority = complete_prio

        async def on_request(self, exchange: Exchange) -> Verdict:
            LOG.append(f"req:{self.name}")
            if boom == "request":
                raise RuntimeError("x")
            if deny:
                return Deny(NotRouted, rule=f"{self.name}-rule")
            if respond:
                return Respond(Response(204, Headers(), b""))
            return CONTINUE

        async def on_response(self, exchange: Exchange) -> Verdict:
            LOG.append(f"resp:{self.name}")
            if boom == "response":
                raise RuntimeError("x")
            return CONTINUE

        async def on_complete(self, exchange: Exchange) -> None:
            LOG.append(f"done:{self.name}")
            if boom == "complete":
                raise RuntimeError("x")

    F.name = name  # type: ignore[misc]
    return F(FilterConfig(), FilterContext(clock=FakeClock()))


def setup_function() -> None:
    LOG.clear()


def test_order_priority_desc_then_name() -> None:
    fs = [mk("b", 10), mk("a", 10), mk("c", 20)]
    assert [f.name for f in order_filters(fs)] == ["c", "a", "b"]


def test_request_desc_response_reversed_complete_by_priority() -> None:
    run_pipeline([mk("low", 1), mk("high", 100), mk("mid", 50, complete_prio=200)], make_exchange(), make_response(200))
    assert LOG == [
        "req:high", "req:mid", "req:low",
        "resp:low", "resp:mid", "resp:high",
        "done:mid", "done:high", "done:low",
    ]


def test_deny_short_circuits_and_unwinds_only_filters_that_saw_the_request() -> None:
    r = run_pipeline([mk("edge", 100), mk("auth", 50, deny=True), mk("inner", 10)], make_exchange(), make_response())
    assert isinstance(r.request, Deny) and r.request.rule == "auth-rule"
    # complete runs for every filter (audit must see denials), by priority
    assert LOG == ["req:edge", "req:auth", "resp:auth", "resp:edge", "done:edge", "done:auth", "done:inner"]
    assert r.exchange.decisions[-1].outcome == "deny"
    assert r.exchange.response is not None and r.exchange.response.status == 404


def test_respond_verdict() -> None:
    r = run_pipeline([mk("cors", 100, respond=True), mk("x", 10)], make_exchange())
    assert isinstance(r.request, Respond)
    assert "req:x" not in LOG


def test_exception_in_request_phase_fails_closed() -> None:
    r = run_pipeline([mk("bad", 10, boom="request")], make_exchange())
    assert isinstance(r.request, Deny) and r.request.error is FilterFailed


def test_exception_in_response_phase_fails_closed() -> None:
    r = run_pipeline([mk("bad", 10, boom="response")], make_exchange(), make_response())
    assert isinstance(r.response, Deny) and r.response.error is FilterFailed


def test_complete_phase_isolates_failures() -> None:
    run_pipeline([mk("a", 20, boom="complete"), mk("b", 10)], make_exchange(), make_response())
    assert LOG[-2:] == ["done:a", "done:b"]


def test_body_needs_are_or_of_chain() -> None:
    f1, f2 = mk("a", 1), mk("b", 2)
    f2.needs_response_body = True
    p = Pipeline([f1, f2])
    assert p.needs_response_body and not p.needs_request_body
    assert Pipeline([]).request_filters == ()


def test_filter_defaults_are_noops() -> None:
    class Plain(Filter):
        name: ClassVar[str] = "plain"  # type: ignore[misc]

    p = Pipeline([Plain(FilterConfig(), FilterContext())])
    assert p.request_filters == () and p.response_filters == () and p.complete_filters == ()
    ex = make_exchange()
    assert run_pipeline([Plain(FilterConfig(), FilterContext())], ex).request is CONTINUE


def test_response_stream_only_from_the_one_body_reader() -> None:
    class Rewriter:
        def feed(self, chunk: bytes) -> bytes:
            return chunk.upper()

        def close(self) -> bytes:
            return b""

    class Streams(Filter):
        name = "streams"
        needs_response_body = True

        def open_response_stream(self, exchange: Exchange) -> Rewriter:
            return Rewriter()

    class Reads(Filter):
        name = "reads"
        needs_response_body = True

    ctx = FilterContext(clock=FakeClock())
    cfg = FilterConfig()
    ex = make_exchange()
    plain = mk("plain", 5)
    s = Pipeline([Streams(cfg, ctx), plain]).response_stream(ex)
    assert s is not None and s.feed(b"ab") == b"AB"
    assert Pipeline([Streams(cfg, ctx), Reads(cfg, ctx)]).response_stream(ex) is None  # Reads could not see the body
    assert Pipeline([Reads(cfg, ctx)]).response_stream(ex) is None  # the default: no streaming
    assert Pipeline([plain]).response_stream(ex) is None


def test_request_body_need_is_asked_per_route_when_the_chain_has_one() -> None:
    from cpragate.core.route import RouteInfo

    class PerRoute(Filter):
        name = "per_route"
        needs_request_body = True

        def needs_request_body_on(self, route: RouteInfo) -> bool:
            return route.personal

    f = PerRoute(FilterConfig(), FilterContext(clock=FakeClock()))
    personal = RouteInfo("a", "/a", ("POST",), "u", personal=True)
    public = RouteInfo("b", "/b", ("POST",), "u")
    assert Pipeline([f], personal).needs_request_body is True
    assert Pipeline([f], public).needs_request_body is False
    assert Pipeline([f]).needs_request_body is True  # no route: the filter's flag
    assert Pipeline([mk("plain", 5)], personal).needs_request_body is False  # default: the flag


def mk_fast(name: str, prio: int, now: str = "continue") -> Filter:
    """A filter with fast paths: ``now`` is what they answer (continue, deny, none, boom)."""

    class F(Filter):
        priority = prio

        def request_now(self, exchange: Exchange) -> Verdict | None:
            LOG.append(f"now:{self.name}")
            return _answer(self.name, now)

        async def on_request(self, exchange: Exchange) -> Verdict:
            LOG.append(f"req:{self.name}")
            return CONTINUE

        def response_now(self, exchange: Exchange) -> Verdict | None:
            LOG.append(f"rnow:{self.name}")
            return _answer(self.name, now)

        async def on_response(self, exchange: Exchange) -> Verdict:
            LOG.append(f"resp:{self.name}")
            return CONTINUE

    F.name = name
    return F(FilterConfig(), FilterContext(clock=FakeClock()))


def _answer(name: str, now: str) -> Verdict | None:
    if now == "boom":
        raise RuntimeError("x")
    if now == "deny":
        return Deny(NotRouted, rule=f"{name}-rule")
    return None if now == "none" else CONTINUE


def test_fast_paths_decide_without_awaiting() -> None:
    r = run_pipeline([mk_fast("a", 20), mk_fast("b", 10)], make_exchange(), make_response())
    assert r.request is CONTINUE and r.response is CONTINUE
    assert LOG == ["now:a", "now:b", "rnow:b", "rnow:a"]


def test_fast_path_resumes_awaiting_at_the_first_filter_that_cannot_decide() -> None:
    fs = [mk_fast("a", 30), mk_fast("b", 20, now="none"), mk("c", 10), mk_fast("d", 5)]
    r = run_pipeline(fs, make_exchange(), make_response())
    assert r.request is CONTINUE and r.response is CONTINUE
    assert LOG[:4] == ["now:a", "now:b", "req:b", "req:c"]  # a is not run twice; c has no fast path
    # past the awaited ones, d, b and a still try their fast path first (b's says None: awaited)
    assert LOG[4:] == ["now:d", "rnow:d", "resp:c", "rnow:b", "resp:b", "rnow:a", "done:c"]
    LOG.clear()
    assert run_pipeline(fs, make_exchange(), make_response(), fast=False).request is CONTINUE
    assert LOG == ["req:a", "req:b", "req:c", "req:d", "resp:d", "resp:c", "resp:b", "resp:a", "done:c"]


def test_fast_path_deny_unwinds_like_the_awaited_one() -> None:
    fs = [mk_fast("edge", 100), mk_fast("auth", 50, now="deny"), mk_fast("inner", 10)]
    r = run_pipeline(fs, make_exchange(), make_response())
    assert isinstance(r.request, Deny) and r.request.rule == "auth-rule"
    assert LOG == ["now:edge", "now:auth", "rnow:auth"]  # the deny stops the unwinding fast path too
    assert r.exchange.decisions[-1].outcome == "deny" and r.exchange.filters_seen == 2


def mk_done(name: str, prio: int, now: str) -> Filter:
    """A complete phase with a fast path: ``now`` is continue (done), none (await) or boom."""

    class F(Filter):
        priority = prio

        def complete_now(self, exchange: Exchange) -> bool:
            LOG.append(f"cnow:{self.name}")
            if now == "boom":
                raise RuntimeError("x")
            return now != "none"

        async def on_complete(self, exchange: Exchange) -> None:
            LOG.append(f"done:{self.name}")

    F.name = name
    return F(FilterConfig(), FilterContext(clock=FakeClock()))


def test_complete_phase_runs_fast_paths_and_awaits_from_the_first_that_cannot() -> None:
    fs = [mk_done("a", 40, "continue"), mk_done("b", 30, "none"), mk("c", 20), mk_done("d", 10, "continue"),
          mk_done("e", 5, "boom")]  # fmt: skip
    p = Pipeline(fs)
    ex = make_exchange()
    at = p.complete_now(ex)
    assert at == 1 and LOG == ["cnow:a", "cnow:b"]  # b could not: nothing after it has run
    asyncio.run(p.run_complete(ex, at))
    # b awaited (its fast path is not asked twice), c has none, d and e try theirs first;
    # e raising is logged and isolated like an on_complete that raises
    assert LOG == ["cnow:a", "cnow:b", "done:b", "done:c", "cnow:d", "cnow:e"]
    LOG.clear()
    assert p.complete_now(make_exchange()) == 1
    LOG.clear()
    asyncio.run(p.run_complete(make_exchange(), fast=False))
    assert LOG == ["done:a", "done:b", "done:c", "done:d", "done:e"]
    LOG.clear()
    q = Pipeline([mk_done("x", 2, "continue"), mk_done("y", 1, "boom")])
    assert q.complete_now(make_exchange()) == 2 and LOG == ["cnow:x", "cnow:y"]  # all done: no coroutine


def test_exception_in_a_fast_path_fails_closed() -> None:
    r = run_pipeline([mk_fast("bad", 10, now="boom")], make_exchange())
    assert isinstance(r.request, Deny) and r.request.error is FilterFailed and r.request.rule == "bad:exception"
    p = Pipeline([mk_fast("bad", 10, now="boom")])
    ex = make_exchange()
    ex.filters_seen = 1
    v = p.response_now(ex)
    assert isinstance(v, Deny) and v.error is FilterFailed
