"""The compiled data plane: mypyc builds of the per-request modules, used only while current.

Why: at 1 KB the gateway's own Python work per request (parse callbacks, canonical path,
routing, the Exchange, the upstream head, the response head) dominates its CPU. The same
source compiled with mypyc runs the passthrough path in 80k instead of 135k instructions
per request (bench/instr.py, callgrind: 1.69x fewer), with no change of behaviour: mypyc
compiles the type-checked code we already have.

How, without ever running stale code:

* ``scripts/build_accel.py`` (run by ``make install`` / ``make demo`` / ``make test``
  through scripts/lib.sh) compiles each group of :data:`GROUPS` into ``build/accel/<group>/``
  beside ``src/``
  (never into ``src/``, where an extension module would shadow the ``.py`` a developer
  edits), and writes ``manifest.json``: the SHA-256 of every compiled module's source.
* :func:`install` (called when ``cpragate`` is imported) puts a finder in front of the
  import system, per group, only if every source of the group still has the hash it was
  compiled from and the build is for this interpreter. One edited file and its whole group
  is left alone (the modules of a group call each other natively, so a group is
  all-or-nothing): the gateway runs that group's pure-Python source and says so at start.
* ``CPRAGATE_PURE=1`` turns it off; ``CPRAGATE_ACCEL_DIR`` points at another build.

A group may also hold C extension modules (:data:`NATIVE`: module name -> its C sources),
built with the group and hashed over all their sources: ``cpragate.server._h1``, llhttp
with one Python call per message head (``server/h1parse.py`` is its pure-Python twin), and
``cpragate.pii._cscan``, the PII engine's native scanner (group ``pii_native``; the engine's
Python is its twin), and ``cpragate.audit._cevents``, the audit writer's event rows (group
``audit``; ``events._build_rows_py`` is its twin).
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["GROUPS", "MODULES", "active", "install", "plan", "status"]

GROUPS: dict[str, tuple[str, ...]] = {
    "dataplane": (
        "cpragate.core.messages",
        "cpragate.core.normalize",
        "cpragate.core.router",
        "cpragate.core.exchange",
        "cpragate.core.ids",
        "cpragate.core.pipeline",
        "cpragate.core.route",
        "cpragate.server.wire",
        "cpragate.server.eager",
        "cpragate.server.upstream",
        "cpragate.server.http1",
        "cpragate.server.gateway",
        "cpragate.server.accesslog",  # the access log's batched lines (one per request when on)
        "cpragate.server._h1",
        # the default filters' per-request work (every route that keeps them runs it)
        "cpragate.filters.security_headers.fastpath",
        "cpragate.filters.cors.fastpath",
        # The identity filters' synchronous fast paths (authn, authz, ratelimit): their
        # per-request state in native classes (bench/AUTH_RESULTS.md, round 4). In this group
        # since session 5: from another group each Exchange/Headers attribute read was a
        # Python attribute lookup (~150 instructions) and each method call 250-400.
        "cpragate.core.access",  # Identity, Consumer, RateLimitState: native attribute reads
        "cpragate.filters.authn.fastpath",
        "cpragate.filters.authz.fastpath",
        "cpragate.filters.ratelimit.local",
        "cpragate.filters.ratelimit.fastpath",
        "cpragate.storage.redis_resp",  # the Redis client of the rate limiter's request path
        # The audit filter's records and the spool they are copied into (two per request).
        "cpragate.filters.audit.fastpath",
        "cpragate.storage.audit_spool",
        # The policy filters' per-request helpers (session 6, issue 9 §4): the parsed-body
        # cache every body-reading filter goes through, and the BOLA matcher's pointer walk.
        "cpragate.core.jsonbody",
        "cpragate.filters.authz.rules",
        "cpragate.filters.validation.report",  # built on every spec-bound exchange
        "cpragate.filters.validation.fastpath",
        "cpragate.filters.minimize.fastpath",
        # The schema walks behind conformance's removal of undeclared properties and the
        # request checks (mass assignment, readOnly): the demo API's own answer leaks two
        # undeclared fields, so every demo response takes this path (session 11).
        "cpragate.openapi.pointer",
        "cpragate.openapi.properties",
        # The complete phase's observers (issue 9): the anomaly detectors and their
        # baselines, the budgets' request gate, the metrics observer and its collectors, the
        # inventory's record. In this group because they read a dozen Exchange, Response
        # and RouteInfo attributes per exchange each (~160 instructions apiece from another
        # group, bench/ANOMALY_RESULTS.md).
        "cpragate.filters.anomaly.baseline",
        "cpragate.filters.anomaly.detectors",
        "cpragate.filters.anomaly.budgets",
        "cpragate.admin.metrics",
        "cpragate.filters.metrics.fastpath",
        "cpragate.filters.inventory.model",
        "cpragate.filters.inventory.fastpath",
    ),
    # The PII engine's hot modules: 1.34-1.67x on the same findings (bench/pii_mypyc.py).
    "pii": (
        "cpragate.pii.engine",
        "cpragate.pii.textscan",
        "cpragate.pii.recognizers",
        "cpragate.pii.validators",
        "cpragate.pii.operators",
        "cpragate.pii.fieldnames",
        # The pii filter's per-response work around the engine (its Filter class stays Python).
        "cpragate.filters.pii.fastpath",
    ),
    # Hand-written C: the PII engine's walk, prefilter and bookkeeping loops
    # (src/cpragate/pii/_cscan.c; docs/pii.md "Native scanner"). A group of its own, so
    # it builds in seconds and never holds the mypyc group back; without it the engine
    # runs the Python it replaces, with identical results.
    "pii_native": ("cpragate.pii._cscan",),
    # The audit writer's per-event work (one event per request, on its own thread): spool
    # records -> the canonical event body (bench/AUDIT_RESULTS.md, session 6); the rows'
    # bodies, chain hashes and rows in C (audit/_cevents.c, session 12; events.py's
    # _build_rows_py is its twin).
    "audit": ("cpragate.audit.events", "cpragate.audit._cevents"),
}
"""Modules compiled together (one mypyc group each), by group name."""

MODULES: tuple[str, ...] = GROUPS["dataplane"]

_LLHTTP = ("_vendor/llhttp/llhttp.h", "_vendor/llhttp/api.c", "_vendor/llhttp/http.c", "_vendor/llhttp/llhttp.c")
NATIVE: dict[str, tuple[str, ...]] = {
    "cpragate.server._h1": ("server/_h1.c", *_LLHTTP),
    "cpragate.pii._cscan": ("pii/_cscan.c",),
    "cpragate.audit._cevents": ("audit/_cevents.c",),
}
"""C extension modules of the groups: name -> sources (relative to the package); the first is the module's."""

