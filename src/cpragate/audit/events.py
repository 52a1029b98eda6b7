"""The audit event schema (version 1) and how spool records become events.

Spool records are positional JSON arrays (compact and cheap to build on the hot path);
events are JSON objects serialized canonically (sorted keys, orjson) — those exact bytes
are what the hash chain covers and what the sink stores.

Record layouts (index: meaning):

* begin ``["b", t, rid, method, template, route_name, params, subjects, consumer, auth,
  purpose, client_ip, personal]`` — written before the request is forwarded.
* completion ``["c", bkey, t_end, status, outcome, error, decisions, annotations, subjects,
  bytes_in, bytes_out, latency_ms]`` — ``bkey`` is the begin's spool position.
* single event ``["e", <begin fields 1..>, <completion fields 2..>]`` — an exchange
  refused before the audit filter's request phase ran (nothing was forwarded).

``params`` are ``[name, lookup]`` pairs and ``subjects`` are lookups: keyed HMACs of the
values (:func:`lookup`), never the values. The writer replaces a subject lookup by the
subject's pseudonym (:func:`pseudonym`, an HMAC with the subject's own random key) so
destroying that key unlinks every event of the subject (crypto-shredding).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import chain
from typing import Any, Final, cast

import orjson

from cpragate.core.keyed import hmac_sha256

__all__ = [
    "GENESIS",
    "SCHEMA_VERSION",
    "build_event",
    "build_rows",
    "canonical",
    "decision_of",
    "iso",
    "lookup",
    "missing_subjects",
    "pair_records",
    "param_token",
    "pseudonym",
    "sqlite_params",
    "subject_params",
]

SCHEMA_VERSION = 1
GENESIS = "0" * 64
"""The ``prev`` hash of an instance's first event."""

_MAX_LIST = 64  # decisions, subjects, params kept per event (bounded records)


def lookup(master_key: bytes, value: str) -> str:
    """The keyed lookup of a value (HMAC-SHA256 with the master key, 128 bits, hex)."""
    return hmac_sha256(master_key, value.encode("utf-8", "surrogatepass")).hex()[:32]


_sha256: Final = hashlib.sha256
_IPAD: Final = bytes([x ^ 0x36 for x in range(256)])
_OPAD: Final = bytes([x ^ 0x5C for x in range(256)])


def pseudonym(subject_key: bytes, subject_lookup: str) -> str:
    """A subject's pseudonym: HMAC-SHA256 of its lookup with the subject's own key (96 bits).

    The HMAC is computed from two SHA-256 (RFC 2104; the same bytes as ``hmac.digest``):
    ``hmac.digest`` fetches the algorithm and builds a MAC context per call with OpenSSL 3
    (~17k instructions beyond the hashing) and releases the GIL; the writer computes one per
    new subject key (tests/cpragate/audit/test_events.py compares both)."""
    msg = subject_lookup.encode("ascii")
    if len(subject_key) > 64:  # HMAC hashes such a key first: not the writer's 32-byte keys
        return "s_" + hmac.digest(subject_key, msg, "sha256").hex()[:24]
    k = subject_key.ljust(64, b"\x00")
    inner = _sha256(k.translate(_IPAD) + msg).digest()
    return "s_" + _sha256(k.translate(_OPAD) + inner).hexdigest()[:24]


def canonical(event: dict[str, Any]) -> bytes:
    """The exact bytes hashed and stored: JSON with sorted keys."""
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS)


class _IsoSecond:
    """The last second :func:`iso` formatted (native attributes, not module globals)."""

    def __init__(self) -> None:
        self.sec = -1
        self.prefix = ""


_ISO: Final = _IsoSecond()
_MS: Final = tuple([f"{i:03d}Z" for i in range(1000)])


