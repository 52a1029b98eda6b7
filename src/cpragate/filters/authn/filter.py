"""Authentication: sets ``Exchange.identity`` from an API key, a bearer JWT or a client certificate.

Inert until a credential source is configured. Then every route needs a credential
unless its ``auth`` says ``anonymous: true``. One credential decides, checked in this
order: API key header (or the route's query parameter), ``Authorization: Bearer``,
verified client certificate. A credential that is presented but not valid is refused
(401 + ``WWW-Authenticate``); it never falls through to another method. The refusal
never says why; the rule that decided goes to the audit trail.

Credentials are never logged or stored: API keys are stored as a keyed hash only; a
verified key is cached in memory under the key itself for ``cache_seconds`` at most,
and a verified token under the token itself until its own ``exp`` at the latest (jwt.py
and docs/identity.md say why that is safe); only a key's public
prefix, a token's ``kid`` or a certificate subject names the credential in
``Identity.credential_id``. The per-request part is fastpath.py (compiled).
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import ClassVar
from urllib.parse import parse_qsl

from cpragate.core.access import Consumer, Identity
from cpragate.core.clock import SystemClock
from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter, FilterConfig, FilterContext
from cpragate.core.route import RouteInfo
from cpragate.core.verdict import CONTINUE, Deny, Verdict
from cpragate.errors import AuthUnavailable, StorageError, Unauthenticated
from cpragate.filters.authn.apikeys import key_digest, prefix_of
from cpragate.filters.authn.config import AuthnConfig, RouteAuth
from cpragate.filters.authn.fastpath import ALL_METHODS, AuthnFast, Cached, TokenIdent, route_auth
from cpragate.filters.authn.jwt import JwtVerifier, KeysUnavailable, TokenRejected
from cpragate.storage.access import ApiKeyRecord, IdentityStore

__all__ = ["AuthnFilter", "route_auth"]

log = logging.getLogger("cpragate.authn")

class AuthnFilter(Filter):
    name = "authn"
    priority = 1200
    Config: ClassVar[type[FilterConfig]] = AuthnConfig

    def __init__(self, config: FilterConfig, ctx: FilterContext) -> None:
        super().__init__(config, ctx)
        assert isinstance(config, AuthnConfig)
        self.cfg = config
        stores = ctx.stores
        self.store: IdentityStore | None = getattr(stores, "identity", None)
        self.consumers: dict[str, Consumer] = {c.name: c.to_consumer() for c in config.consumers}
        ak = config.api_keys
        self.key_header = ak.header.encode("ascii") if ak else None
        self.hash_secret = ak.hash_secret.get_secret_value().encode() if ak and ak.hash_secret else None
        self.declared_keys: dict[str, ApiKeyRecord] = {}
        if ak is not None:
            for k in ak.keys:
                self.declared_keys[k.prefix] = ApiKeyRecord(
                    k.prefix,
                    k.hash,
                    k.consumer,
                    None if k.scopes is None else frozenset(k.scopes),
                    0.0,
                    k.expires.timestamp() if k.expires else None,
                )
        self.key_cache: dict[str, Cached] = {}
        self.cache_seconds = ak.cache_seconds if ak is not None else 0.0
        self.forward = config.forward_header.lower().encode("ascii") if config.forward_header else None
        self.strip = frozenset(x for x in (self.forward, self.key_header) if x is not None)
        clock = ctx.clock
        system = type(clock) is SystemClock  # its readings without the interpreted wrapper
        self.fast = AuthnFast(
            self.name,
            self.key_header,
            self.forward,
            self.strip,
            config.forward_credentials,
            self.cache_seconds,
            ak.cache_seconds if ak is not None else 5.0,
            self.store is not None,
            time.monotonic if system else clock.monotonic,
            time.time if system else clock.time,
        )
        """The per-request state and the compiled fast path (fastpath.py); the tables
        below are its own dict objects, filled here."""
        self.fast.consumers = self.consumers
        self.verified = self.fast.verified
        """A key already verified (the presented bytes) -> its lookup (bounded, an entry
        lives ``cache_seconds`` at most, as key_cache's): a known key costs one dict get
        (the dict compares the whole key), no HMAC, no parsing. Until round 5 the table
        was keyed by a BLAKE2b of the key under a per-process key (~4.7k instructions per
        request, 3.4k of them the one BLAKE2b compression): docs/identity.md says why
        holding a verified key for ``cache_seconds`` adds no exposure worth that."""
        self.emitted = self.fast.emitted
        """(consumer, method, credential id) -> its Emit (forward header, decision); bounded.
        Keyed by what the value is made of, not by the identity object: a key's identity
        is rebuilt every ``cache_seconds``, and keyed by ``id(identity)`` each rebuild left
        a dead entry (holding the old identity) until the table filled."""
        self.jwt_idents = self.fast.jwt_idents
        """id(verified token) -> TokenIdent (token, consumer it was built with, identity); bounded."""
        self.consumer_cache = self.fast.consumer_cache
        self.jwt = JwtVerifier(config.jwt, ctx.clock, getattr(stores, "fetcher", None)) if config.jwt else None
        if self.jwt is not None and config.jwt is not None:
            self.fast.set_jwt(self.jwt.cache, config.jwt.max_token_bytes, config.jwt.leeway, config.jwt.consumer_claim)
        # The compiled fast path's bound method shadows the class's own (which delegates to
        # it): the pipeline calls it with no interpreted frame in between.
        self.request_now = self.fast.request_now  # type: ignore[method-assign]
        self.mtls = config.mtls
        challenges = []
        if ak is not None:
            challenges.append(f'ApiKey realm="{config.realm}", header="{ak.header}"')
        if config.jwt is not None:
            challenges.append(f'Bearer realm="{config.realm}"')
        if config.mtls is not None and not challenges:
            challenges.append(f'Mutual realm="{config.realm}"')
        self.challenge = tuple((b"www-authenticate", c.encode("ascii")) for c in challenges)
        self.challenge_invalid = tuple(
            (n, v + b', error="invalid_token"' if v.startswith(b"Bearer") else v) for n, v in self.challenge
        )

    def applies_to(self, route: RouteInfo) -> bool:
        return self.cfg.active

    # ------------------------------------------------------------------ request

    async def on_request(self, exchange: Exchange) -> Verdict:
        v = await self._authenticate(exchange)
        if v is not CONTINUE and self.forward is not None:
            exchange.request.headers.remove(self.forward)  # a client never names its own consumer
        return v

    async def _authenticate(self, exchange: Exchange) -> Verdict:
        req = exchange.request
        ra = route_auth(exchange.route)
        if ra is not None and ra.anonymous:
            if self.forward is not None:
                req.headers.remove(self.forward)
            return CONTINUE
        methods = ra.methods if ra is not None and ra.methods is not None else ALL_METHODS
        key = req.headers.get(self.key_header) if self.key_header is not None and "api_key" in methods else None
        from_header = key is not None
        if key is None and ra is not None and ra.query_key and self.key_header is not None and req.query:
            key = _query_value(req.query, ra.query_key)
        if key is not None:
            v = await self._api_key(exchange, key)
        else:
            auth = req.headers.get(b"authorization") if self.jwt is not None and "jwt" in methods else None
            if auth is not None and auth[:7].lower() == b"bearer ":
                v = await self._bearer(exchange, auth[7:].strip())
            elif self.mtls is not None and "mtls" in methods and exchange.tls is not None and exchange.tls.client_subject:
                v = await self._mtls(exchange)
            else:
                return Deny(Unauthenticated, rule="authn:missing", headers=self.challenge)
        if v is not CONTINUE:
            return v
        return self._accept(exchange, ra, from_header)

    def _accept(self, exchange: Exchange, ra: RouteAuth | None, from_header: bool) -> Verdict:
        """After ``exchange.identity`` is set: required claims, forward header, the decision."""
        return self.fast.accept(exchange, ra, from_header)

    def request_now(self, exchange: Exchange) -> Verdict | None:
        """The fast path (fastpath.py): a credential verified before, decided without awaiting."""
        return self.fast.request_now(exchange)

    def _refuse(self, rule: str) -> Deny:
        return Deny(Unauthenticated, rule=rule, headers=self.challenge_invalid)

    def _api_key_now(self, key: bytes) -> Identity | None:
        return self.fast.api_key_now(key)

    async def _api_key(self, ex: Exchange, key: bytes) -> Verdict:
        ident = self._api_key_now(key)
        if ident is not None:
            ex.identity = ident
            return CONTINUE
        return await self._api_key_lookup(ex, key)

    async def _api_key_lookup(self, ex: Exchange, key: bytes) -> Verdict:
        prefix = prefix_of(key)
        if prefix is None:
            return self._refuse("authn:api_key:malformed")
        now_m = self.ctx.clock.monotonic()
        c = self.key_cache.get(prefix)
        ak = self.cfg.api_keys
        assert ak is not None
        if c is None or now_m - c.at > ak.cache_seconds:
            try:
                rec = self.declared_keys.get(prefix)
                if rec is None and self.store is not None:
                    rec = await self.store.get_key(prefix)
                ident = None
                if rec is not None:
                    consumer = await self._consumer(rec.consumer)
                    if consumer is not None and not consumer.disabled:
                        scopes = consumer.scopes if rec.scopes is None else rec.scopes & consumer.scopes
                        ident = Identity.of(consumer, "api_key", prefix, scopes=frozenset(scopes))
                c = Cached(rec, ident, now_m)
                if len(self.key_cache) >= ak.cache_size:
                    del self.key_cache[next(iter(self.key_cache))]
                self.key_cache[prefix] = c
            except StorageError as e:
                if self.cfg.on_error == "allow" and c is not None:
                    log.warning("key store unavailable; using the last good record of %s: %s", prefix, e.detail or e.title)
                else:
                    log.error("key store unavailable (request %s): %s", ex.request_id, e.detail or e.title)
                    return Deny(AuthUnavailable, rule="authn:store-unavailable")
        rec = c.record
        if rec is None:
            return self._refuse("authn:api_key:unknown")
        if not hmac.compare_digest(key_digest(key, self.hash_secret).hex(), rec.key_hash):
            return self._refuse("authn:api_key:mismatch")
        if not rec.valid_at(self.ctx.clock.time()):
            return self._refuse(f"authn:api_key:{rec.state_at(self.ctx.clock.time())}")
        if c.identity is None:
            return self._refuse("authn:api_key:consumer")
        self.fast.remember_key(key, c, ak.cache_size)
        ex.identity = c.identity
        return CONTINUE

    def _consumer_now(self, name: str) -> tuple[bool, Consumer | None]:
        """(known, consumer) without awaiting: declared, or looked up less than the TTL ago."""
        return self.fast.consumer_now(name)

    async def _consumer(self, name: str) -> Consumer | None:
        known, c = self._consumer_now(name)
        if known or self.store is None:
            return c
        now = self.ctx.clock.monotonic()
        found = await self.store.get_consumer(name)
        if len(self.consumer_cache) >= 10_000:
            self.consumer_cache.clear()
        self.consumer_cache[name] = (found, now)
        return found

    async def _bearer(self, ex: Exchange, token: bytes) -> Verdict:
        assert self.jwt is not None and self.cfg.jwt is not None
        jc = self.cfg.jwt
        try:
            vt = await self.jwt.verify(token)
        except TokenRejected as e:
            return self._refuse("authn:" + e.reason)
        except KeysUnavailable:
            log.error("no JWKS available to verify tokens (request %s)", ex.request_id)
            return Deny(AuthUnavailable, rule="authn:jwks-unavailable")
        name = vt.claims.get(jc.consumer_claim)
        if not isinstance(name, str) or not name:
            return self._refuse("authn:jwt:consumer-claim")
        try:
            consumer = await self._consumer(name)
        except StorageError:
            if jc.require_consumer or self.cfg.on_error == "deny":
                return Deny(AuthUnavailable, rule="authn:store-unavailable")
            consumer = None
        if consumer is not None and consumer.disabled:
            return self._refuse("authn:jwt:consumer-disabled")
        hit = self.jwt_idents.get(id(vt))
        if hit is not None and hit.token is vt and hit.consumer is consumer:
            ex.identity = hit.identity  # same verified token, same consumer record: same identity
            return CONTINUE
        looked_up = consumer
        if consumer is None:
            if jc.require_consumer:
                return self._refuse("authn:jwt:unknown-consumer")
            consumer = Consumer(name, jc.default_purpose)
        raw = vt.claims.get(jc.scopes_claim, vt.claims.get("scp"))
        granted = frozenset(raw.split() if isinstance(raw, str) else (str(s) for s in raw) if isinstance(raw, list) else ())
        scopes = granted & consumer.scopes if consumer.scopes else granted
        ident = Identity.of(consumer, "jwt", vt.kid, scopes=scopes, claims=vt.claims)
        if len(self.jwt_idents) >= jc.cache_size:
            self.jwt_idents.clear()
        self.jwt_idents[id(vt)] = TokenIdent(vt, name, looked_up, ident)
        ex.identity = ident
        return CONTINUE

    async def _mtls(self, ex: Exchange) -> Verdict:
        assert self.mtls is not None and ex.tls is not None
        if self.mtls.match == "subject":
            values: tuple[str, ...] = (ex.tls.client_subject or "",)
        else:
            values = ex.tls.client_san
        name = next((self.mtls.consumers[v] for v in values if v in self.mtls.consumers), None)
        if name is None:
            return self._refuse("authn:mtls:unmapped")
        try:
            consumer = await self._consumer(name)
        except StorageError:
            return Deny(AuthUnavailable, rule="authn:store-unavailable")
        if consumer is None or consumer.disabled:
            return self._refuse("authn:mtls:consumer")
        ex.identity = Identity.of(consumer, "mtls", ex.tls.client_subject or "")
        return CONTINUE


def _query_value(query: bytes, name: str) -> bytes | None:
    for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if k == name:
            return v.encode("latin-1")
    return None
