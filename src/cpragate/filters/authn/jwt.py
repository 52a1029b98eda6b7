"""JWT verification: strict header checks, keys by kid, claims, a verified-token cache.

Rules (the attack suite in tests/cpragate/filters/authn/test_jwt.py checks each):

1. The token is three base64url parts, at most ``max_token_bytes``; the header is a JSON
   object without ``crit``; ``alg`` is in the configured list — never ``none``; HS256
   only when a shared secret is configured, and then only with that secret.
2. The key is chosen by ``kid`` from the static JWKs or the fetched JWKS, and must be of
   the algorithm's key type (an RSA public key is never an HMAC secret: no algorithm
   confusion). A token without ``kid`` is accepted only when exactly one key fits.
3. An unknown ``kid`` refetches the JWKS, at most once per ``refetch_interval`` (shared
   by every request), so an attacker cannot turn random kids into a fetch flood. A
   fetched JWKS replaces the previous one (rotation); when a fetch fails the last good
   one keeps serving.
4. The signature is verified by joserfc; then ``iss`` must equal the issuer, ``aud``
   must name a configured audience, ``exp`` is required, ``nbf``/``iat`` must not be in
   the future, all with ``leeway``.
5. Verified tokens are cached (bounded, oldest out first) until ``exp`` + ``leeway`` or
   ``cache_seconds`` at the latest, under the token's last 32 bytes (its signature's tail)
   with the whole token beside it: a hit is only the byte-identical token, compared in
   full (authn/fastpath.py reads this cache per request; :func:`cache_entry` says what an
   entry holds). Why not the token itself as the key: a dict lookup hashes the key (SipHash
   under this process's random key), ~1.1k instructions for a 560-byte RS256 token against
   ~100 for 32 bytes, per request; the full comparison keeps the guarantee — another token
   with the same tail (a forged one, or one of two verified tokens, which then evict each
   other) costs a comparison and a verification from scratch, never a wrong hit. Why not a
   digest: the SHA-256 of ~1 KB per request. Only verified tokens are inserted, so an
   attacker cannot fill the table with chosen keys. The cost: a token stays in this
   process's memory until it expires (while its bearer may still use it anyway; it is
   never logged or written out).

Failures raise ``TokenRejected(reason)``: the reason goes to the audit trail as the
rule that decided, never to the client.
"""

from __future__ import annotations

import base64
import binascii
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey, import_key

from cpragate.core.clock import Clock
from cpragate.errors import StorageError
from cpragate.filters.authn.config import JwtConfig

__all__ = [
    "TOKEN_KEY_BYTES",
    "CacheEntry",
    "JwksFetcher",
    "JwtVerifier",
    "KeysUnavailable",
    "TokenRejected",
    "VerifiedToken",
    "cache_entry",
    "token_key",
]

log = logging.getLogger("cpragate.authn")

AnyKey = RSAKey | ECKey | OKPKey | OctKey

_KTY = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP", "HS": "oct"}


class JwksFetcher(Protocol):
    """What the verifier awaits to get a JWKS document (storage.fetch.HttpFetcher)."""

    async def fetch(self, url: str) -> bytes: ...


class TokenRejected(Exception):
    """The token is not acceptable; ``reason`` names the rule (for the audit trail only)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeysUnavailable(Exception):
    """No JWKS could be fetched yet: the token cannot be checked either way."""


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    claims: Mapping[str, Any]
    kid: str
    exp: float
    nbf: float | None


TOKEN_KEY_BYTES = 32
"""The cache key is the token's last this many bytes (the whole token when shorter)."""

CacheEntry = tuple[bytes, float, float, VerifiedToken]
"""(the whole token, usable while the wall clock is below this, and not below this, the verified token)."""


def token_key(token: bytes) -> bytes:
    """The cache key of ``token`` (rule 5)."""
    return token[-TOKEN_KEY_BYTES:]


def cache_entry(token: bytes, v: VerifiedToken, deadline: float, leeway: float) -> CacheEntry:
    """The cache entry of a verified token: its validity window, exp and nbf with the
    leeway, computed once (``deadline``: the cache's own limit, now + cache_seconds)."""
    return (token, min(v.exp + leeway, deadline), float("-inf") if v.nbf is None else v.nbf - leeway, v)