def iso(t: float) -> str:
    """``2026-01-01T00:00:00.123Z`` (UTC, milliseconds)."""
    sec = int(t)
    ms = int((t - sec) * 1000)
    last = _ISO
    if sec != last.sec:  # consecutive events share their second: format it once
        last.prefix = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        last.sec = sec
    if 0 <= ms < 1000:
        return last.prefix + _MS[ms]
    return f"{last.prefix}{ms:03d}Z"


def decision_of(outcome: str, decisions: list[list[str]]) -> tuple[str, str]:
    """(``allow`` | ``deny`` | ``error``, the rule that decided) from the recorded decisions."""
    # Indexed, not unpacked: compiled, unpacking a list makes an iterator per decision.
    for d in decisions:
        if len(d) != 3:
            _f, _o, _r = d  # a decision not of three: the ValueError unpacking always raised
        if d[1] == "deny":
            f, r = d[0], d[2]
            return ("error" if outcome == "error" else "deny"), f"{f}:{r}" if r else f
    for d in decisions:
        if d[1] == "error":
            f, r = d[0], d[2]
            return "error", f"{f}:{r}" if r else f
    if outcome in ("denied", "error"):
        return ("deny" if outcome == "denied" else "error"), ""
    return "allow", ""


def _str(v: object) -> str | None:
    return v if isinstance(v, str) else None


_NO_BEGIN: Final[list[Any]] = [None] * 13  # read only; a list, so indexing it is native
_EMPTY: tuple[()] = ()


def param_token(lk: str) -> str:
    """The token shown in ``path`` for a path parameter that names no subject."""
    return "~" + lk[:16]


def build_event(
    begin: list[Any] | None,
    completion: list[Any] | None,
    *,
    resolve: Callable[[str], str],
    param_token: Callable[[str], str],
    instance: str | None = None,
    seq: int | None = None,
) -> dict[str, Any]:
    """One event body from its records; ``instance`` and ``seq`` are included when given.

    The keys are inserted in sorted order (top level), so a serializer that keeps
    insertion order writes the canonical top level without sorting; nested objects
    (``pii``, ``checks``) still need :func:`canonical`'s sort.

    ``begin`` is a begin record or the begin part of a single event (both with the kind
    at index 0); ``completion`` a completion record (kind at 0, bkey at 1), or None for an
    exchange interrupted by a crash. ``resolve`` maps a subject lookup to its pseudonym,
    ``param_token`` a non-subject path parameter lookup to the token shown in ``path``.
    """
    b = begin or _NO_BEGIN
    subj_lookups = _subject_lookups(b, completion)
    pseud = {s: resolve(s) for s in subj_lookups}
    return _event(b, completion, subj_lookups, pseud, param_token, instance, seq)


def _subject_lookups(b: list[Any], c: list[Any] | None) -> list[str]:
    """The event's subject lookups: the begin's, then the completion's new ones (bounded).

    The common case (the begin's list of str, within the bound, no new ones in the
    completion) is that list itself, not a copy: records are never changed, and what is
    returned is only read."""
    bs: Any = b[7]
    if type(bs) is list and (c is None or not c[8]):
        own: list[Any] = bs
        n = len(own)
        if n <= _MAX_LIST:
            i = 0
            while i < n and isinstance(own[i], str):
                i += 1
            if i == n:
                return own
    subj_lookups: list[str] = [s for s in (b[7] or _EMPTY) if isinstance(s, str)]
    if c is not None and c[8]:
        subj_lookups += [s for s in c[8] if isinstance(s, str) and s not in subj_lookups]
    if len(subj_lookups) > _MAX_LIST:
        subj_lookups = subj_lookups[:_MAX_LIST]
    return subj_lookups