_state: dict[str, Any] = {"active": {}, "reasons": {}}


def _tag() -> str:
    return f"{sys.implementation.cache_tag}-{sys.platform}"


_CFLAGS: list[tuple[str, ...]] = []


def native_cflags(cpuinfo: str | None = None) -> tuple[str, ...]:
    """Extra C flags for the :data:`NATIVE` modules on this CPU, recorded in the manifest.

    ``-msse4.2`` on an x86-64 CPU that has SSE4.2: llhttp then scans header values, header
    names and the URL 16 bytes at a time (``_mm_cmpestri``; llparse generates that code
    under ``__SSE4_2__``) instead of byte by byte, ~2.5k fewer instructions for a 560-byte
    bearer token (bench/AUTH_RESULTS.md, round 6). A build made with it is used only where
    the flags come out the same, so a build copied to a CPU without SSE4.2 is refused, not run.
    """
    if cpuinfo is None and _CFLAGS:
        return _CFLAGS[0]
    flags: tuple[str, ...] = ()
    if cpuinfo is None:
        import platform

        if sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64"):
            try:
                cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
            except OSError:
                cpuinfo = ""
        else:
            cpuinfo = ""
        memo = True
    else:
        memo = False
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            if "sse4_2" in line.partition(":")[2].split():
                flags = ("-msse4.2",)
            break
    if memo:
        _CFLAGS.append(flags)
    return flags


def source_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def module_sources(package_root: Path, name: str) -> list[Path]:
    """The files a compiled module is built from: its ``.py``, or a C module's sources."""
    native = NATIVE.get(name)
    if native is not None:
        return [package_root / rel for rel in native]
    return [package_root.parent / (name.replace(".", "/") + ".py")]


