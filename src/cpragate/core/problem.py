"""RFC 9457 problem responses: the only thing an API client learns about a refusal.

A problem carries the stable code and the error's generic title, the status and the
request id — never the operator detail, a stack trace, which check failed, or a value
from the request (it may be personal data). Validation refusals add ``violations``: a
list of ``{"pointer", "rule"}`` naming where the request breaks the API's description
(a JSON pointer such as ``/query/limit`` or ``/body/email``) and the rule, so a client
can fix its request; the submitted values are never included.
"""

from __future__ import annotations

import orjson

from cpragate.core.messages import Headers, Response
from cpragate.errors import GatewayError

__all__ = ["PROBLEM_TYPE", "problem_body", "problem_response"]

PROBLEM_TYPE = "urn:cpragate:problem:"


def problem_body(
    error: type[GatewayError],
    status: int,
    request_id: str,
    violations: tuple[tuple[str, str], ...] = (),
) -> bytes:
    doc: dict[str, object] = {
        "type": PROBLEM_TYPE + error.code,
        "title": error.title,
        "status": status,
        "code": error.code,
        "request_id": request_id,
    }
    if violations:
        doc["violations"] = [{"pointer": p, "rule": r} for p, r in violations]
    return orjson.dumps(doc)


def problem_response(
    error: type[GatewayError],
    request_id: str,
    status: int | None = None,
    extra_headers: tuple[tuple[bytes, bytes], ...] = (),
    violations: tuple[tuple[str, str], ...] = (),
) -> Response:
    st = status if status is not None else error.status
    body = problem_body(error, st, request_id, violations)
    headers = Headers._from_lowered(
        [
            (b"content-type", b"application/problem+json"),
            (b"cache-control", b"no-store"),
            *extra_headers,
        ]
    )
    return Response(st, headers, body)