def _fields(
    b: list[Any], c: list[Any] | None, pseud: dict[str, str], token: Callable[[str], str] | None
) -> tuple[
    str | None, str | None, float, str, Any, str | None, list[Any], Any, dict[str, Any] | None, Any, Any, Any, str, str
]:
    """An event's fields derived from its records, for :func:`_event` (the dict) and
    :func:`build_rows` (the body written directly): (route template, path with its
    parameters tokenized, time, outcome, status, error, decisions, pii, checks, bytes in,
    bytes out, latency, decision, rule). Compiled, the tuple is returned as a C struct."""
    template = b[4] if isinstance(b[4], str) else None
    path = template
    if template is not None:
        ps: Any = b[6]
        if type(ps) is list and len(ps) <= _MAX_LIST:
            # A list within the bound is walked as it is, by index: no slice, no iterator
            # (each a container allocated per event, and counted towards the cyclic GC)
            own: list[Any] = ps
            for i in range(len(own)):
                path = _param_path(path, own[i], pseud, token)
        else:
            for pair in (ps or _EMPTY)[:_MAX_LIST]:
                path = _param_path(path, pair, pseud, token)
    bt = b[1]
    # isinstance(x, int) or isinstance(x, float), not `int | float`: compiled, that builds a union per call
    if isinstance(bt, int) or isinstance(bt, float):
        t = float(bt)
    elif c is not None and (isinstance(c[2], int) or isinstance(c[2], float)):
        t = float(c[2])
    else:
        t = 0.0
    if c is None:
        return template, path, t, "interrupted", None, None, [], None, None, None, None, None, "allow", ""
    outcome = c[4] if isinstance(c[4], str) and c[4] else "unknown"
    status = c[3] if isinstance(c[3], int) else None
    error = c[5] if isinstance(c[5], str) else None
    decisions = _decisions(c[6])
    ann = c[7]
    pii: Any = None
    checks: dict[str, Any] | None = None
    if isinstance(ann, dict):
        pii = ann.get("pii")
        if len(ann) > ("pii" in ann):
            checks = {k: v for k, v in ann.items() if k != "pii"} or None
    if outcome == "interrupted":
        decision, rule = "allow", ""
    else:
        decision, rule = decision_of(outcome, decisions)
    return template, path, t, outcome, status, error, decisions, pii, checks, c[9], c[10], c[11], decision, rule


def _param_path(path: str | None, pair: Any, pseud: dict[str, str], token: Callable[[str], str] | None) -> str | None:
    """``path`` with one ``[name, lookup]`` parameter filled in (its subject's pseudonym,
    else its token)."""
    name, lk = pair[0], pair[1]
    tok = pseud.get(lk) or (param_token(lk) if token is None else token(lk))
    if path:
        return _with_param(path, name, tok) if type(name) is str else path.replace("{" + str(name) + "}", tok)
    return path


def _proper(d: Any) -> bool:
    """A decision as recorded: a list of three str."""
    return type(d) is list and len(d) == 3 and type(d[0]) is str and type(d[1]) is str and type(d[2]) is str


def _decisions(ds: Any) -> list[Any]:
    """An event's decisions from a completion's (bounded; each a list of three str).

    A decision as recorded (three str) is used as it is: records are never changed (and
    one handed over by the event loop is not copied again: fewer objects per event). When
    every one is, and they are within the bound, the record's list itself is the result
    (only read: :func:`_event` copies it into its dict)."""
    if type(ds) is list:
        own: list[Any] = ds
        n = len(own)
        if n <= _MAX_LIST:
            i = 0
            while i < n and _proper(own[i]):
                i += 1
            if i == n:
                return own
    decisions: list[Any] = []
    for d in (ds or _EMPTY)[:_MAX_LIST]:
        if _proper(d):
            decisions.append(d)
        else:
            decisions.append([x if type(x) is str else str(x) for x in d[:3]])
    return decisions


