import asyncio

from cpragate.server.origin import OriginResponse, OriginServer


def test_origin_serves_keepalive_and_head() -> None:
    async def t() -> None:
        o = await OriginServer(lambda r: OriginResponse(200, [], b"hi")).start()
        r, w = await asyncio.open_connection("127.0.0.1", o.port)
        w.write(b"GET / HTTP/1.1\r\nhost: x\r\n\r\nHEAD / HTTP/1.1\r\nhost: x\r\n\r\n")
        data = b""
        while data.count(b"HTTP/1.1 200") < 2:
            data += await r.read(1000)
        assert data.count(b"hi") == 1
        w.close()
        await w.wait_closed()
        await o.close()
        assert o.connections == 1 and [q.method for q in o.requests] == ["GET", "HEAD"]

    asyncio.run(t())
