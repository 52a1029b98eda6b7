from cpragate.core.route import RouteInfo


def test_route_defaults() -> None:
    r = RouteInfo("n", "/a", ("GET",), "up")
    assert r.max_body_bytes == 10 * 1024 * 1024 and r.on_body_too_large == "deny" and not r.personal
