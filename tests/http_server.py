"""A local HTTP server for the download tests: files from memory, on 127.0.0.1 only.

It answers `Range: bytes=N-` requests (206 with Content-Range), as the servers of the
datasets do, or ignores them (`ranges=False`); it can cut a response after some bytes
(`cut`), as a dropped connection does; and it records every request it gets.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import re
import socket
import threading
from collections.abc import Iterator


# A base URL where nothing listens (port 1 needs root to serve): connections are refused
# at once, as offline.
NOWHERE = "http://127.0.0.1:1/"


@dataclasses.dataclass
class Request:
    path: str
    range: str | None


class FileServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}  # URL path ("/facades.tar.gz") -> content
        self.requests: list[Request] = []
        self.ranges = True
        self._cuts: dict[str, int] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server._answer(self)

            def log_message(self, *args) -> None:  # quiet
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()

    def cut(self, path: str, after: int) -> None:
        """Drop the connection of the next response for `path` after `after` bytes."""
        self._cuts[path] = after

    def requested(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _answer(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        path, range_header = handler.path, handler.headers.get("Range")
        with self._lock:
            self.requests.append(Request(path, range_header))
            cut = self._cuts.pop(path, None)
        data = self.files.get(path)
        if data is None:
            handler.send_error(404)
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
        if match and self.ranges:
            start = int(match[1])
            if start >= len(data):
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{len(data)}")
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            handler.send_response(206)
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            handler.send_response(200)
        body = data[start:]
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if cut is None:
            handler.wfile.write(body)
            return
        handler.wfile.write(body[:cut])
        handler.wfile.flush()
        handler.connection.shutdown(socket.SHUT_RDWR)  # the rest never comes
        handler.close_connection = True


@contextlib.contextmanager
def serving() -> Iterator[FileServer]:
    server = FileServer()
    try:
        yield server
    finally:
        server.close()
