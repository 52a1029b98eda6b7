"""Storage Protocols and backends; filters only ever see the Protocols (base.py)."""

from cpragate.storage.base import CounterStore, KeyValueStore, Stores, open_stores

__all__ = ["CounterStore", "KeyValueStore", "Stores", "open_stores"]
