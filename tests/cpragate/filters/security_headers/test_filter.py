from cpragate.core.route import RouteInfo
from cpragate.filters.security_headers import SecurityHeadersFilter
from cpragate.testing import make_exchange, make_response, run_filter


def test_adds_headers_and_removes_banners() -> None:
    resp = make_response(200, [("Server", "nginx/1.2"), ("X-Powered-By", "PHP"), ("X-Frame-Options", "SAMEORIGIN")])
    r = run_filter(SecurityHeadersFilter, {}, make_exchange(scheme="https"), resp)
    h = r.exchange.response.headers  # type: ignore[union-attr]
    assert b"server" not in h and b"x-powered-by" not in h
    assert h.get(b"strict-transport-security") == b"max-age=31536000; includeSubDomains"
    assert h.get_all(b"x-frame-options") == [b"DENY"]
    assert h.get(b"x-content-type-options") == b"nosniff"
    assert h.get(b"content-security-policy") is not None


def test_no_hsts_on_plain_http_and_upstream_csp_kept() -> None:
    resp = make_response(200, [("content-security-policy", "default-src 'self'")])
    r = run_filter(SecurityHeadersFilter, {"hsts_preload": True}, make_exchange(scheme="http"), resp)
    h = r.exchange.response.headers  # type: ignore[union-attr]
    assert b"strict-transport-security" not in h
    assert h.get(b"content-security-policy") == b"default-src 'self'"


def test_personal_routes_are_never_cached() -> None:
    route = RouteInfo("r", "/a", ("GET",), "u", personal=True)
    resp = make_response(200, [("Cache-Control", "public, max-age=600")])
    r = run_filter(SecurityHeadersFilter, {}, make_exchange(route=route), resp)
    h = r.exchange.response.headers  # type: ignore[union-attr]
    assert h.get_all(b"cache-control") == [b"no-store"] and h.get(b"pragma") == b"no-cache"


def test_preload_and_disabled_options() -> None:
    r = run_filter(
        SecurityHeadersFilter,
        {"hsts_preload": True, "hsts_include_subdomains": False, "frame_options": None, "referrer_policy": None, "content_type_options": False},
        make_exchange(),
        make_response(200),
    )
    h = r.exchange.response.headers  # type: ignore[union-attr]
    assert h.get(b"strict-transport-security") == b"max-age=31536000; preload"
    assert b"x-frame-options" not in h and b"x-content-type-options" not in h
