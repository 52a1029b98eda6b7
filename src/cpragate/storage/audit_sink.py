"""Where shipped audit events live: the sink Protocol every backend implements.

Sinks are synchronous: the gateway calls them only from the audit writer's thread,
the CLI directly. One ``write`` is one transaction: the events, their subject index,
any checkpoints and the instance's new state (chain head and spool low-water mark)
commit together, which is what makes replay after a crash exactly-once. Backends map
their driver's errors to ``AuditSinkError``. The contract suite is
tests/contract/test_audit_sinks.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, runtime_checkable

from cpragate.audit.chain import Checkpoint
from cpragate.errors import AuditSinkError

__all__ = ["AuditSink", "EventRow", "InstanceState", "SearchQuery", "open_sink"]


class EventRow(NamedTuple):
    """One chained event as stored: the body is the canonical JSON the hash covers.

    A named tuple (not a frozen dataclass): the writer builds one per event, and a tuple
    is several times cheaper to construct; it is immutable all the same."""

    instance: str
    seq: int
    bkey: int
    ts: float
    consumer: str | None
    route: str | None
    decision: str
    outcome: str
    status: int | None
    subjects: tuple[str, ...]
    body: bytes
    prev: str
    hash: str


@dataclass(frozen=True, slots=True)
class InstanceState:
    """An instance's chain head and the spool position replay restarts from."""

    instance: str
    head_seq: int = 0
    head_hash: str = "0" * 64
    low_pos: int = 0


@dataclass(frozen=True)
class SearchQuery:
    consumer: str | None = None
    route: str | None = None
    subjects: tuple[str, ...] = ()
    decision: str | None = None
    outcome: str | None = None
    since: float | None = None
    until: float | None = None
    instance: str | None = None
    limit: int = 100
    newest_first: bool = True
    extra: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class AuditSink(Protocol):
    def state(self, instance: str) -> InstanceState:
        """The instance's stored state (a fresh one if it never wrote)."""
        ...

    def shipped_keys(self, instance: str, from_pos: int) -> set[int]:
        """Event keys (``bkey``: the spool position of the record that completed the event)
        at or after ``from_pos`` already stored for ``instance``."""
        ...

    def write(
        self, rows: list[EventRow], state: InstanceState, expected_head: int, checkpoints: list[Checkpoint]
    ) -> None:
        """Store ``rows`` and ``checkpoints`` and move the instance to ``state``, atomically.

        :raises AuditSinkError: the store failed, or another writer moved the instance's
            head away from ``expected_head`` (two processes claim one instance).
        """
        ...

    def write_chunks(
        self,
        chunks: Iterable[list[EventRow]],
        finish: Callable[[], tuple[InstanceState, list[Checkpoint]]],
        expected_head: int,
    ) -> None:
        """:meth:`write` for rows produced while they are stored: the rows of ``chunks``, then
        ``finish()``'s state and checkpoints (called after the last chunk, before the commit),
        all in one transaction. An exception from ``chunks`` or ``finish`` rolls it back."""
        ...

    def subject_keys(self, lookups: list[str], create: bool) -> dict[str, bytes]:
        """Each subject's random key by lookup, created for unknown ones when ``create``."""
        ...

    def shred(self, lookup: str) -> bool:
        """Destroy a subject's key (crypto-shredding); True if it existed."""
        ...

    def instances(self) -> list[InstanceState]: ...

    def chain(self, instance: str, from_seq: int = 0) -> Iterator[tuple[int, str, str, bytes]]:
        """``(seq, prev, hash, body)`` of the instance's events from ``from_seq``, by seq."""
        ...

    def checkpoints(self, instance: str) -> list[Checkpoint]: ...

    def search(self, q: SearchQuery) -> list[bytes]:
        """Event bodies matching ``q`` (all given criteria), by time."""
        ...

    def purge_plan(self, instance: str, before: float) -> tuple[int, str] | None:
        """``(seq, hash)`` of the last event to delete so none older than ``before`` is kept
        (every earlier event is older too), or None if nothing can be purged."""
        ...

    def purge(self, instance: str, upto_seq: int, checkpoint: Checkpoint) -> int:
        """Delete the instance's events up to ``upto_seq`` and store the purge checkpoint."""
        ...

    def close(self) -> None: ...


def open_sink(url: str, prefix: str = "audit") -> AuditSink:
    """The sink a URL names: ``sqlite:///path`` or ``postgresql://...``."""
    if not prefix.replace("_", "").isalnum() or not prefix[:1].isalpha():
        raise AuditSinkError(f"audit table prefix {prefix!r} must be letters, digits and _ (starting with a letter).")
    if url.startswith("sqlite:///"):
        from cpragate.storage.audit_sqlite import SqliteAuditSink

        return SqliteAuditSink(url[len("sqlite:///") :], prefix)
    if url.startswith(("postgresql://", "postgres://")):
        from cpragate.storage.audit_postgres import PostgresAuditSink

        return PostgresAuditSink(url, prefix)
    raise AuditSinkError(
        f"audit sink {url.split(':', 1)[0]}:// is not supported.",
        fix="Use sqlite:///path or postgresql://user@host:port/db for `filters.audit.sink`.",
    )
