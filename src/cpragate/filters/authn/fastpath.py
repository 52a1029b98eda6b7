"""Authentication's synchronous fast path, compiled with mypyc (group ``identity`` in
cpragate/_accel.py; this source runs as is when the build is missing or stale).

A known API key or a cached bearer token is decided here without awaiting and, compiled,
without an interpreted frame: :meth:`AuthnFast.request_now` is ``AuthnFilter.request_now``
(bound in its ``__init__``). Everything that needs a store, a signature check or a
refusal stays in filter.py, which shares the tables below (the same dict objects) and
fills them. Same decisions as before this module existed:

* API key: verified less than ``cache_seconds`` ago (``verified``, keyed by a BLAKE2b of
  the key under a random per-process key, so the table names no key) and its record
  still valid at the wall clock.
* Bearer token: in the verifier's cache (``tokens``: jwt.py keys it by the token itself),
  before the entry's own deadline and within ``exp``/``nbf`` with the leeway now, with the
  identity built for it and the same consumer record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from hashlib import blake2b
from typing import Any

from cpragate.core.access import Consumer, Identity
from cpragate.core.exchange import Exchange
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny, Verdict
from cpragate.errors import Forbidden
from cpragate.filters.authn.config import RouteAuth
from cpragate.filters.authn.jwt import VerifiedToken
from cpragate.storage.access import ApiKeyRecord

__all__ = ["ALL_METHODS", "AuthnFast", "Cached", "RoutePlan", "route_auth"]

ALL_METHODS = ("api_key", "jwt", "mtls")


def route_auth(route: RouteInfo | None) -> RouteAuth | None:
    a = getattr(route.settings if route is not None else None, "auth", None)
    return a if isinstance(a, RouteAuth) else None


class Cached:
    """A key lookup: the record, the identity it gives (None: refused), when it was made."""

    def __init__(self, record: ApiKeyRecord | None, identity: Identity | None, at: float) -> None:
        self.record = record
        self.identity = identity
        self.at = at


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


class AuthnFast:
    """The state of ``AuthnFilter`` that a request reads, and its fast path."""

    def __init__(
        self,
        name: str,
        key_header: bytes | None,
        forward: bytes | None,
        strip: frozenset[bytes],
        forward_credentials: bool,
        verified_key: bytes,
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
        self._b2 = blake2b(key=verified_key, digest_size=32)
        self.cache_seconds = cache_seconds
        self.consumer_ttl = consumer_ttl
        self.has_store = has_store
        self.monotonic = monotonic
        self.wall = wall
        self.verified: dict[bytes, Cached] = {}
        """Keyed BLAKE2b of a key already verified -> its lookup (bounded by filter.py)."""
        self.emitted: dict[tuple[str, str, str], tuple[bytes, str]] = {}
        """(consumer, method, credential id) -> (forwarded consumer bytes, decision detail)."""
        self.consumers: dict[str, Consumer] = {}
        self.consumer_cache: dict[str, tuple[Consumer | None, float]] = {}
        self.jwt_idents: dict[int, tuple[object, Consumer | None, Identity]] = {}
        """id(verified token) -> (token, consumer it was built with, identity)."""
        # bearer tokens (set by set_jwt when JWTs are configured)
        self.jwt_on = False
        self.tokens: dict[bytes, tuple[VerifiedToken, float]] = {}
        self.max_token_bytes = 0
        self.leeway = 0.0
        self.consumer_claim = ""
        self.plans: dict[int, tuple[RouteInfo | None, RoutePlan]] = {}
        """id(route) -> (route, its plan); bounded."""

    def set_jwt(
        self,
        tokens: dict[bytes, tuple[VerifiedToken, float]],
        max_token_bytes: int,
        leeway: float,
        consumer_claim: str,
    ) -> None:
        self.jwt_on = True
        self.tokens = tokens
        self.max_token_bytes = max_token_bytes
        self.leeway = leeway
        self.consumer_claim = consumer_claim

    def digest(self, key: bytes) -> bytes:
        """The ``verified`` table's key for ``key`` (a copy of the keyed state: the key
        block is not hashed again per request)."""
        h = self._b2.copy()
        h.update(key)
        return h.digest()

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
        ident: Identity | None = None
        from_header = False
        kh = self.key_header
        if p.api_key and kh is not None:
            key = headers.get(kh)
            if key is not None:
                ident = self.api_key_now(key)
                from_header = True
        if not from_header and p.jwt:
            auth = headers.get(b"authorization")
            if auth is not None and auth[:7].lower() == b"bearer ":
                ident = self.bearer_now(auth[7:].strip())
        if ident is None:
            return None
        exchange.identity = ident
        v = self.finish(exchange, p.required_claims, from_header)
        if v is not CONTINUE and self.forward is not None:
            headers.remove(self.forward)  # a client never names its own consumer
        return v

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
        k = (ident.consumer, ident.method, ident.credential_id)
        em = self.emitted.get(k)
        if em is None:
            em = (ident.consumer.encode("utf-8", "replace"), f"{ident.method}:{ident.credential_id}")
            if len(self.emitted) >= 10_000:
                self.emitted.clear()
            self.emitted[k] = em
        h = ex.request.headers
        strip_key = from_header and not self.forward_credentials
        fwd = self.forward
        if fwd is not None:
            # One pass: drop what the client sent under the forward header (and the key),
            # then name the consumer.
            if strip_key:
                h.remove_many(self.strip)
            else:
                h.remove(fwd)
            h.add(fwd, em[0])
        elif strip_key and self.key_header is not None:
            h.remove(self.key_header)
        ex.decide(self.name, "allow", em[1])
        return CONTINUE

    def api_key_now(self, key: bytes) -> Identity | None:
        """The identity of a key verified less than ``cache_seconds`` ago and still valid, else None."""
        c = self.verified.get(self.digest(key))
        if c is None or self.monotonic() - c.at > self.cache_seconds:
            return None
        rec = c.record
        if rec is None or c.identity is None:
            return None  # never stored (only verified keys are), but never an identity either
        if (rec.expires is None and rec.revoked is None) or rec.valid_at(self.wall()):
            return c.identity
        return None

    def consumer_now(self, name: str) -> tuple[bool, Consumer | None]:
        """(known, consumer) without awaiting: declared, or looked up less than the TTL ago."""
        c = self.consumers.get(name)
        if c is not None or not self.has_store:
            return True, c
        hit = self.consumer_cache.get(name)
        if hit is not None and self.monotonic() - hit[1] <= self.consumer_ttl:
            return True, hit[0]
        return False, None

    def cached_token(self, token: bytes) -> VerifiedToken | None:
        """The verified token if it is cached and still valid now, else None (changes nothing)."""
        if len(token) > self.max_token_bytes:
            return None
        hit = self.tokens.get(token)
        if hit is None:
            return None
        now = self.wall()
        if now >= hit[1]:
            return None
        vt = hit[0]
        lw = self.leeway
        if now >= vt.exp + lw:
            return None
        nbf = vt.nbf
        if nbf is not None and now < nbf - lw:
            return None
        return vt

    def bearer_now(self, token: bytes) -> Identity | None:
        """The identity built before for a cached token and the same consumer record, else None."""
        vt = self.cached_token(token)
        if vt is None:
            return None
        hit = self.jwt_idents.get(id(vt))
        if hit is None or hit[0] is not vt:
            return None
        claims: Mapping[str, Any] = vt.claims
        name = claims.get(self.consumer_claim)
        if not isinstance(name, str) or not name:
            return None
        known, consumer = self.consumer_now(name)
        if not known or hit[1] is not consumer or (consumer is not None and consumer.disabled):
            return None
        return hit[2]
