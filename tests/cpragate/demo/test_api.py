import orjson

from cpragate.demo.api import DemoApi
from cpragate.demo.data import generate
from cpragate.server.origin import OriginRequest
from cpragate.testing import make_request

API = DemoApi(generate(30, 20, 10))


def call(method: str, target: str, body: bytes | None = None) -> tuple[int, object]:
    r = API(OriginRequest(make_request(method, target, body=body)))
    return r.status, orjson.loads(r.body)


def test_endpoints() -> None:
    assert call("GET", "/health")[0] == 200
    st, doc = call("GET", "/v1/customers?limit=5&offset=2")
    assert st == 200 and len(doc["items"]) == 5 and doc["items"][0]["id"] == 3  # type: ignore[index]
    assert call("GET", "/v1/customers/7")[1]["id"] == 7  # type: ignore[index]
    assert call("GET", "/v1/customers/999")[0] == 404
    assert call("GET", "/v1/customers/7/orders")[0] == 200
    assert call("GET", "/v1/orders/10001")[0] == 200
    assert call("GET", "/v1/tickets/50001")[0] == 200
    st, t = call("POST", "/v1/tickets", b'{"customer_id": 3, "body": "hi"}')
    assert st == 201 and t["status"] == "open"  # type: ignore[index]
    assert call("POST", "/v1/tickets", b'{"x": 1}')[0] == 422
    assert call("GET", "/v1/customers/abc")[0] == 400
    assert call("GET", "/nope")[0] == 404
