"""A large JSON array response, inspected element by element as it streams (issue 5, item 7).

The data plane calls the pii filter's ``open_response_stream`` when a response to
inspect is larger than the route's ``max_body_bytes`` (and pii is the only filter on the
route that needs the whole body). It then feeds every upstream chunk through
:meth:`ResponseStream.feed` and sends what comes back; memory is bounded by one element
(``max_element_bytes``) plus one chunk, whatever the size of the response.

Refusals are raised, not returned, because bytes may already be on the wire:

* a later element that a ``block`` rule matches raises :class:`PiiResponseBlocked`;
* an element larger than ``max_element_bytes``, or a body that is not valid JSON of
  a streamable shape, raises :class:`PiiResponseUninspectable`.

The data plane answers 502 if nothing was sent yet, and otherwise aborts the
connection (the client sees a truncated body, never an unmasked element); either way
the exchange is recorded as denied with the error code, and this class has already
put the decision (``pii deny pii:block:us_ssn``) and the counts on the exchange.
"""

from __future__ import annotations

from cpragate.core.exchange import Exchange
from cpragate.errors import (
    GatewayError,
    PiiError,
    PiiResponseBlocked,
    PiiResponseUninspectable,
    PiiStreamLimitError,
)
from cpragate.filters.pii.fastpath import summary
from cpragate.pii import JsonArrayStream

__all__ = ["ResponseStream", "summary"]


class ResponseStream:
    """Feeds one response body through a :class:`JsonArrayStream` for one exchange.

    :param exchange: where the decision goes (its ``pii`` slot is the stream's counts).
    :param stream: the engine's stream, built with ``annotations=exchange.pii``.
    """

    __slots__ = ("_done", "exchange", "stream")

    def __init__(self, exchange: Exchange, stream: JsonArrayStream) -> None:
        self.exchange = exchange
        self.stream = stream
        self._done = False

    def feed(self, chunk: bytes) -> bytes:
        """Rewritten bytes ready to send (possibly ``b""``).

        :raises PiiResponseBlocked: an element requires blocking the whole response.
        :raises PiiResponseUninspectable: the body cannot be inspected as it streams.
        """
        if self._done:
            return b""
        try:
            out = self.stream.feed(chunk)
        except PiiError as e:
            raise self._fail(e) from None
        if self.stream.blocked:
            raise self._blocked()
        return out

    def close(self) -> bytes:
        """The rest of the output, at the end of the upstream body (same errors as feed)."""
        if self._done:
            return b""
        try:
            out = self.stream.close()
        except PiiError as e:
            raise self._fail(e) from None
        if self.stream.blocked:
            raise self._blocked()
        self._done = True
        self.exchange.decide(
            "pii", "streamed", f"{summary(self.stream.annotations)} elements={self.stream.elements}"
        )
        return out

    def _blocked(self) -> GatewayError:
        self._done = True
        by = self.stream.annotations.blocked_by
        self.exchange.decide("pii", "deny", f"pii:block:{by}")
        return PiiResponseBlocked(f"a streamed element holds {by}, which the route blocks.")

    def _fail(self, e: PiiError) -> GatewayError:
        self._done = True
        why = "stream-element-too-large" if isinstance(e, PiiStreamLimitError) else "stream-unparseable"
        self.exchange.decide("pii", "deny", f"pii:{why}")
        # The engine's messages name offsets and limits, never values.
        return PiiResponseUninspectable(f"the streamed JSON body could not be inspected ({e.code}).")
