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
from cpragate.filters.authn.jwt import CacheEntry, VerifiedToken, cache_entry, token_key
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
    tokens: dict[bytes, CacheEntry] = {}
    f.set_jwt(tokens, 64, 10.0, "sub")

    def put(tok: bytes, vt: VerifiedToken, deadline: float) -> None:
        tokens[token_key(tok)] = cache_entry(tok, vt, deadline, 10.0)

    vt = VerifiedToken({"sub": "app"}, "k1", now + 30, now + 5)
    put(b"tok", vt, now + 100)
    assert f.cached_token(b"tok") is vt  # nbf 5 s ahead: within the 10 s leeway
    put(b"tok2", VerifiedToken({"sub": "app"}, "k1", now + 30, now + 20), now + 100)
    assert f.cached_token(b"tok2") is None  # nbf beyond the leeway
    assert f.cached_token(b"tok3") is None and f.cached_token(b"x" * 65) is None
    c.advance(39)
    assert f.cached_token(b"tok") is vt  # exp + leeway not reached
    c.advance(1)
    assert f.cached_token(b"tok") is None  # exp + leeway: expired
    put(b"short", VerifiedToken({"sub": "app"}, "k1", now + 1000, None), c.time() + 1)
    assert f.cached_token(b"short") is not None
    c.advance(1)
    assert f.cached_token(b"short") is None  # the entry's own deadline (cache_seconds)


def test_a_cached_token_hits_only_byte_identical_and_in_place() -> None:
    """Keyed by the last 32 bytes, compared in full: a token with the same tail and other
    leading bytes misses; so does one with spaces around it in the Authorization value
    (the awaited path strips them); read at an offset, the token is not copied out."""
    c = FakeClock()
    f = fast(c)
    tokens: dict[bytes, CacheEntry] = {}
    f.set_jwt(tokens, 600, 0.0, "sub")
    tok = b"h" * 40 + b"." + b"p" * 60 + b"." + b"S" * 200 + b"tail-of-the-signature-0123456789"
    vt = VerifiedToken({"sub": "app"}, "k1", c.time() + 60, None)
    tokens[token_key(tok)] = cache_entry(tok, vt, c.time() + 60, 0.0)
    assert f.cached_token(tok) is vt
    assert f.cached_token(b"Bearer " + tok, 7) is vt
    assert f.cached_token(b"bearer " + tok, 7) is vt
    same_tail = b"H" + tok[1:]
    assert token_key(same_tail) == token_key(tok) and f.cached_token(same_tail) is None
    assert f.cached_token(b"Bearer " + same_tail, 7) is None
    assert f.cached_token(b"Bearer  " + tok, 7) is None  # two spaces: the awaited path strips
    assert f.cached_token(b"Bearer " + tok + b" ", 7) is None
    assert f.cached_token(tok[1:]) is None and f.cached_token(b"x" + tok) is None
    f.max_token_bytes = len(tok) - 1
    assert f.cached_token(b"Bearer " + tok, 7) is None  # over the size limit: not looked up


def test_route_auth() -> None:
    assert route_auth(None) is None
    ra = RouteAuth(anonymous=True)
    assert route_auth(RouteInfo("r", "/r", ("GET",), "o", settings=SimpleNamespace(auth=ra))) is ra
    assert route_auth(RouteInfo("r", "/r", ("GET",), "o", settings=SimpleNamespace(auth="x"))) is None


def test_bearer_scheme_matches_the_slice_lower_it_replaces() -> None:
    import random

    from cpragate.filters.authn.fastpath import _is_bearer

    rnd = random.Random(7)
    cases = [b"", b"Bearer", b"bearer ", b"Bearer tok", b"BEARER tok", b"bEaReR  tok ", b"Bearer\ttok", b"Bearer_tok",
             b"Bearer \x0btok\x0c", b"Bearer \r\n", b"Basic dXNlcjpwYXNz", b"Bearertok", b"B\xe9arer tok", b"bearer\xa0tok"]  # fmt: skip
    alphabet = b"BbEeAaRr \t\n\x0b\x0c\r\x00\xa0\x85Xx.-"
    cases += [bytes(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 12))) for _ in range(5000)]
    cases += [b"Bearer " + bytes(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 6))) for _ in range(2000)]
    for c in cases:
        assert _is_bearer(c) == (c[:7].lower() == b"bearer "), c
