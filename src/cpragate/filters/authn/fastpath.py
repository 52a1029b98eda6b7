"""Authentication's synchronous fast path, compiled with mypyc (group ``dataplane`` in
cpragate/_accel.py; this source runs as is when the build is missing or stale).

A known API key or a cached bearer token is decided here without awaiting and, compiled,
without an interpreted frame: :meth:`AuthnFast.request_now` is ``AuthnFilter.request_now``
(bound in its ``__init__``). Everything that needs a store, a signature check or a
refusal stays in filter.py, which shares the tables below (the same dict objects) and
fills them. Same decisions as before this module existed:

* API key: verified less than ``cache_seconds`` ago (``verified``, keyed by the key
  itself: the dict compares the presented key byte for byte with the verified one) and
  its record still valid at the wall clock.
* Bearer token: in the verifier's cache (``tokens``: jwt.py keys it by the token's last 32
  bytes and keeps the whole token, compared in full), ``Bearer `` followed by exactly the
  token (anything around it takes the awaited path, which strips it), before the entry's
  own deadline and within ``exp``/``nbf`` with the leeway now, with the identity built for
  it and the same consumer record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from cpragate.core.access import Consumer, Identity
from cpragate.core.exchange import Decision, Exchange
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny, Verdict
from cpragate.errors import Forbidden
from cpragate.filters.authn.config import RouteAuth
from cpragate.filters.authn.jwt import TOKEN_KEY_BYTES, CacheEntry, VerifiedToken
from cpragate.storage.access import ApiKeyRecord

__all__ = ["ALL_METHODS", "AuthnFast", "Cached", "Emit", "RoutePlan", "TokenIdent", "route_auth"]

_CONTINUE: Final = CONTINUE
"""A module constant (a C static, compiled): the imported name is a dict lookup per use."""

ALL_METHODS = ("api_key", "jwt", "mtls")


def route_auth(route: RouteInfo | None) -> RouteAuth | None:
    a = getattr(route.settings if route is not None else None, "auth", None)
    return a if isinstance(a, RouteAuth) else None


class Emit:
    """What an admitted identity adds to its request, made once per (consumer, method,
    credential id): the forward header (name, value) and the decision. Both immutable and
    shared by every request of that identity (``Decision`` is read-only by convention)."""

    def __init__(self, header: tuple[bytes, bytes] | None, decision: Decision) -> None:
        self.header = header
        self.decision = decision


class Cached:
    """A key lookup: the record, the identity it gives (None: refused), when it was made."""

    def __init__(self, record: ApiKeyRecord | None, identity: Identity | None, at: float) -> None:
        self.record = record
        self.identity = identity
        self.at = at
        self.dated = record is not None and (record.expires is not None or record.revoked is not None)
        """The record has an expiry or a revocation date: checked against the wall clock on every use."""
        self.emit: Emit | None = None
        """The identity's Emit, set by the first request admitted from the cache."""


class TokenIdent:
    """A verified token's identity (``jwt_idents``): the token, the consumer named by its
    consumer claim and the record the identity was built with (None: not looked up or not
    found), the identity and its Emit (set on first use)."""

    def __init__(self, token: object, name: str, consumer: Consumer | None, identity: Identity) -> None:
        self.token = token
        self.name = name
        """The token's consumer claim (a verified token's claims never change)."""
        self.consumer = consumer
        self.identity = identity
        self.emit: Emit | None = None


class RoutePlan:
    """What ``request_now`` needs of one route's ``auth`` settings, read once."""

    def __init__(self, ra: RouteAuth | None, api_key: bool, jwt: bool) -> None:
        self.ra = ra
        self.skip = ra is not None and (ra.anonymous or bool(ra.query_key))
        """Anonymous routes and query keys always take the awaited path."""
        methods: Any = ra.methods if ra is not None and ra.methods is not None else ALL_METHODS
        self.api_key = api_key and "api_key" in methods
        self.jwt = jwt and "jwt" in methods
        self.required_claims: tuple[str, ...] = tuple(ra.required_claims) if ra is not None else ()


_PLANS_MAX = 10_000
_EMITTED_MAX = 10_000


def _is_bearer(auth: bytes) -> bool:
    """``auth[:7].lower() == b"bearer "`` without the slice and the method call."""
    if len(auth) < 7 or auth[6] != 0x20:
        return False
    return (auth[0] | 0x20) == 0x62 and (auth[1] | 0x20) == 0x65 and (auth[2] | 0x20) == 0x61 \
        and (auth[3] | 0x20) == 0x72 and (auth[4] | 0x20) == 0x65 and (auth[5] | 0x20) == 0x72


