"""The pii filter over real sockets: SPI from an upstream JSON response arrives masked
and the categories are recorded on the exchange. Values are synthetic; assertions never
print bodies."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest

from cpragate.core.exchange import Exchange
from cpragate.core.filter import Filter
from cpragate.filters.audit.filter import exchange_annotations
from cpragate.server.origin import OriginRequest, OriginResponse

from .conftest import Client, free_port, gateway, origin, plain_config, run, start_cpragate, stop_proc

pytestmark = pytest.mark.e2e

SSN = "536-22-8741"
CARD = "4111-1111-1111-1111"
CUSTOMER = {"id": 42, "name": "Jane Roe", "email": "jane.roe@example.com", "ssn": SSN, "card_number": CARD,
            "note": f"verified with SSN {SSN}"}


def upstream(req: OriginRequest) -> OriginResponse:
    body = orjson.dumps(CUSTOMER)
    headers = [(b"content-type", b"application/json")]
    if req.request.path.endswith("/gz"):
        body = gzip.compress(body)
        headers.append((b"content-encoding", b"gzip"))
    return OriginResponse(200, headers, body)


class Recorder(Filter):
    """Keeps what the pii filter put on each exchange (counts only)."""

    name = "recorder"
    priority = 1
    seen: ClassVar[list[dict[str, Any] | None]] = []

    async def on_complete(self, exchange: Exchange) -> None:
        Recorder.seen.append(exchange.pii.to_dict() if exchange.pii is not None else None)


ROUTES = """\
  - {path: "/v1/customers/**", upstream: o, personal: true}
  - {path: "/v1/public/**", upstream: o}
"""


def test_ssn_and_card_arrive_masked_and_categories_are_recorded() -> None:
    Recorder.seen.clear()

    async def t() -> None:
        async with origin(upstream) as o, gateway(plain_config(o.port, ROUTES), extra_filters={"recorder": Recorder}) as gw:
            c = await Client.open(gw.bound_ports()[0])
            for path in ("/v1/customers/42", "/v1/customers/42/gz"):
                r = await c.request("GET", path)
                assert r.status == 200
                leaked = SSN.encode() in r.body or CARD.encode() in r.body
                assert not leaked, f"SPI reached the client on {path}"
                doc = orjson.loads(r.body)
                assert doc["ssn"] == "***-**-8741"
                assert doc["card_number"] == "****-****-****-1111"
                assert doc["note"] == "verified with SSN ***-**-8741"
                assert doc["email"] == CUSTOMER["email"]  # not SPI: allowed by default
                assert int(r.h("content-length") or b"0") == len(r.body)
            # A route not marked personal is not inspected by default.
            r = await c.request("GET", "/v1/public/42")
            assert r.status == 200 and orjson.loads(r.body) == CUSTOMER
            await c.close()

    run(t())
    inspected = [s for s in Recorder.seen if s is not None]
    assert len(inspected) == 2 and Recorder.seen[-1] is None
    for s in inspected:
        assert s["entities"] == {"credit_card": 1, "email": 1, "person": 1, "us_ssn": 2}
        assert s["categories"]["identifiers"] >= 3 and s["categories"]["customer_records"] == 1
        assert s["spi"] == 3 and s["actions"] == {"allow": 2, "mask": 3} and s["blocked"] is False


def test_blocked_response_is_a_502_problem_without_the_body() -> None:
    extra = "filters: {pii: {engine: {actions: {entities: {us_ssn: block}}}}}"

    async def t() -> None:
        async with origin(upstream) as o, gateway(plain_config(o.port, ROUTES, extra)) as gw:
            c = await Client.open(gw.bound_ports()[0])
            r = await c.request("GET", "/v1/customers/42")
            assert r.status == 502
            assert r.h("content-type") == b"application/problem+json"
            assert b"CPG-PII-006" in r.body
            leaked = SSN.encode() in r.body or b"jane" in r.body
            assert not leaked, "the withheld body reached the client"
            await c.close()

    run(t())


# ------------------------------------------------------------------ bodies that cannot be read


class Audited(Filter):
    """Keeps, per exchange, what the audit filter would write: outcome, error, decisions, counts."""

    name = "audited"
    priority = 1
    seen: ClassVar[list[dict[str, Any]]] = []

    async def on_complete(self, exchange: Exchange) -> None:
        Audited.seen.append(
            {
                "outcome": exchange.outcome,
                "error": exchange.error_code,
                "decisions": [(d.filter, d.outcome, d.rule) for d in exchange.decisions],
                "ann": exchange_annotations(exchange),
                "bytes_out": exchange.bytes_out,
            }
        )


PNG = b"\x89PNG\r\n\x1a\n" + SSN.encode()


def typed(req: OriginRequest) -> OriginResponse:
    path = req.request.path
    if path.endswith("/photo"):
        return OriginResponse(200, [(b"content-type", b"image/png")], PNG)
    if path.endswith("/untyped"):
        return OriginResponse(200, [], b"ssn " + SSN.encode())
    if path.endswith("/csv"):
        return OriginResponse(200, [(b"content-type", b"text/csv")], b"name,ssn\nJane Roe," + SSN.encode() + b"\n")
    if path.endswith("/csv.gz"):
        body = gzip.compress(b"name,ssn\nJane Roe," + SSN.encode() + b"\n")
        return OriginResponse(200, [(b"content-type", b"text/csv"), (b"content-encoding", b"gzip")], body)
    return OriginResponse(404, [(b"content-type", b"application/json")], b'{"error": "not found"}')


def test_bodies_the_filter_cannot_read_are_refused_unless_listed() -> None:
    routes = """\
  - {path: "/v1/customers/**", upstream: o, personal: true}
  - {path: "/v1/photos/**", upstream: o, personal: true, pii: {pass_types: ["image/*"]}}
