"""The CORS filter's per-request work in the common case, compiled with mypyc (group
``dataplane`` in cpragate/_accel.py; this source runs as is when the build is missing or
stale).

Every route that keeps the default filters runs CORS on every request. Most requests are
not preflights and carry no ``Origin``: for them both phases end here, in a native object
bound as the filter's ``request_now``/``response_now`` (filter.py). A preflight, and a
response to a request with an ``Origin``, go on in the filter's Python, which owns the
policy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from cpragate.core.exchange import Exchange
from cpragate.core.verdict import CONTINUE, Verdict

__all__ = ["ACA_SET", "CorsFast"]

ACA_SET: Final = frozenset(
    {
        b"access-control-allow-origin",
        b"access-control-allow-credentials",
        b"access-control-allow-methods",
        b"access-control-allow-headers",
        b"access-control-expose-headers",
        b"access-control-max-age",
    }
)
"""Access-Control headers of the upstream: always removed, the gateway's policy is the only one."""


class CorsFast:
    def __init__(
        self,
        preflight: Callable[[Exchange], Verdict],
        with_origin: Callable[[Exchange, bytes], Verdict],
    ) -> None:
        self.preflight = preflight
        self.with_origin = with_origin

    def request_now(self, exchange: Exchange) -> Verdict:
        if exchange.request.method != "OPTIONS":
            return CONTINUE
        return self.preflight(exchange)

    def response_now(self, exchange: Exchange) -> Verdict:
        resp = exchange.response
        if resp is None:
            return CONTINUE
        h = resp.headers
        req = exchange.request
        if req.method == "OPTIONS" and resp.status == 204 and b"access-control-allow-methods" in h:
            return CONTINUE  # our own preflight answer
        h.remove_many(ACA_SET)
        origin = req.headers.get(b"origin")
        if origin is None:
            return CONTINUE
        return self.with_origin(exchange, origin)
