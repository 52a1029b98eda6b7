"""The security-headers filter's response phase, compiled with mypyc (group ``dataplane``
in cpragate/_accel.py, beside the Headers it edits; this source runs as is when the build
is missing or stale).

It runs on every response of every route that keeps the default filters, so it is a
native object holding the configuration as plain bytes, bound as the filter's
``response_now`` (filter.py): no interpreted frame and no coroutine per response.
"""

from __future__ import annotations

from cpragate.core.exchange import Exchange
from cpragate.core.verdict import CONTINUE, Verdict

__all__ = ["SecurityHeadersFast"]


class SecurityHeadersFast:
    def __init__(
        self,
        hsts: bytes,
        forced: list[tuple[bytes, bytes]],
        csp: bytes | None,
        personal_cache_control: bytes,
        remove: frozenset[bytes],
    ) -> None:
        self.hsts = hsts
        self.forced = forced
        self.csp = csp
        self.personal_cc = personal_cache_control
        # The names dropped before the forced ones are added, per (HSTS applies, personal
        # route): built once, not a set union per response.
        base = remove | frozenset(n for n, _ in forced)
        sts = frozenset({b"strict-transport-security"})
        personal = frozenset({b"cache-control", b"pragma"})
        self.drop_plain = base
        self.drop_hsts = base | sts
        self.drop_personal = base | personal
        self.drop_hsts_personal = base | sts | personal

    def response_now(self, exchange: Exchange) -> Verdict:
        resp = exchange.response
        if resp is None:
            return CONTINUE
        h = resp.headers
        hsts = exchange.scheme == "https" and len(self.hsts) > 0
        route = exchange.route
        personal = route is not None and route.personal
        if hsts:
            h.remove_many(self.drop_hsts_personal if personal else self.drop_hsts)
        else:
            h.remove_many(self.drop_personal if personal else self.drop_plain)
        items = h.items()
        items.extend(self.forced)
        if hsts:
            items.append((b"strict-transport-security", self.hsts))
        csp = self.csp
        if csp is not None and b"content-security-policy" not in h:
            items.append((b"content-security-policy", csp))
        if personal:
            items.append((b"cache-control", self.personal_cc))
            items.append((b"pragma", b"no-cache"))
        return CONTINUE