"""

    async def t() -> None:
        async with origin(typed) as o, gateway(plain_config(o.port, routes)) as gw:
            c = await Client.open(gw.bound_ports()[0])
            for path in ("/v1/customers/42/photo", "/v1/customers/42/untyped"):
                r = await c.request("GET", path)
                assert r.status == 502 and b"CPG-PII-008" in r.body, path
                assert SSN.encode() not in r.body, "the unread body reached the client"
            r = await c.request("GET", "/v1/photos/42/photo")  # listed: passes unread
            assert r.status == 200 and r.body == PNG
            for path in ("/v1/customers/42/csv", "/v1/customers/42/csv.gz"):  # text, gzip decoded first
                r = await c.request("GET", path)
                assert r.status == 200 and r.body == b"name,ssn\nJane Roe,***-**-8741\n", path
            await c.close()

    run(t())


# ------------------------------------------------------------------ requests


class Echo:
    """An origin that keeps the query and body it received (counts compared, never printed)."""

    def __init__(self) -> None:
        self.got: list[tuple[bytes, bytes]] = []

    def __call__(self, req: OriginRequest) -> OriginResponse:
        self.got.append((req.request.query, req.request.body or b""))
        return OriginResponse(200, [(b"content-type", b"application/json")], b'{"ok": true}')


def test_request_side_annotate_mask_and_block() -> None:
    routes = """\
  - {path: "/v1/customers/**", upstream: o, personal: true, methods: ["*"]}
  - {path: "/v1/search", upstream: o, personal: true, pii: {request: {query: block}}}
  - {path: "/v1/forms", upstream: o, personal: true, methods: [POST], pii: {request: {body: mask}}}