def module_hash(package_root: Path, name: str) -> str:
    """SHA-256 of a module's source (of all its sources, in order, for a C module)."""
    paths = module_sources(package_root, name)
    if len(paths) == 1:
        return source_hash(paths[0])
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()


def default_dir(package_root: Path) -> Path:
    """``build/accel`` of the checkout this package runs from (src layout)."""
    env = os.environ.get("CPRAGATE_ACCEL_DIR")
    return Path(env) if env else package_root.parent.parent / "build" / "accel"


def plan(
    accel_dir: Path, package_root: Path, modules: tuple[str, ...] = MODULES
) -> tuple[dict[str, Path] | None, str]:
    """Module name -> extension file when the build in ``accel_dir`` is current, with why not otherwise."""
    try:
        manifest = json.loads((accel_dir / "manifest.json").read_text())
    except FileNotFoundError:
        return None, "not built (make install compiles it)"
    except (OSError, ValueError):
        return None, "manifest unreadable (make install rebuilds it)"
    if manifest.get("tag") != _tag():
        return None, f"built for {manifest.get('tag')}, this is {_tag()} (make install rebuilds it)"
    if manifest.get("pgo") == "generate" and os.environ.get("CPRAGATE_PGO_TRAINING") != "1":
        # scripts/build_accel.py's training build (it writes profile data at every exit and runs
        # slower than either final build): loaded only by that script's training runs
        return None, "an instrumented build, for training only (make install rebuilds it)"
    mods = manifest.get("modules") or {}
    if any(m in NATIVE for m in modules) and list(manifest.get("cflags", [])) != list(native_cflags()):
        return None, (
            f"C modules built with flags {manifest.get('cflags', [])}, this CPU takes {list(native_cflags())}"
            " (make install rebuilds them)"
        )
    if set(mods) != set(modules):
        return None, "built from another module list (make install rebuilds it)"
    files: dict[str, Path] = {}
    for name, entry in mods.items():
        src = module_sources(package_root, name)[0]
        try:
            if module_hash(package_root, name) != entry["sha256"]:
                return None, f"stale: {src.name} changed since the build (make install rebuilds it)"
        except OSError:
            return None, f"source missing: {src}"
        ext = accel_dir / entry["file"]
        if not ext.is_file():
            return None, f"extension missing: {ext.name} (make install rebuilds it)"
        files[name] = ext
    for name, rel in (manifest.get("support") or {}).items():
        ext = accel_dir / rel
        if not ext.is_file():
            return None, f"extension missing: {ext.name} (make install rebuilds it)"
        files[name] = ext
    return files, "compiled (mypyc)"


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        ext = self.files.get(fullname)
        if ext is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(ext))
        return importlib.util.spec_from_file_location(fullname, ext, loader=loader)


def install(package_root: Path | None = None) -> bool:
    """Route imports of each current group's modules to its compiled build; True if any is used."""
    if os.environ.get("CPRAGATE_PURE"):
        for g in GROUPS:
            _state["reasons"][g] = "off (CPRAGATE_PURE is set)"
        return False
    root = package_root or Path(__file__).resolve().parent
    base = default_dir(root)
    for group, modules in GROUPS.items():
        if group in _state["active"]:
            continue
        files, why = plan(base / group, root, modules)
        _state["reasons"][group] = why
        if files is None:
            continue
        if any(name in sys.modules for name in modules):
            _state["reasons"][group] = "not used: pure modules were imported first"
            continue
        sys.meta_path.insert(0, _Finder(files))
        _state["active"][group] = True
    return bool(_state["active"])


def active(group: str = "dataplane") -> bool:
    return bool(_state["active"].get(group))


def status() -> str:
    """One line for logs and ``cpragate version``: which groups run compiled, and why not the others."""
    parts = []
    for g in GROUPS:
        if _state["active"].get(g):
            parts.append(f"{g} compiled ({'C' if all(m in NATIVE for m in GROUPS[g]) else 'mypyc'})")
        else:
            parts.append(f"{g} pure Python — {_state['reasons'].get(g, 'not checked')}")
    return "; ".join(parts)