def _b64(part: bytes) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise TokenRejected("jwt:malformed") from None


def _kty(alg: str) -> str:
    return _KTY[alg[:2]]


class JwtVerifier:
    """Verifies bearer tokens per ``JwtConfig``; awaits only the fetcher it is handed."""

    def __init__(self, cfg: JwtConfig, clock: Clock, fetcher: JwksFetcher | None = None) -> None:
        self.cfg = cfg
        self.clock = clock
        self.fetcher = fetcher
        self.algorithms = frozenset(cfg.algorithms)
        self.audience = frozenset(cfg.audience)
        self.static: dict[str, AnyKey] = {}
        for i, jwk in enumerate(cfg.jwks):
            k = import_key(dict(jwk))
            self.static[str(jwk.get("kid", f"static-{i}"))] = k
        self.hmac_key: OctKey | None = None
        if cfg.hs256_secret is not None:
            self.hmac_key = OctKey.import_key(cfg.hs256_secret.get_secret_value().encode())
        self.remote: dict[str, AnyKey] = {}
        self.remote_loaded = False
        self.fetched_at = float("-inf")
        self.attempted_at = float("-inf")
        self.fetches = 0
        self._fetching = False
        self.cache: dict[bytes, CacheEntry] = {}
        """token_key(token) -> CacheEntry; see rule 5 of the module docstring."""

    # ------------------------------------------------------------------ keys

    async def _refresh(self, *, forced: bool) -> None:
        """Fetch the JWKS if allowed now; keep the last good set on failure."""
        url = self.cfg.jwks_url
        if url is None or self.fetcher is None:
            return
        now = self.clock.monotonic()
        if not self._fetching:
            due = now - self.fetched_at >= self.cfg.jwks_refresh
            if not (due or (forced and now - self.attempted_at >= self.cfg.refetch_interval)):
                return
            if now - self.attempted_at < min(self.cfg.refetch_interval, 1.0):
                return  # never more than once a second, whatever the reason
        self.attempted_at = now
        self._fetching = True
        try:
            self.fetches += 1
            body = await self.fetcher.fetch(url)
        except StorageError as e:
            log.warning("JWKS fetch failed, keeping the last good keys: %s", e.detail or e.title)
            return
        finally:
            self._fetching = False
        keys = self._parse_jwks(body)
        if keys is None:
            return
        self.remote = keys
        self.remote_loaded = True
        self.fetched_at = self.clock.monotonic()

    def _parse_jwks(self, body: bytes) -> dict[str, AnyKey] | None:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = None
        raw = doc.get("keys") if isinstance(doc, dict) else None
        if not isinstance(raw, list):
            log.warning("JWKS document is not a JSON object with a keys list; keeping the last good keys")
            return None
        out: dict[str, AnyKey] = {}
        for jwk in raw:
            if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig" or "kid" not in jwk:
                continue
            if jwk.get("kty") == "oct" or "d" in jwk:
                continue  # never symmetric or private material from a URL
            try:
                out[str(jwk["kid"])] = import_key(jwk)
            except (JoseError, ValueError, TypeError, KeyError):
                log.warning("JWKS key %r cannot be imported; skipped", str(jwk.get("kid"))[:64])
        return out

    def _key_for(self, alg: str, kid: str | None) -> AnyKey | None:
        kty = _kty(alg)
        if kty == "oct":
            return self.hmac_key
        if kid is not None:
            k = self.static.get(kid) or self.remote.get(kid)
            return k if k is not None and k.key_type == kty else None
        fits = [k for k in (*self.static.values(), *self.remote.values()) if k.key_type == kty]
        return fits[0] if len(fits) == 1 else None

    # ------------------------------------------------------------------ verify

    async def verify(self, token: bytes) -> VerifiedToken:
        cfg = self.cfg
        if len(token) > cfg.max_token_bytes:
            raise TokenRejected("jwt:too-long")
        token = bytes(token)  # kept in the cache entry: immutable, compared in full on a hit
        ck = token_key(token)
        hit = self.cache.get(ck)
        now = self.clock.time()
        if hit is not None and hit[0] == token:
            if now < hit[1]:
                if now < hit[2]:
                    raise TokenRejected("jwt:not-yet-valid")
                return hit[3]
            del self.cache[ck]
        parts = token.split(b".")
        if len(parts) != 3 or not all(parts[:2]):
            raise TokenRejected("jwt:malformed")
        if not parts[2]:
            raise TokenRejected("jwt:unsigned")
        try:
            header = orjson.loads(_b64(parts[0]))
        except orjson.JSONDecodeError:
            raise TokenRejected("jwt:malformed") from None
        if not isinstance(header, dict):
            raise TokenRejected("jwt:malformed")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise TokenRejected("jwt:alg")
        if "crit" in header:
            raise TokenRejected("jwt:crit")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenRejected("jwt:malformed")
        key = self._key_for(alg, kid)
        if key is None and _kty(alg) != "oct" and self.cfg.jwks_url is not None:
            await self._refresh(forced=True)
            key = self._key_for(alg, kid)
            if key is None and not self.remote_loaded and not self.static:
                raise KeysUnavailable()
        elif self.cfg.jwks_url is not None and self.clock.monotonic() - self.fetched_at >= cfg.jwks_refresh:
            await self._refresh(forced=False)
        if key is None:
            raise TokenRejected("jwt:unknown-kid")
        try:
            if alg == "EdDSA":  # RFC 9864 renames it Ed25519; still what most issuers send
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", SecurityWarning)
                    sig = jws.deserialize_compact(token, key, algorithms=[alg])
            else:
                sig = jws.deserialize_compact(token, key, algorithms=[alg])
        except (JoseError, ValueError):
            raise TokenRejected("jwt:signature") from None
        try:
            claims = orjson.loads(sig.payload)
        except orjson.JSONDecodeError:
            raise TokenRejected("jwt:malformed") from None
        if not isinstance(claims, dict):
            raise TokenRejected("jwt:malformed")
        v = self._check_claims(claims, kid or "-", now)
        if len(self.cache) >= cfg.cache_size:
            self._evict(now)
        self.cache.pop(ck, None)  # re-inserted at the end: the oldest entries stay first
        self.cache[ck] = cache_entry(token, v, now + cfg.cache_seconds, cfg.leeway)
        return v

    def _check_claims(self, claims: dict[str, Any], kid: str, now: float) -> VerifiedToken:
        if claims.get("iss") != self.cfg.issuer:
            raise TokenRejected("jwt:iss")
        aud = claims.get("aud")
        auds = {aud} if isinstance(aud, str) else set(aud) if isinstance(aud, list) else set()
        if not auds & self.audience:
            raise TokenRejected("jwt:aud")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise TokenRejected("jwt:exp-missing")
        nbf = claims.get("nbf")
        if nbf is not None and (not isinstance(nbf, int | float) or isinstance(nbf, bool)):
            raise TokenRejected("jwt:nbf")
        iat = claims.get("iat")
        if iat is not None and (not isinstance(iat, int | float) or isinstance(iat, bool)):
            raise TokenRejected("jwt:iat")
        self._check_times(float(exp), None if nbf is None else float(nbf), None if iat is None else float(iat), now)
        return VerifiedToken(claims, kid, float(exp), None if nbf is None else float(nbf))

    def _check_times(self, exp: float, nbf: float | None, iat: float | None, now: float) -> None:
        lw = self.cfg.leeway
        if now >= exp + lw:
            raise TokenRejected("jwt:expired")
        if nbf is not None and now < nbf - lw:
            raise TokenRejected("jwt:not-yet-valid")
        if iat is not None and now < iat - lw:
            raise TokenRejected("jwt:iat-future")

    def _evict(self, now: float) -> None:
        for k in [k for k, e in self.cache.items() if e[1] <= now]:
            del self.cache[k]
        while len(self.cache) >= self.cfg.cache_size:
            del self.cache[next(iter(self.cache))]
