"""The C allocator under a long-running gateway: keep its heap from creeping (glibc only).

Why (bench/SOAK_RESULTS.md, issue 9 §5): under the soak's mixed traffic the gateway's
live memory is flat — gc objects, Python's allocated blocks and ``malloc``'s bytes in use
stay level for the whole run — yet its heap RSS climbed ~20 % in ten minutes. The growth
was free memory inside glibc's main heap (``mallinfo2``: ~23 MiB in use beside up to
~60 MiB free in an 80 MiB heap). The cause is glibc's *dynamic* mmap threshold: the first
large block released from ``mmap`` raises the threshold to its size, so from then on
every TLS connection's 256 KiB buffer (uvloop's ``SSLProtocol``, one per connection) and,
for the upstream side's plain ``Protocol``, every ``SSLObject.read(256 KiB)`` (shrunk in
place to the bytes actually read) is cut from the brk heap. Small long-lived objects land between those big transient blocks; the heap
grows around the holes, and the holes' pages stay resident as later allocations touch
them. Nothing is leaked, but RSS ratchets towards the largest heap the process ever had.

What we do, in each worker:

* :func:`tune` fixes ``M_MMAP_THRESHOLD`` (default 128 KiB, glibc's initial value; setting
  it turns the dynamic adjustment off): blocks that large always come from ``mmap`` and
  go back to the kernel when freed, so they never extend the heap (free heap space is
  still used first). Cost measured with a TLS MemoryBIO pair, ``SSLObject.read(256 KiB)``
  of 1 KiB records: no measurable CPU difference (~16 µs per write+read either way; three
  cheap syscalls on untouched pages instead of heap bookkeeping).
* :func:`trim` (``malloc_trim(0)``) every ``limits.malloc_trim_interval`` seconds (10 by
  default) from the gateway's tick: free pages inside the heaps are handed back
  (``MADV_DONTNEED``), so RSS follows live memory instead of the high-water mark. Small
  blocks (under the threshold) still leave free pages between live ones; without a trim
  their RSS saw-tooths by ~5 MiB a minute under the soak. One call takes ~1 ms on the
  soak's ~30 MiB heap (7 ms at worst on the busy shared machine); ``stats()`` keeps the
  count, the last and the slowest.

Elsewhere (musl, macOS) both are no-ops that return False.

And Python's cyclic garbage collector (any platform): :func:`tune_gc` sets the threshold
of its youngest generation (``limits.gc_young_threshold``, 50,000). CPython's default,
700 net container allocations, is crossed every ~30 requests under the demo policy at
32 concurrent clients just by the containers of the requests in flight, each collection
walking them all, and the survivors it promotes trigger full collections of the whole
heap (~400k objects, 40-60 ms each, several per 10 s): ~17 µs of collection per request
and the p99's longest stalls (bench/RESULTS.md, session 9). 10,000 (sessions 9-11) was
still crossed every few hundred requests by the records handed to the audit writer (~44
containers a request, freed by the writer's next batch, every 50 ms): 15-22k of them wait
at 7-10k requests a second, and each collection walked them all (live, demo policy, wrk
-c32: 59 collections in ~57k requests, 1.8 µs a request, pauses up to 4 ms; at 50,000
none; bench/RESULTS.md, session 12). A served request leaves no cyclic garbage (its
objects are freed by reference counting when it ends), and since session 12 neither does
a closed connection (``ClientConnection.connection_lost`` breaks the parser's and uvloop's
TLS cycles, which had held ~200 KB a TLS connection: at 50,000 the soak's RssAnon had
swung 79 -> 234 MB, and stays at ~50 MB now). A failed upstream connect leaves its
exception's traceback cycle (~28 objects), which waits longer for a collection: a few MB
at most. ``stats()`` counts the collections per generation, their time and the longest.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import time
from typing import Any

__all__ = ["M_MMAP_THRESHOLD", "available", "stats", "trim", "tune", "tune_gc"]

log = logging.getLogger("cpragate.memory")

M_MMAP_THRESHOLD = -3
"""glibc's mallopt parameter number for the mmap threshold (malloc.h)."""

