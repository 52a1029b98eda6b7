"""RFC 9457 problem responses: the only thing an API client learns about a refusal.

A problem carries the stable code and the error's generic title, the status and the
request id — never the operator detail, a stack trace, which check failed, or a value
from the request (it may be personal data).
"""

from __future__ import annotations

import orjson

from cpragate.core.messages import Headers, Response
from cpragate.errors import GatewayError

__all__ = ["PROBLEM_TYPE", "problem_body", "problem_response"]

PROBLEM_TYPE = "urn:cpragate:problem:"


def problem_body(error: type[GatewayError], status: int, request_id: str) -> bytes:
    return orjson.dumps(
        {
            "type": PROBLEM_TYPE + error.code,
            "title": error.title,
            "status": status,
            "code": error.code,
            "request_id": request_id,
        }
    )


def problem_response(
    error: type[GatewayError],
    request_id: str,
    status: int | None = None,
    extra_headers: tuple[tuple[bytes, bytes], ...] = (),
) -> Response:
    st = status if status is not None else error.status
    body = problem_body(error, st, request_id)
    headers = Headers._from_lowered(
        [
            (b"content-type", b"application/problem+json"),
            (b"cache-control", b"no-store"),
            *extra_headers,
        ]
    )
    return Response(st, headers, body)
