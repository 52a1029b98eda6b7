"""The local canary listener for the SSRF check: a tiny HTTP server on a thread that
records the paths it is asked for and answers 404. It never fetches anything."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["Canary"]


class Canary:
    """``with Canary("127.0.0.1") as c: c.url; c.poll(token, wait)``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, advertise: str | None = None) -> None:
        hits: list[str] = []
        cond = threading.Condition()

        class Handler(BaseHTTPRequestHandler):
            def _hit(self) -> None:
                with cond:
                    if len(hits) < 10000:
                        hits.append(self.path)
                    cond.notify_all()
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_HEAD = do_PUT = _hit

            def log_message(self, format: str, *args: object) -> None:
                return

        self._hits = hits
        self._cond = cond
        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="cpragate-scan-canary", daemon=True)
        bound = self._server.server_address[1]
        self.url = f"http://{advertise or host}:{bound}"
        """The base URL handed to the target (``--canary-host`` when the target runs elsewhere)."""

    def __enter__(self) -> Canary:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def poll(self, token: str, wait: float = 1.0) -> list[str]:
        """Paths received that contain ``token``, waiting up to ``wait`` seconds for one."""
        deadline = time.monotonic() + wait
        with self._cond:
            while True:
                found = [p for p in self._hits if token in p]
                left = deadline - time.monotonic()
                if found or left <= 0:
                    return found
                self._cond.wait(left)
