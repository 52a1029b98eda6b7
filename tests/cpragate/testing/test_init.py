from cpragate.core.verdict import CONTINUE
from cpragate.filters.security_headers import SecurityHeadersFilter
from cpragate.testing import make_exchange, make_request, make_response, run_filter


def test_helpers() -> None:
    r = make_request("POST", "/a//b?x=1", {"Content-Type": "application/json"}, b"{}")
    assert r.path == "/a/b" and r.query == b"x=1" and r.headers.get(b"content-type") == b"application/json"
    run = run_filter(SecurityHeadersFilter, None, make_exchange(r), make_response(201, [(b"x", b"1")]))
    assert run.request is CONTINUE and run.response is CONTINUE
    assert run.exchange.response is not None and run.exchange.response.status == 201
