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

import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from cpragate.core.keyed import hmac_sha256

__all__ = [
    "GENESIS",
    "SCHEMA_VERSION",
    "build_event",
    "canonical",
    "decision_of",
    "iso",
    "lookup",
    "pseudonym",
]

SCHEMA_VERSION = 1
GENESIS = "0" * 64
"""The ``prev`` hash of an instance's first event."""

_MAX_LIST = 64  # decisions, subjects, params kept per event (bounded records)


def lookup(master_key: bytes, value: str) -> str:
    """The keyed lookup of a value (HMAC-SHA256 with the master key, 128 bits, hex)."""
    return hmac_sha256(master_key, value.encode("utf-8", "surrogatepass")).hex()[:32]


def pseudonym(subject_key: bytes, subject_lookup: str) -> str:
    """A subject's pseudonym: HMAC-SHA256 of its lookup with the subject's own key (96 bits)."""
    return "s_" + hmac.digest(subject_key, subject_lookup.encode("ascii"), "sha256").hex()[:24]


def canonical(event: dict[str, Any]) -> bytes:
    """The exact bytes hashed and stored: JSON with sorted keys."""
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS)


_iso_sec = -1
_iso_prefix = ""


def iso(t: float) -> str:
    """``2026-01-01T00:00:00.123Z`` (UTC, milliseconds)."""
    global _iso_sec, _iso_prefix
    sec = int(t)
    ms = int((t - sec) * 1000)
    if sec != _iso_sec:  # consecutive events share their second: format it once
        _iso_prefix = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        _iso_sec = sec
    return f"{_iso_prefix}{ms:03d}Z"


def decision_of(outcome: str, decisions: list[list[str]]) -> tuple[str, str]:
    """(``allow`` | ``deny`` | ``error``, the rule that decided) from the recorded decisions."""
    for f, o, r in decisions:
        if o == "deny":
            return ("error" if outcome == "error" else "deny"), f"{f}:{r}" if r else f
    for f, o, r in decisions:
        if o == "error":
            return "error", f"{f}:{r}" if r else f
    if outcome in ("denied", "error"):
        return ("deny" if outcome == "denied" else "error"), ""
    return "allow", ""


def _str(v: object) -> str | None:
    return v if isinstance(v, str) else None


_NO_BEGIN: tuple[None, ...] = (None,) * 13
_EMPTY: tuple[()] = ()


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

    This runs once per event on the writer thread, so it avoids helper calls and
    intermediate containers; its output is the same as a plain field-by-field mapping.
    """
    b = begin or _NO_BEGIN
    c = completion
    subj_lookups: list[str] = [s for s in (b[7] or _EMPTY) if isinstance(s, str)]
    if c is not None and c[8]:
        subj_lookups += [s for s in c[8] if isinstance(s, str) and s not in subj_lookups]
    if len(subj_lookups) > _MAX_LIST:
        subj_lookups = subj_lookups[:_MAX_LIST]
    pseud = {s: resolve(s) for s in subj_lookups}
    template = b[4] if isinstance(b[4], str) else None
    path = template
    if template is not None:
        for pair in (b[6] or _EMPTY)[:_MAX_LIST]:
            name, lk = pair[0], pair[1]
            tok = pseud.get(lk) or param_token(lk)
            path = path.replace("{" + str(name) + "}", tok) if path else path
    bt = b[1]
    # isinstance(x, int) or isinstance(x, float), not `int | float`: compiled, that builds a union per call
    if isinstance(bt, int) or isinstance(bt, float):
        t = float(bt)
    elif c is not None and (isinstance(c[2], int) or isinstance(c[2], float)):
        t = float(c[2])
    else:
        t = 0.0
    if c is None:
        outcome, status, error, decisions, pii, checks = "interrupted", None, None, [], None, None
        bytes_in, bytes_out, latency = None, None, None
        decision, rule = "allow", ""
    else:
        outcome = c[4] if isinstance(c[4], str) and c[4] else "unknown"
        status = c[3] if isinstance(c[3], int) else None
        error = c[5] if isinstance(c[5], str) else None
        decisions = [[x if type(x) is str else str(x) for x in d[:3]] for d in (c[6] or _EMPTY)[:_MAX_LIST]]
        ann = c[7]
        if isinstance(ann, dict):
            pii = ann.get("pii")
            checks = ({k: v for k, v in ann.items() if k != "pii"} or None) if len(ann) > ("pii" in ann) else None
        else:
            pii, checks = None, None
        bytes_in, bytes_out, latency = c[9], c[10], c[11]
        if outcome == "interrupted":
            decision, rule = "allow", ""
        else:
            decision, rule = decision_of(outcome, decisions)
    s3, s8, s9, s10, s11 = b[3], b[8], b[9], b[10], b[11]
    ev: dict[str, Any] = {  # sorted key order (see the docstring)
        "auth": s9 if isinstance(s9, str) else None,
        "bytes_in": bytes_in,
        "bytes_out": bytes_out,
        "checks": checks,
        "client_ip": s11 if isinstance(s11, str) else None,
        "consumer": s8 if isinstance(s8, str) else None,
        "decision": decision,
        "decisions": decisions,
        "error": error,
        "id": b[2] if isinstance(b[2], str) else None,
    }
    if instance is not None:
        ev["instance"] = instance
    ev["latency_ms"] = latency
    ev["method"] = s3 if isinstance(s3, str) else None
    ev["outcome"] = outcome
    ev["path"] = path
    ev["personal"] = bool(b[12])
    ev["pii"] = pii
    ev["purpose"] = s10 if isinstance(s10, str) else None
    ev["route"] = template
    ev["route_name"] = b[5] if isinstance(b[5], str) else None
    ev["rule"] = rule
    if seq is not None:
        ev["seq"] = seq
    ev["status"] = status
    ev["subjects"] = [pseud[s] for s in subj_lookups]
    ev["t"] = round(t, 3)
    ev["ts"] = iso(t)
    ev["v"] = SCHEMA_VERSION
    return ev
