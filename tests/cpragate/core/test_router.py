import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    with pytest.raises(RouteConflict):  # refused whole: its POST is not half-added
        r.add("/a/{id}", ["POST", "GET"], 4)
    assert r.match("POST", "/a/1") is False


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


@pytest.mark.parametrize(
    ("path", "rest"),
    [("/static/a/b/", "a/b"), ("/static/", ""), ("/static/a//b", "a//b"), ("/static/a/b/c.css", "a/b/c.css")],
)
def test_catch_all_value_is_the_rest_of_the_path(router: Router[str], path: str, rest: str) -> None:
    m = router.match("GET", path)
    assert isinstance(m, Match) and m.params == {"**": rest}


def test_parameters_before_a_catch_all() -> None:
    r: Router[str] = Router()
    r.add("/t/{tenant}/files/**", ["GET"], "files")
    m = r.match("GET", "/t/acme/files/x/y")
    assert isinstance(m, Match) and m.params == {"tenant": "acme", "**": "x/y"}


def test_remembered_decisions_follow_new_routes() -> None:
    r: Router[str] = Router()
    r.add("/a", ["GET"], "a")
    r.add("/**", ["GET"], "rest")
    first = r.match("GET", "/a")
    assert isinstance(first, Match) and r.match("GET", "/a") is first  # remembered
    assert r.match("POST", "/a") is False  # per method
    r.add("/a", ["POST"], "a-post")
    m = r.match("POST", "/a")
    assert isinstance(m, Match) and m.payload == "a-post"


# ----------------------------------------------------------------- against a reference
# The trie walk must equal the rule as written: among the routes whose template matches
# the path and which serve the method, the one whose segments are most specific from the
# left (literal < parameter < catch-all; ending here < a catch-all here) wins, and at one
# template an exact method beats "*", which beats GET serving HEAD.

_SEGS = ["a", "b", "{p}", "{q}"]
_TEMPLATES = st.lists(
    st.tuples(
        st.lists(st.sampled_from(_SEGS), max_size=3),
        st.booleans(),
        st.lists(st.sampled_from(["GET", "POST", "*"]), min_size=1, max_size=2, unique=True),
    ),
    max_size=8,
)


def _ref_rank(tsegs: list[str], rest: bool, segs: list[str]) -> tuple[int, ...] | None:
    if len(segs) < len(tsegs) or (len(segs) > len(tsegs) and not rest):
        return None
    ranks = []
    for t, s in zip(tsegs, segs, strict=False):
        if t.startswith("{"):
            ranks.append(1)
        elif t == s:
            ranks.append(0)
        else:
            return None
    return (*ranks, 2 if rest else -1)


@given(_TEMPLATES, st.lists(st.sampled_from(["a", "b", "c"]), max_size=4), st.sampled_from(["GET", "POST", "HEAD", "PUT"]), st.booleans())
@settings(max_examples=400, deadline=None)
def test_walk_equals_the_reference_rule(
    routes: list[tuple[list[str], bool, list[str]]], segs: list[str], method: str, trailing: bool
) -> None:
    r: Router[int] = Router()
    accepted: list[tuple[list[str], bool, list[str], int]] = []
    for k, (tsegs, rest, methods) in enumerate(routes):
        # one parameter name per depth, as the router requires
        tsegs = ["{p}" if t.startswith("{") else t for t in tsegs]
        template = "/" + "/".join([*tsegs, *(["**"] if rest else [])])
        try:
            r.add(template, methods, k)
        except RouteConflict:
            continue
        accepted.append((tsegs, rest, methods, k))
    path = "/" + "/".join(segs) + ("/" if trailing and segs else "")
    best: tuple[tuple[int, ...], int] | None = None
    any_path = False
    for tsegs, rest, methods, k in accepted:
        rank = _ref_rank(tsegs, rest, segs)
        if rank is None:
            continue
        any_path = True
        if method in methods:
            pref = 0
        elif "*" in methods:
            pref = 1
        elif method == "HEAD" and "GET" in methods:
            pref = 2
        else:
            continue
        if best is None or (*rank, pref) < best[0]:
            best = ((*rank, pref), k)
    for _ in range(2):  # the second answer may come from the memo
        m = r.match(method, path)
        if best is None:
            assert m is (False if any_path else None)
        else:
            assert isinstance(m, Match) and m.payload == best[1]
            k = best[1]
            tsegs, rest = next((t, rr) for t, rr, _, kk in accepted if kk == k)
            want = {"p": segs[i] for i, t in enumerate(tsegs) if t == "{p}"}
            if rest:
                want["**"] = "/".join(segs[len(tsegs):])
            assert m.params == want
