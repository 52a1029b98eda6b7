from cpragate.config.model import Route
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny, Respond
from cpragate.filters.cors import CorsFilter, CorsPolicy
from cpragate.testing import make_exchange, make_request, make_response, run_filter

ORIGIN = "https://app.example.com"


def route(policy: CorsPolicy | None) -> RouteInfo:
    r = Route(path="/a", upstream="u", cors=policy)
    return RouteInfo("r", "/a", ("GET",), "u", settings=r)


POL = CorsPolicy(allow_origins=[ORIGIN], allow_methods=["GET", "POST"], allow_credentials=True)


def preflight(origin: str = ORIGIN, method: str = "POST", headers: str = "content-type") -> list[tuple[str, str]]:
    return [("origin", origin), ("access-control-request-method", method), ("access-control-request-headers", headers)]


def test_preflight_allowed() -> None:
    ex = make_exchange(make_request("OPTIONS", "/a", preflight()), route=route(POL))
    r = run_filter(CorsFilter, {}, ex)
    assert isinstance(r.request, Respond)
    h = r.exchange.response.headers  # type: ignore[union-attr]
    assert h.get(b"access-control-allow-origin") == ORIGIN.encode()
    assert h.get(b"access-control-allow-credentials") == b"true"
    assert b"POST" in (h.get(b"access-control-allow-methods") or b"")


def test_preflight_refused_for_other_origin_method_header_or_no_policy() -> None:
    for hdrs, pol in [
        (preflight(origin="https://evil.example"), POL),
        (preflight(method="DELETE"), POL),
        (preflight(headers="x-secret"), POL),
        (preflight(), None),
    ]:
        ex = make_exchange(make_request("OPTIONS", "/a", hdrs), route=route(pol))
        r = run_filter(CorsFilter, {}, ex)
        assert isinstance(r.request, Deny)


def test_actual_request_gets_headers_and_upstream_cors_is_replaced() -> None:
    ex = make_exchange(make_request("GET", "/a", [("origin", ORIGIN)]), route=route(POL))
    resp = make_response(200, [("access-control-allow-origin", "*")])
    r = run_filter(CorsFilter, {}, ex, resp)
    assert r.request is CONTINUE
    h = r.exchange.response.headers  # type: ignore[union-attr]
    assert h.get_all(b"access-control-allow-origin") == [ORIGIN.encode()]
    assert h.get(b"vary") == b"Origin"


def test_no_policy_means_no_cors_headers_at_all() -> None:
    ex = make_exchange(make_request("GET", "/a", [("origin", ORIGIN)]), route=route(None))
    resp = make_response(200, [("access-control-allow-origin", "*"), ("access-control-allow-credentials", "true")])
    r = run_filter(CorsFilter, {}, ex, resp)
    h = r.exchange.response.headers  # type: ignore[union-attr]
    assert not any(n.startswith(b"access-control-") for n, _ in h)


def test_wildcard_without_credentials() -> None:
    pol = CorsPolicy(allow_origins=["*"])
    ex = make_exchange(make_request("GET", "/a", [("origin", "https://any.example")]), route=route(pol))
    r = run_filter(CorsFilter, {}, ex, make_response(200))
    assert r.exchange.response.headers.get(b"access-control-allow-origin") == b"*"  # type: ignore[union-attr]


def test_non_preflight_options_passes() -> None:
    ex = make_exchange(make_request("OPTIONS", "/a"), route=route(POL))
    assert run_filter(CorsFilter, {}, ex).request is CONTINUE


def test_the_awaited_phases_decide_as_the_synchronous_ones() -> None:
    # The gateway runs request_now/response_now (fastpath.py); on_request/on_response are
    # the same decisions for callers that await.
    from cpragate.core.clock import FakeClock
    from cpragate.core.filter import FilterContext
    from cpragate.testing import run_pipeline

    cases = [
        ("OPTIONS", preflight()),
        ("OPTIONS", preflight(origin="https://evil.example")),
        ("GET", [("origin", ORIGIN)]),
        ("GET", []),
    ]
    for method, hdrs in cases:
        got = []
        for fast in (True, False):
            f = CorsFilter(CorsFilter.Config.model_validate({}), FilterContext(clock=FakeClock()))
            ex = make_exchange(make_request(method, "/a", hdrs), route=route(POL))
            r = run_pipeline([f], ex, make_response(200, [("access-control-max-age", "9")]), fast=fast)
            resp = r.exchange.response
            got.append((type(r.request).__name__, None if resp is None else (resp.status, list(resp.headers))))
        assert got[0] == got[1]
