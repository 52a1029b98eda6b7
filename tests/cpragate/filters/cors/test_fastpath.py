"""CORS's compiled common case (fastpath.py): what it decides itself and what it hands to
the filter's Python (preflights; responses to requests with an Origin)."""

from cpragate.core.exchange import Exchange
from cpragate.core.verdict import CONTINUE, Respond, Verdict
from cpragate.filters.cors.fastpath import ACA_SET, CorsFast
from cpragate.testing import make_exchange, make_request, make_response

MARK = Respond(make_response(204, []))


def recorder() -> tuple[CorsFast, list[tuple[str, bytes]]]:
    calls: list[tuple[str, bytes]] = []

    def preflight(ex: Exchange) -> Verdict:
        calls.append(("preflight", b""))
        return MARK

    def with_origin(ex: Exchange, origin: bytes) -> Verdict:
        calls.append(("origin", origin))
        return CONTINUE

    return CorsFast(preflight, with_origin), calls


def test_only_options_requests_reach_the_preflight_code() -> None:
    f, calls = recorder()
    for m in ("GET", "POST", "DELETE", "HEAD"):
        assert f.request_now(make_exchange(make_request(m, "/a", [("origin", "https://o")]))) is CONTINUE
    assert calls == []
    assert f.request_now(make_exchange(make_request("OPTIONS", "/a"))) is MARK
    assert calls == [("preflight", b"")]


def test_upstream_access_control_headers_always_go() -> None:
    f, calls = recorder()
    ex = make_exchange(make_request("GET", "/a"))
    ex.response = make_response(200, [(n.decode(), "x") for n in sorted(ACA_SET)] + [("etag", "e")])
    assert f.response_now(ex) is CONTINUE
    assert list(ex.response.headers) == [(b"etag", b"e")] and calls == []  # no Origin: done here
    ex2 = make_exchange(make_request("GET", "/a", [("origin", "https://app")]))
    ex2.response = make_response(200, [("access-control-allow-origin", "*")])
    assert f.response_now(ex2) is CONTINUE
    assert b"access-control-allow-origin" not in ex2.response.headers
    assert calls == [("origin", b"https://app")]  # the policy is the filter's


def test_our_own_preflight_answer_is_kept() -> None:
    f, calls = recorder()
    ex = make_exchange(make_request("OPTIONS", "/a", [("origin", "https://app")]))
    ex.response = make_response(204, [("access-control-allow-methods", "GET"), ("access-control-allow-origin", "https://app")])
    assert f.response_now(ex) is CONTINUE
    assert ex.response.headers.get(b"access-control-allow-origin") == b"https://app" and calls == []


def test_no_response_is_left_alone() -> None:
    f, calls = recorder()
    assert f.response_now(make_exchange()) is CONTINUE and calls == []
