"""The sans-IO core: messages, Exchange, router, filters, verdicts, pipeline, clock.

Nothing in this package touches sockets, files, threads or the event loop's I/O;
tests drive it with plain objects (tests/test_architecture.py enforces the rule).
"""