"""
    echo = Echo()
    Audited.seen.clear()

    async def t() -> None:
        async with origin(echo) as o, gateway(plain_config(o.port, routes), extra_filters={"audited": Audited}) as gw:
            c = await Client.open(gw.bound_ports()[0])
            body = orjson.dumps(CUSTOMER)
            r = await c.request("POST", f"/v1/customers?ssn={SSN}", {"content-type": "application/json"}, body)
            assert r.status == 200 and echo.got[-1] == (f"ssn={SSN}".encode(), body)  # annotate: unchanged
            r = await c.request("GET", f"/v1/search?ssn={SSN}")
            assert r.status == 400 and b"CPG-PII-009" in r.body and SSN.encode() not in r.body
            assert len(echo.got) == 1, "a refused request reached the upstream"
            r = await c.request("GET", "/v1/search?email=jane.roe%40example.com")  # not SPI: allowed
            assert r.status == 200
            form = f"name=Jane+Roe&ssn={SSN}".encode()
            r = await c.request("POST", "/v1/forms", {"content-type": "application/x-www-form-urlencoded"}, form)
            assert r.status == 200 and echo.got[-1][1] == b"name=Jane+Roe&ssn=%2A%2A%2A-%2A%2A-8741"
            await c.close()

    run(t())
    first, refused = Audited.seen[0], Audited.seen[1]
    req = first["ann"]["pii"]["request"]
    assert req["entities"] == {"us_ssn": 3, "credit_card": 1, "email": 1, "person": 1} and req["spi"] == 4
    assert refused["outcome"] == "denied" and refused["error"] == "CPG-PII-009"
    assert ("pii", "deny", "pii:request-query") in refused["decisions"]
    assert refused["ann"]["pii"]["request"]["entities"] == {"us_ssn": 1}


# ------------------------------------------------------------------ streaming large arrays

ROW = {"name": "Jane Roe", "email": "jane.roe@example.com", "ssn": SSN, "note": "card " + CARD, "city": "Fresno"}


def rows(n: int, bad_at: int | None = None) -> AsyncIterator[bytes]:
    """A JSON array of ``n`` customer rows, produced in ~64 KB chunks (never whole)."""

    async def gen() -> AsyncIterator[bytes]:
        buf = [b"["]
        size = 1
        for i in range(n):
            row = {"id": i, **ROW}
            if i == bad_at:
                row["passport_number"] = "X12345678"
            piece = (b"," if i else b"") + orjson.dumps(row)
            buf.append(piece)
            size += len(piece)
            if size > 65536:
                yield b"".join(buf)
                buf, size = [], 0
                await asyncio.sleep(0)
        buf.append(b"]")
        yield b"".join(buf)

    return gen()


def _one(body: bytes) -> AsyncIterator[bytes]:
    async def gen() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 65536):
            yield body[i : i + 65536]
            await asyncio.sleep(0)

    return gen()


def row_count_bytes(n: int) -> int:
    return 2 + sum(len(orjson.dumps({"id": i, **ROW})) for i in range(n)) + n - 1


def big(req: OriginRequest) -> OriginResponse:
    n = int(req.request.query.partition(b"=")[2] or b"0")
    json = [(b"content-type", b"application/json")]
    if req.request.path.startswith("/v1/sized"):  # Content-Length known up front
        body = b"[" + b",".join(orjson.dumps({"id": i, **ROW}) for i in range(n)) + b"]"
        return OriginResponse(200, json, body)
    if req.request.path.startswith("/v1/object"):  # large, but not an array to stream
        return OriginResponse(200, json, stream=_one(orjson.dumps({"blob": "x" * n, "ssn": SSN})))
    bad = n - 10 if req.request.path.startswith("/v1/blocked") else 0 if req.request.path.startswith("/v1/first") else None
    return OriginResponse(200, json, stream=rows(n, bad))


def _check_rows(body: bytes, n: int) -> None:
    leaked = SSN.encode() in body or CARD.encode() in body
    assert not leaked, "SPI reached the client"
    docs = orjson.loads(body)
    assert len(docs) == n
    assert all(d["ssn"] == "***-**-8741" and d["note"] == "card ****-****-****-1111" for d in docs)
    assert [d["id"] for d in docs[:3]] == [0, 1, 2] and docs[-1]["id"] == n - 1


def _clear_hwm(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset VmHWM (Linux >= 4.0)


def test_large_array_streams_masked_in_bounded_memory(tmp_path: Path) -> None:
    n = 34_000  # ~4.5 MB of rows, each with an SSN and a card number
    size = row_count_bytes(n)
    assert size > 4_000_000

    async def t() -> None:
        async with origin(big) as o:
            port = free_port()
            cfg = tmp_path / "gw.yaml"
            cfg.write_text(
                f"""
listeners: [{{bind: "127.0.0.1:{port}"}}]
upstreams: {{o: {{url: "http://127.0.0.1:{o.port}", allow_plaintext: true}}}}
routes:
  - {{path: "/v1/rows", upstream: o, personal: true, max_body_bytes: 262144}}
  - {{path: "/v1/buffered", upstream: o, personal: true, max_body_bytes: 16777216}}
  - {{path: "/v1/sized-nostream", upstream: o, personal: true, max_body_bytes: 262144, pii: {{stream: {{enabled: false}}}}}}