def _event(
    b: list[Any],
    c: list[Any] | None,
    subj_lookups: list[str],
    pseud: dict[str, str],
    token: Callable[[str], str] | None,
    instance: str | None,
    seq: int | None,
) -> dict[str, Any]:
    """:func:`build_event` once the subjects are resolved (``pseud``: lookup -> pseudonym);
    ``token`` None: :func:`param_token`. The fields come from :func:`_fields`, as for
    :func:`build_rows`; the dict is made at its final size."""
    (template, path, t, outcome, status, error, decisions, pii, checks, bytes_in, bytes_out, latency, decision,
     rule) = _fields(b, c, pseud, token)  # fmt: skip
    s2, s3, s5, s8, s9, s10, s11 = b[2], b[3], b[5], b[8], b[9], b[10], b[11]
    # One display, so the dict is made at its final size (one key at a time, it was resized
    # twice); keys in sorted order (see build_event's docstring). Deleting a key keeps the
    # order of the others.
    ev: dict[str, Any] = {
        "auth": s9 if isinstance(s9, str) else None,
        "bytes_in": bytes_in,
        "bytes_out": bytes_out,
        "checks": checks,
        "client_ip": s11 if isinstance(s11, str) else None,
        "consumer": s8 if isinstance(s8, str) else None,
        "decision": decision,
        "decisions": list(decisions),  # the record's own list, possibly: the dict gets its own
        "error": error,
        "id": s2 if isinstance(s2, str) else None,
        "instance": instance,
        "latency_ms": latency,
        "method": s3 if isinstance(s3, str) else None,
        "outcome": outcome,
        "path": path,
        "personal": bool(b[12]),
        "pii": pii,
        "purpose": s10 if isinstance(s10, str) else None,
        "route": template,
        "route_name": s5 if isinstance(s5, str) else None,
        "rule": rule,
        "seq": seq,
        "status": status,
        "subjects": [pseud[s] for s in subj_lookups],
        "t": round(t, 3),
        "ts": iso(t),
        "v": SCHEMA_VERSION,
    }
    if instance is None:
        del ev["instance"]
    if seq is None:
        del ev["seq"]
    return ev


# --- the writer thread's per-batch loops (storage/audit_writer.py), compiled with the rest -----

_loads: Final = orjson.loads
_dumps: Final = orjson.dumps
_SORT: Final = orjson.OPT_SORT_KEYS
_Fragment: Final = orjson.Fragment
_tuple_new: Final[Callable[[Any, tuple[Any, ...]], Any]] = tuple.__new__
_flat: Final = chain.from_iterable
_Todo = list[tuple[int, Any, Any]]


def pair_records(
    recs: list[Any],
    pending: dict[int, list[Any]],
    shipped: set[int],
    todo: _Todo,
    unreadable: list[int],
    orphans: list[int],
) -> None:
    """Parse spool records ``(pos, data)`` in order and pair them: a begin waits in
    ``pending`` (by position); a completion takes its begin from there and goes to ``todo``
    as ``(bkey, begin, completion)``, as does a single event ``(bkey, begin part,
    completion part)``. ``bkey`` is the spool position of the record that completes the
    event; records whose key is in ``shipped`` (stored by an earlier run: replay) only
    release their begin. Positions of unreadable records and of completions without a
    begin are appended to ``unreadable`` / ``orphans`` for the caller to log.

    A record's data is its bytes (parsed here) or, for a record handed over in-process
    (storage/audit_spool.py, ``Spool.read`` with ``take``), the record itself: what its bytes
    parse to."""
    for r in recs:
        t: tuple[Any, ...] = r  # (pos, data) or a hand-over entry (pos, record, length)
        pos: int = t[0]
        rec: Any = t[1]
        try:
            if type(rec) is not list:
                rec = _loads(rec)
            kind = rec[0]
        except (orjson.JSONDecodeError, IndexError, TypeError, KeyError):
            unreadable.append(pos)
            continue
        if type(kind) is not str:  # no kind: ignored, as any other kind (loads gives no str subclass)
            continue
        k: str = kind  # compared natively (an Any compared with "b" is a rich compare)
        if k == "b":
            if pos not in shipped:  # else: stored as interrupted by an earlier run
                pending[pos] = rec
        elif k == "c":
            bk = rec[1]
            b = pending.get(bk) if isinstance(bk, int) else None
            if b is not None:  # a lookup and a delete: compiled, pop() with a default is a method call
                del pending[bk]
            if pos not in shipped:
                if b is None:
                    orphans.append(pos)
                todo.append((pos, b, rec))
        elif k == "e":
            if pos not in shipped:
                todo.append((pos, rec[1], rec[2]))