class AuthnFast:
    """The state of ``AuthnFilter`` that a request reads, and its fast path.

    The request's header list is read and changed in place (``Headers.items()``, as the
    security_headers filter does): one call into the data plane's Headers per request
    instead of a ``get``, a ``remove_many`` and an ``add``."""

    def __init__(
        self,
        name: str,
        key_header: bytes | None,
        forward: bytes | None,
        strip: frozenset[bytes],
        forward_credentials: bool,
        cache_seconds: float,
        consumer_ttl: float,
        has_store: bool,
        monotonic: Callable[[], float],
        wall: Callable[[], float],
    ) -> None:
        self.name = name
        self.key_header = key_header
        self.forward = forward
        self.strip = strip
        self.forward_credentials = forward_credentials
        self.cache_seconds = cache_seconds
        self.consumer_ttl = consumer_ttl
        self.has_store = has_store
        self.monotonic = monotonic
        self.wall = wall
        self.verified: dict[bytes, Cached] = {}
        """A key already verified (the presented bytes) -> its lookup (bounded by filter.py).
        A hit is the dict's own comparison: same hash, then the whole key byte for byte,
        so only the very key whose hash was checked against the record can hit."""
        self.emitted: dict[tuple[str, str, str], Emit] = {}
        """(consumer, method, credential id) -> its Emit; bounded."""
        self.consumers: dict[str, Consumer] = {}
        self.consumer_cache: dict[str, tuple[Consumer | None, float]] = {}
        self.jwt_idents: dict[int, TokenIdent] = {}
        """id(verified token) -> its identity (TokenIdent)."""
        # bearer tokens (set by set_jwt when JWTs are configured)
        self.jwt_on = False
        self.tokens: dict[bytes, CacheEntry] = {}
        self.max_token_bytes = 0
        self.leeway = 0.0
        self.consumer_claim = ""
        self.plans: dict[int, tuple[RouteInfo | None, RoutePlan]] = {}
        """id(route) -> (route, its plan); bounded."""

    def set_jwt(
        self,
        tokens: dict[bytes, CacheEntry],
        max_token_bytes: int,
        leeway: float,
        consumer_claim: str,
    ) -> None:
        self.jwt_on = True
        self.tokens = tokens
        self.max_token_bytes = max_token_bytes
        self.leeway = leeway
        self.consumer_claim = consumer_claim

    def plan(self, route: RouteInfo | None) -> RoutePlan:
        hit = self.plans.get(id(route))
        if hit is not None and hit[0] is route:
            return hit[1]
        p = RoutePlan(route_auth(route), self.key_header is not None, self.jwt_on)
        if len(self.plans) >= _PLANS_MAX:
            self.plans.clear()
        self.plans[id(route)] = (route, p)
        return p

    def request_now(self, exchange: Exchange) -> Verdict | None:
        """An API key or bearer token verified before (cached, still valid), decided
        without awaiting. None (nothing changed) for anything else: a new or stale
        credential, a refusal, a missing credential, a query key, mTLS, anonymous."""
        p = self.plan(exchange.route)
        if p.skip:
            return None
        headers = exchange.request.headers
        items = headers.items()
        # The first API key header and the first Authorization header, in one pass.
        kh = self.key_header if p.api_key else None
        want_auth = p.jwt
        key: bytes | None = None
        auth: bytes | None = None
        for n, v in items:
            if kh is not None and key is None and n == kh:
                key = v
                break  # an API key decides: the bearer token is not looked at
            if want_auth and auth is None and n == b"authorization":
                auth = v
                if kh is None:
                    break
        ident: Identity | None = None
        emit: Emit | None = None
        from_header = False
        if key is not None:
            from_header = True
            c = self.api_key_cached(key)
            if c is None:
                return None
            ident = c.identity
            if ident is None:
                return None
            emit = c.emit
            if emit is None:
                emit = c.emit = self.emit_for(ident)
        elif auth is not None and _is_bearer(auth):
            ti = self.bearer_cached(auth, 7)
            if ti is None:
                return None
            ident = ti.identity
            emit = ti.emit
            if emit is None:
                emit = ti.emit = self.emit_for(ident)
        else:
            return None
        exchange.identity = ident
        required = p.required_claims
        if required:
            claims = ident.claims
            for c_name in required:
                if c_name not in claims:
                    if self.forward is not None:
                        headers.remove(self.forward)  # a client never names its own consumer
                    return Deny(Forbidden, rule="authn:required-claims")
        self.emit_into(items, emit, from_header)
        exchange.decisions.append(emit.decision)
        return _CONTINUE

    def emit_for(self, ident: Identity) -> Emit:
        """The shared Emit of ``ident`` (by what it is made of, so rebuilt identities share it)."""
        k = (ident.consumer, ident.method, ident.credential_id)
        em = self.emitted.get(k)
        if em is None:
            fwd = self.forward
            header = None if fwd is None else (fwd, ident.consumer.encode("utf-8", "replace"))
            em = Emit(header, Decision(self.name, "allow", f"{ident.method}:{ident.credential_id}"))
            if len(self.emitted) >= _EMITTED_MAX:
                self.emitted.clear()
            self.emitted[k] = em
        return em

    def emit_into(self, items: list[tuple[bytes, bytes]], emit: Emit, from_header: bool) -> None:
        """Drop what the client sent under the forward header (and the key header, unless
        credentials are forwarded), then name the consumer: in place, in one pass."""
        fwd = self.forward
        kh = self.key_header if from_header and not self.forward_credentials else None
        if fwd is not None or kh is not None:
            i = 0
            while i < len(items):
                n = items[i][0]
                if (fwd is not None and n == fwd) or (kh is not None and n == kh):
                    items.pop(i)
                else:
                    i += 1
        if emit.header is not None:
            items.append(emit.header)

    def accept(self, ex: Exchange, ra: RouteAuth | None, from_header: bool) -> Verdict:
        """After ``ex.identity`` is set: required claims, forward header, the decision."""
        return self.finish(ex, tuple(ra.required_claims) if ra is not None else (), from_header)

    def finish(self, ex: Exchange, required_claims: tuple[str, ...], from_header: bool) -> Verdict:
        ident = ex.identity
        assert ident is not None
        if required_claims:
            claims = ident.claims
            for c in required_claims:
                if c not in claims:
                    return Deny(Forbidden, rule="authn:required-claims")
        emit = self.emit_for(ident)
        self.emit_into(ex.request.headers.items(), emit, from_header)
        ex.decisions.append(emit.decision)
        return _CONTINUE

    def remember_key(self, key: bytes, c: Cached, cache_size: int) -> None:
        """Store a key that passed the full check. The table stays in storage order (moved
        to the end when stored again), which ``api_key_cached`` relies on to drop stale
        entries from the front; the oldest goes when the table is full."""
        verified = self.verified
        if verified.get(key) is c:
            return
        verified.pop(key, None)
        if len(verified) >= cache_size:
            del verified[next(iter(verified))]
        verified[key] = c

    def api_key_cached(self, key: bytes) -> Cached | None:
        """The lookup of a key verified less than ``cache_seconds`` ago whose record is
        still valid at the wall clock and which gave an identity, else None."""
        verified = self.verified
        now = self.monotonic()
        # Entries are kept in the order they were stored: the stale ones at the front are
        # dropped here, so no key outlives cache_seconds by more than the gap to the next
        # API-key request (one check per request while the oldest entry is fresh).
        while verified:
            first = next(iter(verified))
            if now - verified[first].at <= self.cache_seconds:
                break
            del verified[first]
        c = verified.get(key)
        if c is None:
            return None
        rec = c.record
        if now - c.at > self.cache_seconds or rec is None or c.identity is None:
            del verified[key]
            return None
        if not c.dated or rec.valid_at(self.wall()):
            return c
        del verified[key]  # expired, revoked, or past its rotation overlap: never again from here
        return None

    def api_key_now(self, key: bytes) -> Identity | None:
        """The identity of a key verified less than ``cache_seconds`` ago and still valid, else None."""
        c = self.api_key_cached(key)
        return None if c is None else c.identity

    def consumer_now(self, name: str) -> tuple[bool, Consumer | None]:
        """(known, consumer) without awaiting: declared, or looked up less than the TTL ago."""
        c = self.consumers.get(name)
        if c is not None or not self.has_store:
            return True, c
        hit = self.consumer_cache.get(name)
        if hit is not None and self.monotonic() - hit[1] <= self.consumer_ttl:
            return True, hit[0]
        return False, None

    def cached_token(self, token: bytes, start: int = 0) -> VerifiedToken | None:
        """The verified token ``token[start:]`` if it is cached and valid now, else None
        (changes nothing). ``start``: where the credentials begin in an Authorization
        value (7, after ``Bearer ``), so the token itself is never copied out: the entry
        is found by its last bytes (jwt.py rule 5) and compared in full in place."""
        n = len(token) - start
        if n > self.max_token_bytes:
            return None
        hit = self.tokens.get(token[-TOKEN_KEY_BYTES:] if n > TOKEN_KEY_BYTES else token[start:])
        if hit is None:
            return None
        full = hit[0]
        if len(full) != n or not token.endswith(full):
            return None  # another token with the same tail; or spaces around it: the awaited path
        now = self.wall()
        if now >= hit[1] or now < hit[2]:
            return None  # exp + leeway or the cache's deadline passed; nbf - leeway ahead
        return hit[3]

    def bearer_cached(self, token: bytes, start: int = 0) -> TokenIdent | None:
        """The identity built before for a cached token and the same consumer record, else None."""
        vt = self.cached_token(token, start)
        if vt is None:
            return None
        hit = self.jwt_idents.get(id(vt))
        if hit is None or hit.token is not vt:
            return None
        known, consumer = self.consumer_now(hit.name)
        if not known or hit.consumer is not consumer or (consumer is not None and consumer.disabled):
            return None
        return hit

    def bearer_now(self, token: bytes) -> Identity | None:
        hit = self.bearer_cached(token)
        return None if hit is None else hit.identity