storage: {{url: "memory://"}}
"""
            )
            p = start_cpragate(cfg, port, log=tmp_path / "log.txt")
            try:
                c = await Client.open(port)
                r = await c.request("GET", "/v1/rows?n=200")  # small: buffered whole
                _check_rows(r.body, 200)
                assert not r.chunked
                r = await c.request("GET", "/v1/rows?n=3000")  # > max_body_bytes: streamed
                _check_rows(r.body, 3000)
                assert r.chunked
                grown = {}
                for path in ("/v1/rows", "/v1/buffered"):
                    base = p.rss_kb()
                    _clear_hwm(p.proc.pid)
                    r = await c.request("GET", f"{path}?n={n}", timeout=120)
                    assert r.status == 200, path
                    _check_rows(r.body, n)
                    grown[path] = p.hwm_kb() - base
                print(f"gateway peak RSS growth for a {size} B array: {grown} KiB")
                # Streaming holds one chunk and one element, whatever the size of the array; the
                # same response buffered whole (the control) costs many times its size.
                assert grown["/v1/rows"] * 1024 < size / 4, f"streaming grew the gateway by {grown} KiB"
                assert grown["/v1/buffered"] > 4 * grown["/v1/rows"], f"the control did not buffer: {grown} KiB"
                r = await c.request("GET", "/v1/sized-nostream?n=3000")  # on_body_too_large: deny
                assert r.status == 502 and b"CPG-HTTP-003" in r.body
                await c.close()
            finally:
                assert stop_proc(p) == 0

    run(t())


def test_large_array_with_a_known_length_streams_too() -> None:
    routes = '  - {path: "/v1/sized", upstream: o, personal: true, max_body_bytes: 65536}\n'
    Audited.seen.clear()

    async def t() -> None:
        async with origin(big) as o, gateway(plain_config(o.port, routes), extra_filters={"audited": Audited}) as gw:
            c = await Client.open(gw.bound_ports()[0])
            r = await c.request("GET", "/v1/sized?n=3000", timeout=60)
            assert r.status == 200 and r.chunked and r.h("content-length") is None
            _check_rows(r.body, 3000)
            await c.close()

    run(t())
    (ev,) = Audited.seen
    assert ev["outcome"] == "served" and ev["bytes_out"] > 300_000
    assert ("pii", "streamed", "found=12000 spi=6000 allow=6000 mask=6000 elements=3000") in ev["decisions"]
    assert ev["ann"]["pii"]["entities"] == {"credit_card": 3000, "email": 3000, "person": 3000, "us_ssn": 3000}


def test_a_late_element_that_must_be_blocked_aborts_the_connection() -> None:
    routes = '  - {path: "/v1/blocked", upstream: o, personal: true, max_body_bytes: 65536}\n'
    extra = "filters: {pii: {engine: {actions: {entities: {us_passport: block}}}}}"
    Audited.seen.clear()

    async def t() -> None:
        async with origin(big) as o, gateway(plain_config(o.port, routes, extra), extra_filters={"audited": Audited}) as gw:
            c = await Client.open(gw.bound_ports()[0])
            await c.send_raw(b"GET /v1/blocked?n=3000 HTTP/1.1\r\nhost: localhost\r\n\r\n")
            got = b""
            while True:  # read until the gateway cuts the connection
                data = await asyncio.wait_for(c.r.read(1 << 20), 30)
                if not data:
                    break
                got += data
            head, _, body = got.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in head.lower()
            assert len(body) > 100_000, "earlier elements were sent before the block was known"
            assert not body.endswith(b"0\r\n\r\n"), "the truncated body must not look complete"
            leaked = b"X12345678" in body or SSN.encode() in body
            assert not leaked, "a blocked or unmasked value reached the client"
            await c.close()

    run(t())
    (ev,) = Audited.seen
    assert ev["outcome"] == "denied" and ev["error"] == "CPG-PII-006"
    assert ("pii", "deny", "pii:block:us_passport") in ev["decisions"]
    assert ev["ann"]["pii"]["blocked"] == "us_passport"
    assert ev["ann"]["pii"]["entities"]["us_passport"] == 1


def test_a_refusal_before_the_first_element_is_sent_is_still_a_502() -> None:
    routes = """\
  - {path: "/v1/first", upstream: o, personal: true, max_body_bytes: 65536}
  - {path: "/v1/object", upstream: o, personal: true, max_body_bytes: 65536, pii: {stream: {max_element_bytes: 131072}}}
