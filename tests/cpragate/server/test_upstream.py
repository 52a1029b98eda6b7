import asyncio

from cpragate.config.model import Upstream
from cpragate.server.upstream import UpstreamConnection, UpstreamPool


def test_pool_url_parsing_and_host_header() -> None:
    async def t() -> None:
        loop = asyncio.get_running_loop()
        p = UpstreamPool("a", Upstream(url="https://api.example.com/base/"), loop)
        assert (p.host, p.port, p.prefix, p.host_header) == ("api.example.com", 443, b"/base", b"api.example.com")
        q = UpstreamPool("b", Upstream(url="http://[::1]:8080", allow_plaintext=True), loop)
        assert q.host_header == b"[::1]:8080" and q.ssl is None

    asyncio.run(t())


def test_release_and_sweep_idle() -> None:
    async def t() -> None:
        loop = asyncio.get_running_loop()
        p = UpstreamPool("a", Upstream(url="http://x", allow_plaintext=True, pool={"max_idle": 1, "idle_timeout": 1}), loop)
        c1, c2 = UpstreamConnection(p), UpstreamConnection(p)
        c1.reusable = c2.reusable = True
        p.release(c1)
        p.release(c2)  # over max_idle: closed
        assert p.idle == [c1] and c2.closed
        p.sweep(loop.time())  # first sweep stamps the idle time
        assert p.idle == [c1]
        p.sweep(loop.time() + 5)
        assert p.idle == [] and c1.closed
        c3 = UpstreamConnection(p)
        c3.reusable = False
        p.release(c3)
        assert c3.closed and p.idle == []
        p.close()
        assert p.closing

    asyncio.run(t())
