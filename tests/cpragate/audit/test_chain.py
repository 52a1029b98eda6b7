import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cpragate.audit.chain import (
    Checkpoint,
    key_id,
    link_hash,
    sign_checkpoint,
    verify_checkpoint,
    verify_instance,
)
from cpragate.audit.events import GENESIS, canonical

KEY = Ed25519PrivateKey.generate()
KEYS = {key_id(KEY.public_key()): KEY.public_key()}


def chain(n: int, inst: str = "gw-0") -> list[tuple[int, str, str, bytes]]:
    rows, prev = [], GENESIS
    for seq in range(1, n + 1):
        body = canonical({"instance": inst, "seq": seq, "status": 200})
        h = link_hash(prev, inst, seq, body)
        rows.append((seq, prev, h, body))
        prev = h
    return rows


def kinds(rows: list[tuple[int, str, str, bytes]], **kw: object) -> list[tuple[str, int]]:
    rep = verify_instance("gw-0", rows, checkpoints=kw.pop("checkpoints", []), keys=KEYS, **kw)  # type: ignore[arg-type]
    return [(p.kind, p.seq) for p in rep.problems]


def test_intact_chain_verifies() -> None:
    rep = verify_instance("gw-0", chain(50), checkpoints=[], keys=KEYS, head_seq=50)
    assert rep.ok and rep.events == 50 and rep.last_seq == 50


def test_edit() -> None:
    rows = chain(10)
    s, p, h, b = rows[4]
    rows[4] = (s, p, h, b.replace(b"200", b"500"))
    assert kinds(rows)[0] == ("modified", 5)


def test_edit_with_recomputed_hash() -> None:
    rows = chain(10)
    s, p, _, b = rows[4]
    b2 = b.replace(b"200", b"500")
    rows[4] = (s, p, link_hash(p, "gw-0", s, b2), b2)
    assert kinds(rows)[0] == ("modified", 5)


def test_delete() -> None:
    rows = chain(10)
    del rows[3]
    assert kinds(rows)[0] == ("deleted", 4)


def test_insert_shifting_later_events() -> None:
    rows = chain(10)
    fake_body = canonical({"instance": "gw-0", "seq": 6, "status": 200, "fake": True})
    prev = rows[4][2]
    fake = (6, prev, link_hash(prev, "gw-0", 6, fake_body), fake_body)
    shifted = [(s + 1, p, h, b) for s, p, h, b in rows[5:]]
    found = kinds([*rows[:5], fake, *shifted])
    assert found[0] == ("inserted", 6)


def test_reorder() -> None:
    rows = chain(10)
    a, b = rows[2], rows[3]
    rows[2], rows[3] = (3, b[1], b[2], b[3]), (4, a[1], a[2], a[3])
    found = kinds(rows)
    assert found[0] == ("reordered", 3)


def test_truncate_detected_by_head_and_checkpoint() -> None:
    rows = chain(10)
    cp = sign_checkpoint(KEY, "gw-0", 10, rows[9][2], 1.0, "periodic")
    assert kinds(rows[:7], head_seq=10) == [("truncated", 8)]
    assert kinds(rows[:7], checkpoints=[cp]) == [("truncated", 8)]


def test_forged_checkpoint_and_rewritten_chain() -> None:
    rows = chain(10)
    cp = sign_checkpoint(KEY, "gw-0", 10, rows[9][2], 1.0, "periodic")
    forged = Checkpoint(cp.instance, cp.seq, "f" * 64, cp.ts, cp.kind, cp.key_id, cp.signature)
    assert ("forged_checkpoint", 10) in kinds(rows, checkpoints=[forged])
    other = Ed25519PrivateKey.generate()
    assert ("forged_checkpoint", 10) in kinds(rows, checkpoints=[sign_checkpoint(other, "gw-0", 10, rows[9][2], 1.0, "periodic")])
    # an attacker who rewrites the whole chain cannot re-sign the checkpoint
    rewritten, prev = [], GENESIS
    for s, _, _, b in rows:
        b2 = b.replace(b"200", b"201")
        h = link_hash(prev, "gw-0", s, b2)
        rewritten.append((s, prev, h, b2))
        prev = h
    assert ("checkpoint_mismatch", 10) in kinds(rewritten, checkpoints=[cp])


def test_purge_anchor() -> None:
    rows = chain(10)
    anchor = sign_checkpoint(KEY, "gw-0", 4, rows[3][2], 1.0, "purge")
    rep = verify_instance("gw-0", rows[4:], checkpoints=[anchor], keys=KEYS)
    assert rep.ok and rep.first_seq == 5
    assert not verify_instance("gw-0", rows[5:], checkpoints=[anchor], keys=KEYS).ok


def test_checkpoint_signature() -> None:
    cp = sign_checkpoint(KEY, "i", 3, "a" * 64, 2.5, "periodic")
    assert verify_checkpoint(cp, KEYS)
    assert not verify_checkpoint(cp, {})
    with pytest.raises(AttributeError):
        cp.seq = 4  # type: ignore[misc]


def test_foreign_and_garbage_bodies() -> None:
    rows = chain(5)
    s, p, h, _ = rows[1]
    rows[1] = (s, p, h, b"not json")
    assert kinds(rows)[0] == ("modified", 2)
    rows = chain(5)
    s, p, h, _ = rows[1]
    rows[1] = (s, p, h, canonical({"instance": "gw-9", "seq": 2}))
    assert kinds(rows)[0] == ("inserted", 2)
