import pytest

from cpragate.core.router import Match, RouteConflict, Router, TemplateError, parse_template


@pytest.fixture
def router() -> Router[str]:
    r: Router[str] = Router()
    r.add("/v1/customers", ["GET"], "list")
    r.add("/v1/customers/{id}", ["GET", "DELETE"], "one")
    r.add("/v1/customers/me", ["GET"], "me")
    r.add("/v1/customers/{id}/orders/{oid}", ["GET"], "order")
    r.add("/v1/**", ["POST"], "v1-post")
    r.add("/static/**", ["*"], "static")
    return r


@pytest.mark.parametrize(
    ("method", "path", "payload", "params"),
    [
        ("GET", "/v1/customers", "list", {}),
        ("GET", "/v1/customers/", "list", {}),
        ("GET", "/v1/customers/42", "one", {"id": "42"}),
        ("DELETE", "/v1/customers/42", "one", {"id": "42"}),
        ("HEAD", "/v1/customers/42", "one", {"id": "42"}),
        ("GET", "/v1/customers/me", "me", {}),
        ("GET", "/v1/customers/1/orders/2", "order", {"id": "1", "oid": "2"}),
        ("POST", "/v1/customers/42", "v1-post", {"**": "customers/42"}),
        ("PUT", "/static/a/b.css", "static", {"**": "a/b.css"}),
        ("GET", "/static", "static", {"**": ""}),
    ],
)
def test_most_specific_route_wins(router: Router[str], method: str, path: str, payload: str, params: dict[str, str]) -> None:
    m = router.match(method, path)
    assert isinstance(m, Match)
    assert (m.payload, m.params) == (payload, params)


@pytest.mark.parametrize(("method", "path"), [("PUT", "/v1/customers/42"), ("GET", "/v1/customers/1/orders")])
def test_wrong_method_or_unrouted(router: Router[str], method: str, path: str) -> None:
    m = router.match(method, path)
    # /v1/customers/1/orders is matched by nothing for GET (only POST catches /v1/**)
    assert m is False


@pytest.mark.parametrize("path", ["/", "/admin", "/v2/customers", "/v1"])
def test_unrouted_is_none(router: Router[str], path: str) -> None:
    assert router.match("GET", path) in (None, False)
    assert router.match("GET", "/admin") is None


def test_case_insensitive_router() -> None:
    r: Router[int] = Router(case_sensitive=False)
    r.add("/admin", ["GET"], 1)
    m = r.match("GET", "/ADMIN")
    assert isinstance(m, Match) and m.payload == 1
    rs: Router[int] = Router()
    rs.add("/admin", ["GET"], 1)
    assert rs.match("GET", "/ADMIN") is None


def test_conflicts_are_refused() -> None:
    r: Router[int] = Router()
    r.add("/a/{id}", ["GET"], 1)
    with pytest.raises(RouteConflict):
        r.add("/a/{id}", ["GET"], 2)
    with pytest.raises(RouteConflict):
        r.add("/a/{other}/x", ["GET"], 3)


@pytest.mark.parametrize("bad", ["a", "/a//b", "/a/{id", "/a/x{id}", "/**/a", "/a/*", "/a/../b"])
def test_bad_templates(bad: str) -> None:
    with pytest.raises(TemplateError):
        parse_template(bad)


def test_backtracking_to_param_branch() -> None:
    r: Router[str] = Router()
    r.add("/a/b/c", ["GET"], "static")
    r.add("/a/{x}/d", ["GET"], "param")
    m = r.match("GET", "/a/b/d")
    assert isinstance(m, Match) and m.payload == "param" and m.params == {"x": "b"}