_libc: Any = None
_looked = False
_stats: dict[str, float] = {"trims": 0, "trim_ms_last": 0.0, "trim_ms_max": 0.0, "mmap_threshold": 0}
_GC_DEFAULT = gc.get_threshold()[0]
"""The interpreter's own young-generation threshold (``tune_gc(0)`` puts it back)."""
_gc_stats: dict[str, float] = {"gc_young_threshold": _GC_DEFAULT}
_gc_started = 0.0


def _glibc() -> Any:
    """The C library when it has glibc's ``mallopt`` and ``malloc_trim``; else None."""
    global _libc, _looked
    if not _looked:
        _looked = True
        try:
            lib = ctypes.CDLL(None)
            if hasattr(lib, "mallopt") and hasattr(lib, "malloc_trim") and hasattr(lib, "gnu_get_libc_version"):
                lib.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
                lib.mallopt.restype = ctypes.c_int
                lib.malloc_trim.argtypes = [ctypes.c_size_t]
                lib.malloc_trim.restype = ctypes.c_int
                _libc = lib
        except OSError:  # pragma: no cover - no C library to load
            _libc = None
    return _libc


def available() -> bool:
    """True where the allocator can be tuned and trimmed (glibc)."""
    return _glibc() is not None


def tune(mmap_threshold: int) -> bool:
    """Fix glibc's mmap threshold at ``mmap_threshold`` bytes (0: leave glibc's dynamic
    default alone). True when applied."""
    lib = _glibc()
    if lib is None or mmap_threshold <= 0:
        return False
    ok = bool(lib.mallopt(M_MMAP_THRESHOLD, int(mmap_threshold)))
    if ok:
        _stats["mmap_threshold"] = mmap_threshold
    else:  # pragma: no cover - glibc refuses only values above its maximum (32 MiB)
        log.warning("mallopt(M_MMAP_THRESHOLD, %d) refused; the allocator keeps its dynamic threshold", mmap_threshold)
    return ok


def trim() -> bool:
    """Give free heap pages back to the kernel (``malloc_trim(0)``); True if any were."""
    lib = _glibc()
    if lib is None:
        return False
    t0 = time.perf_counter()
    released = bool(lib.malloc_trim(0))
    ms = (time.perf_counter() - t0) * 1000.0
    _stats["trims"] += 1
    _stats["trim_ms_last"] = ms
    if ms > _stats["trim_ms_max"]:
        _stats["trim_ms_max"] = ms
    return released


def tune_gc(young: int) -> int:
    """Set the cyclic collector's young-generation threshold (0: the interpreter's
    default); the older generations keep theirs. Returns the threshold now in force."""
    t = young if young > 0 else _GC_DEFAULT
    _, t1, t2 = gc.get_threshold()
    gc.set_threshold(t, t1, t2)
    _gc_stats["gc_young_threshold"] = t
    if _on_gc not in gc.callbacks:
        gc.callbacks.append(_on_gc)
    return t


def _on_gc(phase: str, info: dict[str, int]) -> None:
    """Counts the collections per generation, their time and the longest (``stats()``)."""
    global _gc_started
    if phase == "start":
        _gc_started = time.perf_counter()
        return
    ms = (time.perf_counter() - _gc_started) * 1000.0
    g = info.get("generation", 0)
    st = _gc_stats
    st[f"gc{g}_collections"] = st.get(f"gc{g}_collections", 0) + 1
    st[f"gc{g}_ms"] = st.get(f"gc{g}_ms", 0.0) + ms
    if ms > st.get("gc_ms_max", 0.0):
        st["gc_ms_max"] = ms


def stats() -> dict[str, float]:
    """Trims so far, the last and the slowest (ms), the mmap threshold set (0: none); the
    collector's young threshold and, once :func:`tune_gc` ran, its collections per
    generation (``gc<N>_collections``), their total ms (``gc<N>_ms``) and the longest
    (``gc_ms_max``)."""
    return {**_stats, **_gc_stats}
