"""The I/O layer: listeners, TLS, HTTP/1.1 parsing, the upstream pool, workers, lifecycle.

This is the only package (with the storage backends) that touches sockets, files and
the event loop. Stack choice (measured; see bench/RESULTS.md): asyncio Protocols on
uvloop with llhttp (httptools) as the strict parser, no web framework, so the
gateway's own work — not framework overhead — dominates the cost per request.
"""