def missing_subjects(todo: _Todo, cache: dict[str, tuple[str, float]], now: float, ttl: float) -> set[str]:
    """The subject lookups of ``todo`` whose pseudonym is not in ``cache`` (lookup ->
    (pseudonym, loaded at)) or older than ``ttl``."""
    need: set[str] = set()
    for _, b, c in todo:
        if b:
            _add_missing(b[7], cache, now, ttl, need)  # a begin's subject lookups
        if c:
            _add_missing(c[8], cache, now, ttl, need)  # a completion's
    return need


def _add_missing(lookups: Any, cache: dict[str, tuple[str, float]], now: float, ttl: float, need: set[str]) -> None:
    if not lookups:  # a completion's usual None: no iterator over an empty tuple
        return
    if type(lookups) is list:  # by index: no iterator per record
        own: list[Any] = lookups
        for i in range(len(own)):
            _add_one(own[i], cache, now, ttl, need)
    else:
        for lk in lookups:
            _add_one(lk, cache, now, ttl, need)


def _add_one(lk: Any, cache: dict[str, tuple[str, float]], now: float, ttl: float, need: set[str]) -> None:
    if isinstance(lk, str):
        hit = cache.get(lk)
        if hit is None or now - hit[1] > ttl:
            need.add(lk)


_JSON_CACHE_MAX: Final = 4096


class _JsonStrs:
    """The JSON of strings that repeat from event to event (consumer, route, method, rule...),
    each made once by orjson: the writer's body builder reuses the bytes instead of making
    and serializing a dict per event. Bounded (emptied when full)."""

    def __init__(self) -> None:
        self.cache: dict[str, bytes] = {}
        self.decisions: dict[tuple[str, str, str], bytes] = {}
        """The JSON of whole decisions (filter, outcome, rule): the same few repeat."""
        self.paths: dict[tuple[str, str, str], str] = {}
        """Paths with a parameter filled in (see :func:`_with_param`)."""


_STRS: Final = _JsonStrs()


def _keep(cache: dict[Any, Any], key: Any, value: Any) -> None:
    """Remember ``value`` in one of :data:`_STRS`'s caches, emptied when full (a miss only)."""
    if len(cache) >= _JSON_CACHE_MAX:
        cache.clear()
    cache[key] = value


def _with_param(path: str, name: str, tok: str) -> str:
    """``path`` with ``{name}`` replaced by ``tok``, from :data:`_STRS` when the same
    (path, name, token) came before (an id's pseudonym or token repeats with its subject)."""
    cache = _STRS.paths
    key = (path, name, tok)
    out = cache.get(key)
    if out is None:
        out = path.replace("{" + name + "}", tok)
        _keep(cache, key, out)
    return out


def _js(v: str | None) -> bytes:
    """orjson's JSON of a str or None (repeated strings from :data:`_STRS`)."""
    if v is None:
        return b"null"
    cache = _STRS.cache
    j = cache.get(v)
    if j is None:
        j = _dumps(v)
        _keep(cache, v, j)
    return j


_SMALL_INTS: Final = 2048
_INT_JSON: Final = tuple([b"%d" % i for i in range(_SMALL_INTS)])
"""The JSON of 0 .. 2047: statuses, request sizes, 1 KB response sizes (each formatted once)."""


