"""Admin keys: hashed, compared in constant time, roles, lock-out after repeated failures."""

from __future__ import annotations

from cpragate.admin.auth import AdminAuth, key_digest
from cpragate.admin.config import AdminKey
from cpragate.core.clock import FakeClock

ADMIN = "admin-key-0123456789abcdefghij"
READER = "reader-key-0123456789abcdefghij"


def auth(clock: FakeClock | None = None) -> AdminAuth:
    keys = [
        AdminKey.model_validate({"name": "ops", "role": "admin", "key": ADMIN}),
        AdminKey.model_validate({"name": "dpo", "role": "read_only", "sha256": key_digest(READER).hex()}),
        AdminKey.model_validate({"name": "prom", "role": "metrics", "key": "metrics-key-0123456789abcdef"}),
    ]
    return AdminAuth(keys, clock=clock or FakeClock(), max_failures=3, window=60)


def test_roles() -> None:
    a = auth()
    ops = a.authenticate(ADMIN.encode())
    dpo = a.authenticate(READER.encode())
    prom = a.authenticate(b"metrics-key-0123456789abcdef")
    assert ops is not None and ops.may("write") and ops.may("read")
    assert dpo is not None and dpo.name == "dpo" and dpo.may("read") and not dpo.may("write")
    assert prom is not None and prom.may("metrics") and not prom.may("read")
    assert a.authenticate(None) is None and a.authenticate(b"nope") is None


def test_no_plain_key_is_kept() -> None:
    a = auth()
    assert ADMIN not in repr(vars(a)) and ADMIN.encode() not in repr(vars(a)).encode()


def test_bearer_parsing() -> None:
    assert AdminAuth.presented(b"Bearer abc") == b"abc" and AdminAuth.presented(b"bearer  abc ") == b"abc"
    assert AdminAuth.presented(b"Basic abc") is None and AdminAuth.presented(None) is None
    assert AdminAuth.presented(b"Bearer ") is None


def test_lock_out_after_failures_then_window_passes() -> None:
    clock = FakeClock()
    a = auth(clock)
    for _ in range(3):
        assert a.authenticate(b"guess", "198.51.100.9") is None
    assert a.locked_out("198.51.100.9") and not a.locked_out("198.51.100.10")
    clock.advance(61)
    assert not a.locked_out("198.51.100.9")


def test_only_the_detokenize_role_may_detokenize() -> None:
    from cpragate.admin.auth import AdminPrincipal

    assert AdminPrincipal("desk", "detokenize").may("detokenize")
    assert not AdminPrincipal("desk", "detokenize").may("read")
    for role in ("admin", "read_only", "metrics"):
        assert not AdminPrincipal("x", role).may("detokenize"), role


def test_window_counter_counts_per_key_until_the_window_passes() -> None:
    from cpragate.admin.auth import WindowCounter

    clock = FakeClock()
    c = WindowCounter(clock, limit=3, window=60, max_keys=2)
    c.add("a", 2)
    assert c.count("a") == 2 and not c.reached("a")
    c.add("a")
    assert c.reached("a") and c.count("b") == 0
    c.add("b")
    c.add("c")  # beyond max_keys: counted in the shared overflow bucket (the table does not grow)
    assert c.count("c") == 1 and c.count("d") == 1 and c.count("b") == 1 and len(c._counts) == 2
    clock.advance(61)
    assert c.count("a") == 0 and not c.reached("a") and c.count("c") == 0


def test_a_full_table_evicts_expired_entries_and_overflow_locks_out_untracked_addresses() -> None:
    from cpragate.admin.auth import WindowCounter

    clock = FakeClock()
    c = WindowCounter(clock, limit=3, window=60, max_keys=100)
    for i in range(100):
        c.add(f"2001:db8::{i:x}")
    clock.advance(3600)  # every entry is stale, none was checked again
    for _ in range(3):
        c.add("198.51.100.7")
    assert c.reached("198.51.100.7") and len(c._counts) == 1  # evicted, then tracked on its own
    for i in range(99):
        c.add(f"2001:db8::1:{i:x}")  # fills the table with live entries
    for i in range(3):
        c.add(f"203.0.113.{i}")  # no room: the shared overflow bucket
    assert c.reached("203.0.113.200") and c.reached("203.0.113.0")  # untracked addresses are locked out
    assert not c.reached("2001:db8::1:0")  # a tracked address keeps its own count


def test_lock_out_still_works_after_a_flood_of_addresses() -> None:
    clock = FakeClock()
    a = auth(clock)
    for i in range(10_000):
        a.authenticate(b"guess", f"2001:db8::{i:x}")
    clock.advance(3600)
    for _ in range(3):
        a.authenticate(b"guess", "198.51.100.7")
    assert a.locked_out("198.51.100.7")
