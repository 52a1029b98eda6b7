import asyncio
import ctypes

import pytest

from cpragate.config import load_config_text
from cpragate.server import memory
from cpragate.server.gateway import Gateway

glibc = pytest.mark.skipif(not memory.available(), reason="glibc's mallopt/malloc_trim only")


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (n, ctypes.c_size_t)
        for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")
    ]


def _mallinfo() -> _MallInfo2:
    lib = ctypes.CDLL(None)
    lib.mallinfo2.restype = _MallInfo2
    info: _MallInfo2 = lib.mallinfo2()
    return info


def _mmapped_bytes() -> int:
    return int(_mallinfo().hblkhd)


@glibc
def test_fixed_threshold_keeps_large_blocks_out_of_the_heap() -> None:
    """The soak's heap creep: glibc raises its mmap threshold to the size of a freed mmapped
    block, and later blocks that large are cut from the heap. Once fixed, they are not."""
    assert memory.tune(128 * 1024) is True
    assert memory.stats()["mmap_threshold"] == 128 * 1024
    big = b"\x01" * (4 * 1024 * 1024)  # freed: with the dynamic rule the threshold would now be 4 MiB
    del big
    memory.trim()
    info = _mallinfo()
    before, heap_before = int(info.hblkhd), int(info.arena)
    # A TLS read buffer's size, 64 connections: what free heap space there is gets used
    # (how much depends on what ran before in this process), but the heap is never
    # extended for them: the rest comes from mmap...
    held = [b"\x02" * (256 * 1024) for _ in range(64)]
    info = _mallinfo()
    assert int(info.arena) - heap_before < 1024 * 1024  # the dynamic rule grew it by ~16 MiB
    assert int(info.hblkhd) - before >= 8 * 256 * 1024
    del held
    assert _mmapped_bytes() - before < 256 * 1024  # ...and goes back to the kernel when freed


def test_tune_zero_leaves_the_allocator_alone() -> None:
    assert memory.tune(0) is False


@glibc
def test_trim_counts_and_times_its_calls() -> None:
    n = memory.stats()["trims"]
    garbage = [bytearray(1000) for _ in range(10_000)]
    del garbage
    assert isinstance(memory.trim(), bool)
    s = memory.stats()
    assert s["trims"] == n + 1 and 0 <= s["trim_ms_last"] <= s["trim_ms_max"]


CFG = """
listeners: [{bind: "127.0.0.1:0"}]
upstreams: {o: {url: "http://127.0.0.1:9", allow_plaintext: true}}
routes: [{path: /a, upstream: o, filters: []}]
storage: {url: "memory://"}
limits: {malloc_trim_interval: %s}
"""


@glibc
def test_gateway_tick_trims_at_the_configured_interval() -> None:
    async def t(interval: float) -> tuple[int, float]:
        loop = asyncio.get_running_loop()
        gw = Gateway(load_config_text(CFG % interval), loop)
        before = memory.stats()["trims"]
        gw._next_trim = loop.time() - 1  # due
        gw._tick()
        gw._tick()  # not due again until the interval has passed
        await gw.stop(0)
        return int(memory.stats()["trims"] - before), gw._next_trim - loop.time()

    trims, next_in = asyncio.run(t(60))
    assert trims == 1 and 59 < next_in <= 60
    assert asyncio.run(t(0))[0] == 0  # 0: never


def test_limits_defaults_and_bounds() -> None:
    lim = load_config_text(CFG % 60).limits
    assert lim.malloc_mmap_threshold == 128 * 1024
    with pytest.raises(Exception, match="malloc_mmap_threshold"):
        load_config_text(CFG.replace("malloc_trim_interval: %s", "malloc_mmap_threshold: 99999999999"))