def _jv(v: Any) -> bytes:
    """orjson's JSON of any value of a record (the same bytes it writes inside an object)."""
    if v is None:
        return b"null"
    if type(v) is int:
        if 0 <= v < _SMALL_INTS:
            return _INT_JSON[v]
        # Compiled, an int within ±(2**62 - 1) is a tagged machine word: compared natively
        # (the 64-bit bounds below are boxed ints, ~600 instructions per comparison).
        if -0x3FFFFFFFFFFFFFFF <= v <= 0x3FFFFFFFFFFFFFFF or -0x8000000000000000 <= v <= 0xFFFFFFFFFFFFFFFF:
            return b"%d" % v  # orjson's integer range
    return _dumps(v)


def _strs_json(items: Any) -> bytes:
    """orjson's JSON of a list (or tuple) of str (each from :func:`_js`)."""
    n = len(items)
    if n == 0:
        return b"[]"
    if n == 1:
        return b"[%s]" % _js(items[0])
    return b"[" + b",".join([_js(x) for x in items]) + b"]"


def _decision_json(d: list[str]) -> bytes:
    """orjson's JSON of one decision (a list of str), a whole (filter, outcome, rule) from
    :data:`_STRS` (a tuple key: its hash is made of the strings' cached hashes)."""
    if len(d) != 3:
        return _strs_json(d)
    key = (d[0], d[1], d[2])
    cache = _STRS.decisions
    j = cache.get(key)
    if j is None:
        j = _strs_json(d)
        _keep(cache, key, j)
    return j


def _decisions_json(decisions: list[Any]) -> bytes:
    """orjson's JSON of an event's decisions (lists of str, as :func:`_event` makes them)."""
    n = len(decisions)
    if n == 0:
        return b"[]"
    if n == 1:
        return b"[%s]" % _decision_json(decisions[0])
    return b"[" + b",".join([_decision_json(d) for d in decisions]) + b"]"


def build_rows(
    todo: _Todo,
    cache: dict[str, tuple[str, float]],
    instance: str,
    prev: str,
    seq: int,
    row_type: type,
) -> list[Any]:
    """The chained rows (``row_type``: storage.audit_sink.EventRow) of ``todo``'s events
    after (``seq``, ``prev``), subjects resolved through ``cache`` (lookup -> (pseudonym,
    loaded at); ``s_unresolved`` when missing).

    In C (audit/_cevents.c) when the ``audit`` group's build is loaded: the same rows, byte
    for byte, or the same exception, as :func:`_build_rows_py`, its twin, which builds
    every event the C does not take in its common shape (tests/cpragate/audit/test__cevents.py
    compares both on random and odd records). The C writes each body into one buffer
    behind the chain hash's prefix, each value escaped or formatted in place, instead of a
    JSON cache lookup and a bytes object per field, ``round(t, 3)`` and orjson calls per
    event and a context made, copied and freed per chain hash (bench/AUDIT_RESULTS.md,
    session 12)."""
    native = _NATIVE_ROWS
    if native is not None:
        rows: list[Any] = native(todo, cache, instance, prev, seq, row_type)
        return rows
    return _build_rows_py(todo, cache, instance, prev, seq, row_type)


