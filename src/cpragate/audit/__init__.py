"""The audit trail's pure parts: event schema, hash chain, checkpoints, keys, DSAR report.

The filter (``cpragate.filters.audit``) builds compact spool records; the writer
(``cpragate.storage.audit_writer``) turns them into events with this package and ships
them to a sink (``cpragate.storage.audit_sqlite`` / ``audit_postgres``). See docs/audit.md.
"""
