"""A local HTTP server on 127.0.0.1 serving a folder, for download tests (tests never use the network)."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class _Handler(http.server.SimpleHTTPRequestHandler):
    truncate: dict[str, int] = {}  # noqa: RUF012  path -> bytes to send before closing the connection early

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        cut = self.truncate.get(self.path)
        if cut is None:
            return super().do_GET()
        body = Path(self.translate_path(self.path)).read_bytes()
        self.send_response(200)
        self.end_headers()  # no Content-Length: the early close looks like a complete file to the client
        self.wfile.write(body[:cut])
        self.wfile.flush()
        self.close_connection = True


@contextmanager
def serve(root: Path, truncate: dict[str, int] | None = None) -> Iterator[str]:
    """Serve ``root`` at http://127.0.0.1:<port>; yields the base URL."""
    handler = type("Handler", (_Handler,), {"truncate": dict(truncate or {})})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