def _build_rows_py(
    todo: _Todo,
    cache: dict[str, tuple[str, float]],
    instance: str,
    prev: str,
    seq: int,
    row_type: type,
) -> list[Any]:
    """:func:`build_rows` in Python: the chained rows (``row_type``: storage.audit_sink.EventRow) of ``todo``'s events
    after (``seq``, ``prev``), subjects resolved through ``cache`` (lookup -> (pseudonym,
    loaded at); ``s_unresolved`` when missing).

    One tight loop per batch: the event's fields as :func:`_event` makes them, the body,
    the chain hash (the bytes of cpragate.audit.chain.link_hash, inlined), the row. The
    body is written directly: the top-level keys in sorted order, each value as orjson
    writes it (repeated strings' JSON reused, numbers formatted, the rest by orjson; the
    nested ``pii`` and ``checks`` with sorted keys), so no event dict is built or
    serialized, and the body is canonical(build_event(...)) byte for byte
    (tests/cpragate/audit/test_events.py, tests/cpragate/storage/test_audit_writer.py)."""
    out: list[Any] = []
    inst_b = instance.encode("utf-8")
    inst_j = _dumps(instance)
    prev_b = prev.encode("ascii")
    for bkey, begin, comp in todo:
        seq += 1
        b: list[Any] = begin or _NO_BEGIN  # typed: native list indexing
        c: list[Any] | None = comp
        subj = _subject_lookups(b, c)
        pseud: dict[str, str] = {}
        for s in subj:
            hit = cache.get(s)
            pseud[s] = hit[0] if hit is not None else "s_unresolved"
        (template, path, t, outcome, status, error, decisions, pii, checks, bytes_in, bytes_out, latency, decision,
         rule) = _fields(b, c, pseud, None)  # fmt: skip
        pii_j = b"null" if pii is None else _dumps(pii, option=_SORT)
        checks_j = b"null" if checks is None else _dumps(checks, option=_SORT)
        s2, s3, s5, s8, s9, s10, s11 = b[2], b[3], b[5], b[8], b[9], b[10], b[11]
        consumer = s8 if isinstance(s8, str) else None
        subjects: tuple[str, ...] = (pseud[subj[0]],) if len(subj) == 1 else tuple([pseud[s] for s in subj])
        tr = round(t, 3)
        body: bytes = (
            b'{"auth":%s,"bytes_in":%s,"bytes_out":%s,"checks":%s,"client_ip":%s,"consumer":%s,"decision":%s,'
            b'"decisions":%s,"error":%s,"id":%s,"instance":%s,"latency_ms":%s,"method":%s,"outcome":%s,"path":%s,'
            b'"personal":%s,"pii":%s,"purpose":%s,"route":%s,"route_name":%s,"rule":%s,"seq":%d,"status":%s,'
            b'"subjects":%s,"t":%s,"ts":"%s","v":%d}'
        ) % (
            _js(s9 if isinstance(s9, str) else None),
            _jv(bytes_in),
            _jv(bytes_out),
            checks_j,
            _js(s11 if isinstance(s11, str) else None),
            _js(consumer),
            _js(decision),
            _decisions_json(decisions),
            _js(error),
            _jv(s2 if isinstance(s2, str) else None),
            inst_j,
            _jv(latency),
            _js(s3 if isinstance(s3, str) else None),
            _js(outcome),
            _js(path),
            b"true" if b[12] else b"false",
            pii_j,
            _js(s10 if isinstance(s10, str) else None),
            _js(template),
            _js(s5 if isinstance(s5, str) else None),
            _js(rule),
            seq,
            _jv(status),
            _strs_json(subjects),
            _dumps(tr),
            iso(t).encode("ascii"),  # digits, "-", "T", ":", ".", "Z": nothing to escape
            SCHEMA_VERSION,
        )
        h: str = _sha256(b"%s\n%s\n%d\n%s" % (prev_b, inst_b, seq, body)).hexdigest()
        out.append(
            _tuple_new(row_type, (instance, seq, bkey, tr, consumer, template, decision, outcome, status, subjects,
                                  body, prev, h))
        )
        prev, prev_b = h, h.encode("ascii")
    return out


def openssl_sha256() -> tuple[int, int, int]:
    """The addresses of OpenSSL's ``SHA256_Init``, ``SHA256_Update`` and ``SHA256_Final`` in
    the libcrypto that hashlib's ``_hashlib`` is linked with (dlsym through ``_hashlib``'s
    own handle searches its dependencies, so no other library is loaded), or zeros when
    there are none (no ``_hashlib``, an OpenSSL built without its low-level API). For
    _cevents, which checks them against hashlib before using them. Zeros too in FIPS mode:
    the low-level calls bypass OpenSSL 3's providers, and the chain must then be hashed
    inside the FIPS module (hashlib)."""
    try:
        import _hashlib
        import ctypes

        if _hashlib.get_fips_mode():
            return 0, 0, 0
        lib: Any = ctypes.CDLL(_hashlib.__file__)
        out = [int(ctypes.cast(getattr(lib, name), ctypes.c_void_p).value or 0)
               for name in ("SHA256_Init", "SHA256_Update", "SHA256_Final")]
        return out[0], out[1], out[2]
    except (ImportError, OSError, AttributeError, TypeError, ValueError):
        return 0, 0, 0


