"""The security headers' compiled response phase (fastpath.py), driven directly."""

import pytest

from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE
from cpragate.filters.security_headers.fastpath import SecurityHeadersFast
from cpragate.testing import make_exchange, make_response

FORCED = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY")]


def fast(hsts: bytes = b"max-age=60", csp: bytes | None = b"default-src 'none'") -> SecurityHeadersFast:
    return SecurityHeadersFast(hsts, FORCED, csp, b"no-store", frozenset({b"server"}))


@pytest.mark.parametrize(("scheme", "personal"), [("http", False), ("https", False), ("http", True), ("https", True)])
def test_each_drop_set_and_what_is_added(scheme: str, personal: bool) -> None:
    route = RouteInfo("r", "/a", ("GET",), "u", personal=personal)
    ex = make_exchange(scheme=scheme, route=route)
    upstream = [("server", "x"), ("x-frame-options", "SAMEORIGIN"), ("strict-transport-security", "max-age=1"),
                ("cache-control", "public"), ("pragma", "cache"), ("etag", "e1")]  # fmt: skip
    ex.response = make_response(200, upstream)
    assert fast().response_now(ex) is CONTINUE
    h = ex.response.headers
    assert b"server" not in h and h.get_all(b"x-frame-options") == [b"DENY"] and h.get(b"etag") == b"e1"
    assert h.get_all(b"strict-transport-security") == ([b"max-age=60"] if scheme == "https" else [b"max-age=1"])
    if personal:
        assert h.get_all(b"cache-control") == [b"no-store"] and h.get_all(b"pragma") == [b"no-cache"]
    else:
        assert h.get_all(b"cache-control") == [b"public"] and h.get_all(b"pragma") == [b"cache"]


def test_no_hsts_configured_and_the_upstream_csp_kept() -> None:
    ex = make_exchange(scheme="https")
    ex.response = make_response(200, [("content-security-policy", "default-src 'self'"), ("strict-transport-security", "max-age=5")])
    assert fast(hsts=b"").response_now(ex) is CONTINUE
    h = ex.response.headers
    assert h.get_all(b"strict-transport-security") == [b"max-age=5"]  # not ours to replace without HSTS
    assert h.get_all(b"content-security-policy") == [b"default-src 'self'"]


def test_no_response_is_left_alone() -> None:
    ex = make_exchange()
    assert ex.response is None and fast().response_now(ex) is CONTINUE
