import asyncio
import ctypes
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture
def gc_threshold() -> Iterator[tuple[int, int, int]]:
    import gc

    saved = gc.get_threshold()
    yield saved
    gc.set_threshold(*saved)


def test_tune_gc_sets_the_young_threshold_and_counts_collections(gc_threshold: tuple[int, int, int]) -> None:
    import gc

    assert memory.tune_gc(12_345) == 12_345
    assert gc.get_threshold() == (12_345, *gc_threshold[1:])  # the older generations keep theirs
    before = memory.stats()
    gc.collect(0)
    gc.collect(2)
    s = memory.stats()
    assert s["gc_young_threshold"] == 12_345
    assert s["gc0_collections"] == before.get("gc0_collections", 0) + 1
    assert s["gc2_collections"] == before.get("gc2_collections", 0) + 1
    assert 0 <= s["gc2_ms"] and s["gc_ms_max"] >= 0
    assert memory.tune_gc(12_345) == 12_345 and gc.callbacks.count(memory._on_gc) == 1  # registered once
    assert memory.tune_gc(0) == memory._GC_DEFAULT  # 0: the interpreter's own (700 in CPython)
    assert gc.get_threshold()[0] == memory._GC_DEFAULT


def test_gateway_applies_the_gc_threshold_at_start_and_reload(tmp_path: Path, gc_threshold: tuple[int, int, int]) -> None:
    import gc

    path = tmp_path / "gw.yaml"
    path.write_text(CFG.replace("malloc_trim_interval: %s", "gc_young_threshold: 4321"))

    async def t() -> tuple[int, int]:
        from cpragate.config import load_config

        gw = Gateway(load_config(str(path)), asyncio.get_running_loop(), config_path=str(path))
        await gw.start()
        try:
            at_start = gc.get_threshold()[0]
            path.write_text(path.read_text().replace("4321", "0"))
            assert gw.reload()
            return at_start, gc.get_threshold()[0]
        finally:
            await gw.stop(0)

    assert asyncio.run(t()) == (4321, memory._GC_DEFAULT)
    assert load_config_text(CFG % 60).limits.gc_young_threshold == 50_000  # the default
    with pytest.raises(Exception, match="gc_young_threshold"):
        load_config_text(CFG.replace("malloc_trim_interval: %s", "gc_young_threshold: -1"))
