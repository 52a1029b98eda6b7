import orjson

from cpragate.core.problem import PROBLEM_TYPE, problem_response
from cpragate.errors import BodyTooLarge, NotRouted


def test_problem_body_is_rfc9457_and_generic() -> None:
    r = problem_response(NotRouted, "rid-1")
    assert r.status == 404
    assert r.headers.get(b"content-type") == b"application/problem+json"
    doc = orjson.loads(r.body or b"")
    assert doc == {
        "type": PROBLEM_TYPE + "CPG-ROUTE-001",
        "title": NotRouted.title,
        "status": 404,
        "code": "CPG-ROUTE-001",
        "request_id": "rid-1",
    }


def test_status_override_and_headers() -> None:
    r = problem_response(BodyTooLarge, "r", 502, ((b"retry-after", b"1"),))
    assert r.status == 502 and r.headers.get(b"retry-after") == b"1"
    assert orjson.loads(r.body or b"")["status"] == 502


def test_violations_are_listed_by_pointer_and_rule_only() -> None:
    from cpragate.errors import RequestBodyInvalid

    r = problem_response(RequestBodyInvalid, "r", violations=(("/body/email", "format"), ("/body/role", "undeclared")))
    doc = orjson.loads(r.body or b"")
    assert r.status == 422
    assert doc["violations"] == [{"pointer": "/body/email", "rule": "format"}, {"pointer": "/body/role", "rule": "undeclared"}]
    assert "violations" not in orjson.loads(problem_response(NotRouted, "r").body or b"")
