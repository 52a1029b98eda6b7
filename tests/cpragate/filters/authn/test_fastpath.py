"""Authentication's fast path (compiled in the ``dataplane`` group): the verified-key table
and the cached-token rules. The filter-level behaviour (every test both ways,
fast and awaited) is in test_filter.py."""

from __future__ import annotations

from types import SimpleNamespace

from cpragate.core.access import Identity
from cpragate.core.clock import FakeClock
from cpragate.core.route import RouteInfo
from cpragate.filters.authn.config import RouteAuth
from cpragate.filters.authn.fastpath import AuthnFast, Cached, route_auth
from cpragate.filters.authn.jwt import VerifiedToken
from cpragate.storage.access import ApiKeyRecord


def fast(clock: FakeClock) -> AuthnFast:
    return AuthnFast("authn", b"x-api-key", None, frozenset({b"x-api-key"}), False, 5.0, 5.0, False,
                     clock.monotonic, clock.time)  # fmt: skip


def test_api_key_now_respects_cache_seconds_and_record_validity() -> None:
    c = FakeClock()
    f = fast(c)
    ident = Identity("app", "contractor", "api_key", "cpg_x")
    rec = ApiKeyRecord("cpg_x", "h", "app", None, 0.0, c.time() + 3)
    f.verified[b"cpg_x_secret"] = Cached(rec, ident, c.monotonic())
    assert f.api_key_now(b"cpg_x_secret") is ident
    assert f.api_key_now(b"cpg_x_secreT") is None
    c.advance(4)  # the record expired (still within cache_seconds)
    assert f.api_key_now(b"cpg_x_secret") is None
    f.verified[b"k2"] = Cached(ApiKeyRecord("k2", "h", "app"), ident, c.monotonic())
    assert f.api_key_now(b"k2") is ident
    c.advance(5.5)
    assert f.api_key_now(b"k2") is None  # older than cache_seconds


def test_cached_token_expires_at_exp_with_leeway_and_its_deadline() -> None:
    c = FakeClock()
    f = fast(c)
    now = c.time()
    tokens: dict[bytes, tuple[VerifiedToken, float]] = {}
    f.set_jwt(tokens, 64, 10.0, "sub")
    vt = VerifiedToken({"sub": "app"}, "k1", now + 30, now + 5)
    tokens[b"tok"] = (vt, now + 100)
    assert f.cached_token(b"tok") is vt  # nbf 5 s ahead: within the 10 s leeway
    vt2 = VerifiedToken({"sub": "app"}, "k1", now + 30, now + 20)
    tokens[b"tok2"] = (vt2, now + 100)
    assert f.cached_token(b"tok2") is None  # nbf beyond the leeway
    assert f.cached_token(b"tok3") is None and f.cached_token(b"x" * 65) is None
    c.advance(39)
    assert f.cached_token(b"tok") is vt  # exp + leeway not reached
    c.advance(1)
    assert f.cached_token(b"tok") is None  # exp + leeway: expired
    tokens[b"short"] = (VerifiedToken({"sub": "app"}, "k1", now + 1000, None), c.time() + 1)
    assert f.cached_token(b"short") is not None
    c.advance(1)
    assert f.cached_token(b"short") is None  # the entry's own deadline (cache_seconds)


def test_route_auth() -> None:
    assert route_auth(None) is None
    ra = RouteAuth(anonymous=True)
    assert route_auth(RouteInfo("r", "/r", ("GET",), "o", settings=SimpleNamespace(auth=ra))) is ra
    assert route_auth(RouteInfo("r", "/r", ("GET",), "o", settings=SimpleNamespace(auth="x"))) is None


def test_bearer_scheme_and_credentials_match_the_slice_lower_strip_they_replace() -> None:
    import random

    from cpragate.filters.authn.fastpath import _credentials, _is_bearer

    rnd = random.Random(7)
    cases = [b"", b"Bearer", b"bearer ", b"Bearer tok", b"BEARER tok", b"bEaReR  tok ", b"Bearer\ttok", b"Bearer_tok",
             b"Bearer \x0btok\x0c", b"Bearer \r\n", b"Basic dXNlcjpwYXNz", b"Bearertok", b"B\xe9arer tok", b"bearer\xa0tok"]  # fmt: skip
    alphabet = b"BbEeAaRr \t\n\x0b\x0c\r\x00\xa0\x85Xx.-"
    cases += [bytes(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 12))) for _ in range(5000)]
    cases += [b"Bearer " + bytes(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 6))) for _ in range(2000)]
    for c in cases:
        assert _is_bearer(c) == (c[:7].lower() == b"bearer "), c
        assert _credentials(c) == c[7:].strip(), c
