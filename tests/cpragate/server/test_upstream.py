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


class _Corked:
    corked = False

    def uncork(self) -> None:
        self.corked = False


class _User:
    def __init__(self) -> None:
        self.conn = _Corked()
        self.heads: list[int] = []
        self.body = b""
        self.done = 0

    def upstream_head(self, status: int, headers: list[tuple[bytes, bytes]], keep_alive: bool) -> None:
        self.heads.append(status)

    def upstream_body(self, chunk: bytes) -> None:
        self.body += chunk

    def upstream_done(self) -> None:
        self.done += 1


class _Transport:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


def test_responses_read_through_the_pools_shared_buffer() -> None:
    """uvloop hands reads to the BufferedProtocol interface (get_buffer, then
    buffer_updated): two connections of one pool share the buffer, one read at a time."""

    async def t() -> None:
        loop = asyncio.get_running_loop()
        p = UpstreamPool("a", Upstream(url="http://x", allow_plaintext=True), loop)
        a, b = UpstreamConnection(p), UpstreamConnection(p)
        ua, ub = _User(), _User()
        for conn, user in ((a, ua), (b, ub)):
            conn.connection_made(_Transport())  # type: ignore[arg-type]
            conn.send(user, b"GET / HTTP/1.1\r\n\r\n", False)  # type: ignore[arg-type]

        def read(conn: UpstreamConnection, data: bytes) -> None:
            buf = conn.get_buffer(-1)
            buf[: len(data)] = data
            conn.buffer_updated(len(data))

        read(a, b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nabc")
        read(b, b"HTTP/1.1 201 Created\r\ncontent-length: 3\r\n\r\nxyz")  # overwrites the buffer
        read(a, b"def")
        assert (ua.heads, ua.body, ua.done) == ([200], b"abcdef", 1)
        assert (ub.heads, ub.body, ub.done) == ([201], b"xyz", 1)
        assert a.get_buffer(-1) is b.get_buffer(-1)

    asyncio.run(t())


def test_connection_header_tokens_beyond_keep_alive_and_close_are_noted() -> None:
    """resp_conn: the response names extra hop-by-hop headers (to strip), in any of its
    Connection headers; keep-alive and close alone do not count."""

    async def t() -> None:
        loop = asyncio.get_running_loop()
        p = UpstreamPool("a", Upstream(url="http://x", allow_plaintext=True), loop)
        seen = []
        for head in (
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nConnection: Close\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nConnection: x-secret\r\nConnection: keep-alive\r\nx-secret: 1\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
        ):
            c = UpstreamConnection(p)
            c.connection_made(_Transport())  # type: ignore[arg-type]
            c.send(_User(), b"GET / HTTP/1.1\r\n\r\n", False)  # type: ignore[arg-type]
            c.data_received(head)
            seen.append(c.resp_conn)
        assert seen == [False, False, True, False]

    asyncio.run(t())
