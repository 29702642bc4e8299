"""A local stand-in for an A1111 txt2img endpoint that can misbehave on purpose (test code only).

The behaviour of a request is the path segment after ``/x/`` (``/x/503/sdapi/v1/txt2img``) or,
failing that, the request's prompt when it names one (so a prompt file can mix them). It counts
requests in flight, the Host headers and the affinity cookie (``sd``) each connection sends.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import struct
import threading
import time
import zlib
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BEHAVIOURS = (
    "ok",
    "slow",
    "503",
    "504",
    "404",
    "badjson",
    "badb64",
    "noimages",
    "truncated",
    "reset",
    "chunked",
    "eof",
    "idleclose",
    "notjsonhttp",
)


def tiny_png(width: int = 2, height: int = 2) -> bytes:
    """A small, valid RGB PNG."""
    raw = b"".join(b"\x00" + b"\x80\x40\x20" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


PNG = tiny_png()


class FakeA1111(ThreadingHTTPServer):
    """The server; start() serves on 127.0.0.1 in a thread, stop() ends it."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 256

    def __init__(
        self,
        *,
        delay: float = 0.0,
        slow_s: float = 3.0,
        cold_s: float = 0.0,
        idle_to_zero_s: float | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.scheme = "https" if tls is not None else "http"
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.delay = delay
        self.slow_s = slow_s
        self.cold_s = cold_s
        self.idle_to_zero_s = idle_to_zero_s
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.count = 0
        self.hosts: list[str] = []
        self.cookies_issued: list[str] = []
        self.cookies_by_conn: dict[tuple[str, int], list[str | None]] = defaultdict(list)
        self.behaviours: list[str] = []
        self.warm_at: float | None = None if cold_s > 0 else 0.0
        self.last_done = time.monotonic()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}"

    def start(self) -> FakeA1111:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.shutdown()
        self.server_close()

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        pass  # injected resets make the handler fail on purpose

    def wait_until_warm(self) -> None:
        """Model a revision at zero: the first request starts a cold start everybody waits for."""
        if self.cold_s <= 0:
            return
        with self.lock:
            now = time.monotonic()
            idle = self.idle_to_zero_s
            if idle is not None and self.in_flight <= 1 and now - self.last_done >= idle:
                self.warm_at = None
            if self.warm_at is None:
                self.warm_at = now + self.cold_s
            wait = self.warm_at - now
        if wait > 0:
            time.sleep(wait)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeA1111

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        srv = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            req = json.loads(body)
        except ValueError:
            req = {}
        parts = self.path.split("/")
        behaviour = parts[2] if len(parts) > 2 and parts[1] == "x" else "ok"
        if behaviour == "ok" and req.get("prompt") in BEHAVIOURS:
            behaviour = req["prompt"]
        cookie = None
        for item in (self.headers.get("Cookie") or "").split(";"):
            name, _, value = item.strip().partition("=")
            if name == "sd":
                cookie = value
        with srv.lock:
            srv.count += 1
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
            srv.hosts.append(self.headers.get("Host", ""))
            srv.cookies_by_conn[self.client_address].append(cookie)
            srv.behaviours.append(behaviour)
            n = srv.count
        t0 = time.monotonic()
        try:
            srv.wait_until_warm()
            if srv.delay:
                time.sleep(srv.delay)
            self._respond(behaviour, req, cookie, n, t0)
        finally:
            with srv.lock:
                srv.in_flight -= 1
                srv.last_done = time.monotonic()

    def _send(
        self,
        status: int,
        payload: bytes,
        *,
        headers: dict[str, str] | None = None,
        length: int | None = None,
    ) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload) if length is None else length))
        self.end_headers()
        self.wfile.write(payload)

    def _respond(self, behaviour: str, req: dict, cookie: str | None, n: int, t0: float) -> None:
        srv = self.server
        headers = {"Content-Type": "application/json"}
        if cookie is None:
            issued = f"c{n}"
            with srv.lock:
                srv.cookies_issued.append(issued)
            headers["Set-Cookie"] = f"sd={issued}; Path=/; Max-Age=1800; HttpOnly"
        images = [base64.b64encode(PNG).decode()] * int(req.get("batch_size", 1) or 1)
        info = json.dumps(
            {"seed": 1000 + n, "job_timestamp": "20250101120000", "prompt": req.get("prompt", "")}
        )
        ok = json.dumps({"images": images, "parameters": req, "info": info}).encode()
        if behaviour == "slow":
            time.sleep(srv.slow_s)
        headers["X-Process-Time"] = f"{time.monotonic() - t0:.6f}"
        if behaviour in ("ok", "slow"):
            self._send(200, ok, headers=headers)
        elif behaviour == "503":
            err = {"error": "HTTPException", "detail": "busy", "body": req.get("prompt", "")}
            self._send(503, json.dumps(err).encode(), headers=headers)
        elif behaviour == "504":
            self._send(504, b"upstream request timeout", headers={"Content-Type": "text/plain"})
        elif behaviour == "404":
            self._send(404, b'{"detail":"Not Found"}', headers=headers)
        elif behaviour == "badjson":
            self._send(200, b'{"images": ["abc"', headers=headers)
        elif behaviour == "notjsonhttp":
            self._send(200, b"<html>gateway page</html>", headers={"Content-Type": "text/html"})
        elif behaviour == "badb64":
            self._send(200, b'{"images": ["***not base64***"], "info": "{}"}', headers=headers)
        elif behaviour == "noimages":
            self._send(200, b'{"detail": "what"}', headers=headers)
        elif behaviour == "truncated":
            self._send(200, ok[:100], headers=headers, length=len(ok))
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        elif behaviour == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif behaviour == "chunked":
            self.send_response(200)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            third = len(ok) // 3 + 1
            for i in range(0, len(ok), third):
                piece = ok[i : i + third]
                self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\nX-Trailer: 1\r\n\r\n")
        elif behaviour == "eof":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(ok)
            self.close_connection = True
        elif behaviour == "idleclose":
            self._send(200, ok, headers=headers)
            self.close_connection = True  # silently, as an idle-timeout proxy would
        else:
            raise AssertionError(behaviour)
