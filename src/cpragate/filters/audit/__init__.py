"""The audit filter: one tamper-evident event per exchange (see docs/audit.md)."""
