"""Open N keep-alive client connections, send one request on each, then hold them idle.

Used by bench/harness.py to measure the proxy's RSS with many idle clients.
Prints one JSON line {"opened": n, "failed": m, "seconds": s} on stdout when all
connections are established (or have failed), then keeps them open until stdin is
closed or --hold seconds pass, whichever comes first. Everything is bounded: at most
--concurrency connects in flight, each with a timeout, and --deadline for the lot.

    python bench/idle_conns.py --target 127.0.0.1:8081 --count 10000 [--tls]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys
import time

REQUEST = b"GET %b HTTP/1.1\r\nHost: %b\r\n%bUser-Agent: cpragate-bench-idle\r\n\r\n"


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def one(
    args: argparse.Namespace, ctx: ssl.SSLContext | None, held: list, sem: asyncio.Semaphore, errors: dict
) -> None:
    host, port = args.target.rsplit(":", 1)
    async with sem:
        try:
            async with asyncio.timeout(args.timeout):
                reader, writer = await asyncio.open_connection(
                    host, int(port), ssl=ctx, server_hostname="localhost" if ctx else None
                )
                writer.write(REQUEST % (args.path.encode(), args.target.encode(), args.headers_blob))
                status = await read_response(reader)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, ssl.SSLError) as exc:
            key = type(exc).__name__
            errors[key] = errors.get(key, 0) + 1
            return
        if status >= 400:
            errors[f"status {status}"] = errors.get(f"status {status}", 0) + 1
        held.append(writer)


async def main_async(args: argparse.Namespace) -> None:
    ctx = None
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    blob = b"".join(h.encode() + b"\r\n" for h in args.header)
    args.headers_blob = blob
    held: list[asyncio.StreamWriter] = []
    errors: dict[str, int] = {}
    sem = asyncio.Semaphore(args.concurrency)
    t0 = time.monotonic()
    tasks = [asyncio.ensure_future(one(args, ctx, held, sem, errors)) for _ in range(args.count)]
    _done, pending = await asyncio.wait(tasks, timeout=args.deadline)
    for t in pending:
        t.cancel()
    print(
        json.dumps(
            {
                "opened": len(held),
                "failed": args.count - len(held),
                "errors": errors,
                "seconds": round(time.monotonic() - t0, 2),
            }
        ),
        flush=True,
    )
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    await asyncio.wait([stdin_closed], timeout=args.hold)
    sys.stdout.flush()
    os._exit(0)  # closes every socket at once; don't wait for the blocked stdin thread


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", required=True, help="host:port")
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--path", default="/v1/customers/42")
    ap.add_argument("--header", action="append", default=[], help="'Name: value'")
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--timeout", type=float, default=10.0, help="per connection")
    ap.add_argument("--deadline", type=float, default=120.0, help="for all connections")
    ap.add_argument("--hold", type=float, default=120.0, help="max seconds to hold them")
    args = ap.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(main_async(args))
    else:
        uvloop.run(main_async(args))


if __name__ == "__main__":
    main()
