"""The per-instance hash chain, signed checkpoints, and verification.

Rules (the invariants ``cpragate audit verify`` checks):

1. Each gateway instance numbers its events 1, 2, 3... (``seq``) and links them:
   ``hash = SHA-256(prev "\\n" instance "\\n" seq "\\n" body)`` where ``prev`` is the hash
   of the instance's previous event (``GENESIS`` for the first) and ``body`` the event's
   canonical JSON. Changing, removing, adding or moving an event breaks a link.
2. Periodically, and at every purge, the writer signs the chain head with Ed25519: a
   checkpoint ``(instance, seq, hash, ts, kind)``. A chain rewritten from some point on
   (hashes recomputed) no longer matches a checkpoint after that point, and a truncated
   chain ends before its last checkpoint. Checkpoints are only as trusted as the keys
   the verifier is given.
3. A purge deletes the oldest events and leaves a signed ``purge`` checkpoint at the cut:
   verification starts from it (the first remaining event must link to its hash).
4. Events stored after the last checkpoint can be cut off undetected only if the
   attacker also rewrites the instance's head record; the checkpoint interval bounds
   that window (docs/audit.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cpragate.audit.events import GENESIS

__all__ = [
    "Checkpoint",
    "InstanceReport",
    "Problem",
    "key_id",
    "link_hash",
    "sign_checkpoint",
    "verify_checkpoint",
    "verify_instance",
]

_sha256 = hashlib.sha256


def link_hash(prev: str, instance: str, seq: int, body: bytes) -> str:
    """The hash of an event given its predecessor's (rule 1)."""
    return _sha256(b"%s\n%s\n%d\n%s" % (prev.encode("ascii"), instance.encode("utf-8"), seq, body)).hexdigest()


def key_id(public: Ed25519PublicKey) -> str:
    """Short fingerprint of a public key: first 16 hex of SHA-256 of its raw bytes."""
    return _sha256(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement: instance ``instance``'s event ``seq`` has hash ``hash``."""

    instance: str
    seq: int
    hash: str
    ts: float
    kind: str  # "periodic" | "purge"
    key_id: str
    signature: str  # hex

    def message(self) -> bytes:
        return _message(self.instance, self.seq, self.hash, self.ts, self.kind)


def _message(instance: str, seq: int, h: str, ts: float, kind: str) -> bytes:
    return f"cpragate-audit-checkpoint/1\n{instance}\n{seq}\n{h}\n{ts:.6f}\n{kind}".encode()


def sign_checkpoint(key: Ed25519PrivateKey, instance: str, seq: int, h: str, ts: float, kind: str) -> Checkpoint:
    sig = key.sign(_message(instance, seq, h, ts, kind)).hex()
    return Checkpoint(instance, seq, h, ts, kind, key_id(key.public_key()), sig)


def verify_checkpoint(cp: Checkpoint, keys: dict[str, Ed25519PublicKey]) -> bool:
    """True if ``cp`` is signed by one of ``keys`` (by key id)."""
    pub = keys.get(cp.key_id)
    if pub is None:
        return False
    try:
        pub.verify(bytes.fromhex(cp.signature), cp.message())
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: ``kind`` is modified | deleted | inserted | reordered | truncated |
    forged_checkpoint | checkpoint_mismatch; ``seq`` the first sequence number concerned."""

    kind: str
    seq: int
    detail: str = ""


@dataclass
class InstanceReport:
    instance: str
    events: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_seq(self) -> int | None:
        return min((p.seq for p in self.problems), default=None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "ok": self.ok,
            "events": self.events,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "checkpoints": self.checkpoints,
            "first_bad_seq": self.first_bad_seq,
            "problems": [{"kind": p.kind, "seq": p.seq, "detail": p.detail} for p in self.problems],
        }


_MAX_PROBLEMS = 100


def verify_instance(
    instance: str,
    rows: Iterable[tuple[int, str, str, bytes]],
    *,
    checkpoints: list[Checkpoint],
    keys: dict[str, Ed25519PublicKey],
    head_seq: int | None = None,
) -> InstanceReport:
    """Check one instance's chain; ``rows`` are ``(seq, prev, hash, body)`` ordered by seq.

    ``checkpoints`` are the instance's stored checkpoints (the latest valid ``purge`` one
    is where the chain starts); ``head_seq`` is the writer's recorded head, if any.
    """
    rep = InstanceReport(instance)
    problems = rep.problems

    def problem(kind: str, seq: int, detail: str = "") -> None:
        if len(problems) < _MAX_PROBLEMS:
            problems.append(Problem(kind, seq, detail))

    good: list[Checkpoint] = []
    for cp in checkpoints:
        if verify_checkpoint(cp, keys):
            good.append(cp)
        else:
            problem("forged_checkpoint", cp.seq, f"{cp.kind} checkpoint signature does not verify (key {cp.key_id})")
    rep.checkpoints = len(good)
    purges = [cp for cp in good if cp.kind == "purge"]
    anchor = max(purges, key=lambda c: c.seq) if purges else None
    expected = anchor.seq + 1 if anchor else 1
    prev_h = anchor.hash if anchor else GENESIS
    at = {cp.seq: cp for cp in good if cp.kind != "purge" and (anchor is None or cp.seq > anchor.seq)}
    seen_cp = 0
    last = expected - 1
    n = 0
    floor = anchor.seq if anchor else 0
    first: int | None = None
    inst_b = instance.encode("utf-8")
    sha = _sha256
    # The hot loop: one formatted buffer and one SHA-256 per row (link_hash inlined);
    # everything else is integer and string comparisons.
    for seq, prev, h, body in rows:
        if seq <= floor:
            continue
        n += 1
        if first is None:
            first = seq
        if seq != expected:
            if seq < expected:
                problem("inserted", seq, "two events carry this sequence number")
            else:
                problem("deleted", expected, f"events {expected}..{seq - 1} are missing")
                prev_h = prev  # resynchronise on the next link
        if sha(b"%s\n%s\n%d\n%s" % (prev.encode("utf-8"), inst_b, seq, body)).hexdigest() != h:
            _classify(instance, seq, body, problem)
        elif prev != prev_h:
            problem("modified", seq - 1, "an event's hash no longer matches what its successor recorded")
        if at:
            mark = at.get(seq)
            if mark is not None:
                seen_cp += 1
                if mark.hash != h:
                    problem("checkpoint_mismatch", seq, "the chain differs from what a signed checkpoint recorded")
        prev_h = h
        expected = seq + 1
        last = seq
    rep.first_seq = first
    rep.events = n
    rep.last_seq = last if n else None
    top = max([cp.seq for cp in at.values()] + [head_seq or 0])
    if top > last:
        problem("truncated", last + 1, f"the chain ends at {last} but was recorded up to {top}")
    problems.sort(key=lambda p: p.seq)
    return rep


def _classify(instance: str, seq: int, body: bytes, problem: Any) -> None:
    """A row whose stored hash does not match: edited, moved, or foreign."""
    try:
        ev = orjson.loads(body)
    except orjson.JSONDecodeError:
        problem("modified", seq, "the event body is not valid JSON")
        return
    if not isinstance(ev, dict) or ev.get("instance") != instance:
        problem("inserted", seq, "the event does not belong to this instance's chain")
        return
    body_seq = ev.get("seq")
    if not isinstance(body_seq, int) or body_seq == seq:
        problem("modified", seq, "the event's content no longer matches its hash")
    elif body_seq < seq:
        problem("inserted", body_seq, f"the event recorded as {body_seq} now sits at {seq}: something was inserted before it")
    else:
        problem("reordered", seq, f"the event recorded as {body_seq} now sits at {seq}")