_NATIVE_ROWS: Callable[[_Todo, dict[str, tuple[str, float]], str, str, int, type], list[Any]] | None = None
_NATIVE_PARAMS: Callable[[list[Any], str], Any] | None = None
try:
    # The rows in C (_cevents.c), loaded by cpragate._accel only while it matches its source
    # (with this module's build); otherwise (not built, stale, CPRAGATE_PURE=1)
    # _build_rows_py above, which gives the same rows.
    from cpragate.audit import _cevents

    _cevents.setup(_dumps, _sha256, type(_sha256(b"")).hexdigest, _build_rows_py, *openssl_sha256())
    _NATIVE_ROWS = _cevents.build_rows
    _NATIVE_PARAMS = _cevents.sqlite_params
except ImportError:
    pass
except Exception:  # the native rows are an optimisation: never a reason for the trail not to start
    import logging

    logging.getLogger(__name__).warning("audit: the C event rows failed to set up; the Python builds them", exc_info=True)


def subject_params(rows: list[Any], instance: str) -> list[Any] | None:
    """The subject index's parameters of ``rows`` (storage.audit_sink.EventRow: instance
    0, seq 1, ts 3, subjects 9) for the SQLite sink, flat: ``(pseudonym, seq, ts)`` per
    subject when every row is ``instance``'s (the instance id a literal of the INSERT text),
    or None when one is not (the sink then binds every row's own id). Compiled: the
    comprehension it replaces ran in the interpreter, a tuple per subject."""
    out: list[Any] = []
    for row in rows:
        r: tuple[Any, ...] = row
        inst: Any = r[0]
        if isinstance(inst, str) and inst != instance:  # as `instance.__eq__`, which is
            return None  # NotImplemented (true) for anything but a str
        subs: Any = r[9]
        if subs:
            seq: Any = r[1]
            ts: Any = r[3]
            for s in subs:
                out.append(s)
                out.append(seq)
                out.append(ts)
    return out


def sqlite_params(rows: list[Any], instance: str) -> tuple[list[Any], list[Any]] | None:
    """The SQLite sink's parameters of ``rows`` (storage.audit_sink.EventRow) when every row
    is ``instance``'s (the instance id a literal of the INSERT texts), else None: the event
    rows' flat (seq, bkey, ts, consumer, route, decision, outcome, status, body as
    bytearray, prev, hash) and the subject rows' flat (pseudonym, seq, ts).

    In C (_cevents.sqlite_params) when loaded, one pass; :func:`_sqlite_params_py` is its
    twin and decides for rows not as build_rows makes them."""
    native = _NATIVE_PARAMS
    if native is not None:
        out: Any = native(rows, instance)
        if out is not NotImplemented:
            return cast("tuple[list[Any], list[Any]] | None", out)
    return _sqlite_params_py(rows, instance)


def _sqlite_params_py(rows: list[Any], instance: str) -> tuple[list[Any], list[Any]] | None:
    """:func:`sqlite_params` in Python: the rows' fields flattened, the subjects and the
    instance id deleted by extended slices (no tuple per row), the bodies made bytearray
    (the same BLOB, bound without the sqlite3 module's adapter lookup)."""
    subj = subject_params(rows, instance)
    if subj is None:
        return None
    params: list[Any] = list(_flat(rows))
    del params[9::13]
    del params[0::12]
    params[8::11] = [bytearray(b) for b in params[8::11]]
    return params, subj