"""
    extra = "filters: {pii: {engine: {actions: {entities: {us_passport: block}}}}}"
    Audited.seen.clear()

    async def t() -> None:
        async with origin(big) as o, gateway(plain_config(o.port, routes, extra), extra_filters={"audited": Audited}) as gw:
            c = await Client.open(gw.bound_ports()[0])
            r = await c.request("GET", "/v1/first?n=3000", timeout=30)  # the first element is blocked
            assert r.status == 502 and b"CPG-PII-006" in r.body and b"X12345678" not in r.body
            c = await Client.open(gw.bound_ports()[0])
            r = await c.request("GET", "/v1/object?n=400000", timeout=30)  # held whole: beyond max_element_bytes
            assert r.status == 502 and b"CPG-PII-007" in r.body and SSN.encode() not in r.body
            await c.close()

    run(t())
    first, obj = Audited.seen
    assert first["outcome"] == "denied" and first["error"] == "CPG-PII-006" and first["bytes_out"] < 1000
    assert ("pii", "deny", "pii:block:us_passport") in first["decisions"]
    assert obj["outcome"] == "denied" and obj["error"] == "CPG-PII-007"
    assert ("pii", "deny", "pii:stream-element-too-large") in obj["decisions"]


class SlowPhase(Filter):
    """A response filter that suspends (as one awaiting a store would): upstream bytes that
    arrive meanwhile must be held, not written before the head."""

    name = "slowphase"
    priority = 450

    async def on_response(self, exchange: Exchange) -> Any:
        await asyncio.sleep(0.05)
        exchange.response.headers.set(b"x-slow", b"1")  # type: ignore[union-attr]
        from cpragate.core.verdict import CONTINUE

        return CONTINUE


def test_stream_output_waits_for_a_response_phase_that_suspends() -> None:
    routes = """\
  - {path: "/v1/rows", upstream: o, personal: true, max_body_bytes: 65536}
  - {path: "/v1/sized", upstream: o, personal: true, max_body_bytes: 65536}
"""

    async def t() -> None:
        async with origin(big) as o, gateway(plain_config(o.port, routes), extra_filters={"slowphase": SlowPhase}) as gw:
            c = await Client.open(gw.bound_ports()[0])
            for path in ("/v1/rows?n=3000", "/v1/sized?n=3000"):  # chunked overflow; known length
                r = await c.request("GET", path, timeout=30)
                assert r.status == 200 and r.chunked and r.h("x-slow") == b"1", path
                _check_rows(r.body, 3000)
            await c.close()

    run(t())


def test_request_bodies_are_buffered_only_where_the_route_inspects_them() -> None:
    routes = """\
  - {path: "/v1/customers", upstream: o, personal: true, methods: [POST], max_body_bytes: 1024}
  - {path: "/v1/uploads", upstream: o, personal: true, methods: [POST], max_body_bytes: 1024, pii: {request: {body: off}}}
"""
    echo = Echo()

    async def t() -> None:
        async with origin(echo) as o, gateway(plain_config(o.port, routes)) as gw:
            c = await Client.open(gw.bound_ports()[0])
            big_body = orjson.dumps({"rows": [CUSTOMER] * 30})
            assert len(big_body) > 4096
            r = await c.request("POST", "/v1/customers", {"content-type": "application/json"}, big_body)
            assert r.status == 413 and b"CPG-HTTP-003" in r.body  # inspected: buffered up to the limit
            c = await Client.open(gw.bound_ports()[0])
            r = await c.request("POST", "/v1/uploads", {"content-type": "application/json"}, big_body)
            assert r.status == 200 and echo.got[-1][1] == big_body  # not inspected: streamed through
            await c.close()

    run(t())
