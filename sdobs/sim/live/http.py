"""A small asyncio HTTP/1.1 server for the live twin: keep-alive, bounded, disconnect-aware.

Requests in the twin really wait (queueing, cold starts, inference), so one connection may sit
for minutes: an asyncio server holds hundreds of them in a few megabytes where a thread per
request would not. Bodies and heads are size-limited; a client that disconnects cancels its
handler, which lets the twin free the pod slot the request held. A handler that raises gets a
500, and the server carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024
MAX_BODY = 256 * 1024  # txt2img bodies are a few hundred bytes; init images are not accepted
#: listen() backlog: asyncio's default of 100 drops the SYNs of a burst of a few hundred clients
#: connecting at once (each retried only after 1 s, 3 s, 7 s, ...), which a load test at
#: concurrency 200 is.
BACKLOG = 1024
HEAD_TIMEOUT = 30.0  # seconds to send a request head (slow-loris bound)
IDLE_TIMEOUT = 75.0  # seconds a keep-alive connection may sit idle
#: RFC 9110 §8.6: ``Content-Length = 1*DIGIT``; Python's int() also takes "+2", "1_0", " 2 "
#: and non-ASCII digits, which a proxy in front of the twin would frame differently.
_CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    peer: str = ""

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query))

    @property
    def host(self) -> str:
        """The Host header without its port, lower-case."""
        host = self.headers.get("host", "").lower()
        if host.startswith("["):  # [::1]:8080
            return host.split("]")[0] + "]"
        return host.rsplit(":", 1)[0]

    def cookie(self, name: str) -> str | None:
        for part in self.headers.get("cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value
        return None


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Request], Awaitable[Response]]


class _Closed(Exception):
    """The client went away."""


def _error(status: int, text: str) -> Response:
    return Response(status, text.encode() + b"\n", "text/plain; charset=utf-8",
                    [("X-Content-Type-Options", "nosniff")])


class HttpServer:
    """Serves ``handler`` on ``host:port`` (port 0 picks a free one; see :attr:`port`)."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0, *,
                 max_body: int = MAX_BODY, name: str = "sdobs-twin") -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.max_body = max_body
        self.name = name
        self.server: asyncio.Server | None = None
        self.open_connections = 0
        self.active_requests = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._connection, self.host, self.port,
                                                 limit=MAX_HEAD, reuse_address=True,
                                                 backlog=BACKLOG)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 5)
            self.server = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- one connection ------------------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        self.open_connections += 1
        peer = writer.get_extra_info("peername")
        peer_text = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else ""
        buf = bytearray()
        try:
            first = True
            while True:
                req = await self._read_request(reader, buf, peer_text,
                                               HEAD_TIMEOUT if first else IDLE_TIMEOUT)
                first = False
                if isinstance(req, Response):  # a malformed request: answer and close
                    await self._write(writer, req, keep_alive=False)
                    return
                keep = self._keep_alive(req)
                resp = await self._serve(req, reader, buf)
                await self._write(writer, resp, keep_alive=keep)
                if not keep:
                    return
        except (_Closed, ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except asyncio.CancelledError:  # server shutdown: end the connection quietly
            pass
        finally:
            self.open_connections -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_request(self, reader: asyncio.StreamReader, buf: bytearray, peer: str,
                            timeout: float) -> Request | Response:
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in buf:
            if len(buf) > MAX_HEAD:
                return _error(431, "request header fields too large")
            await self._fill(reader, buf, deadline - time.monotonic())
        head, _, rest = bytes(buf).partition(b"\r\n\r\n")
        if len(head) > MAX_HEAD:
            return _error(431, "request header fields too large")
        buf[:] = rest
        try:
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ")
            if not version.startswith("HTTP/1."):
                raise ValueError(version)
            headers: dict[str, str] = {"_version": version}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if not sep or not name or name != name.strip():
                    raise ValueError(line)
                key = name.lower()
                headers[key] = f"{headers[key]}, {value.strip()}" if key in headers \
                    else value.strip()
        except ValueError:
            return _error(400, "malformed HTTP request")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return _error(411, "send the body with a Content-Length")
        raw_length = headers.get("content-length", "0")
        if not _CONTENT_LENGTH.fullmatch(raw_length):
            return _error(400, "bad Content-Length")
        length = int(raw_length)
        if length > self.max_body:
            return _error(413, f"request body over {self.max_body} bytes")
        while len(buf) < length:
            await self._fill(reader, buf, deadline - time.monotonic() + IDLE_TIMEOUT)
        body = bytes(buf[:length])
        del buf[:length]
        return Request(method.upper(), target, headers, body, peer)

    @staticmethod
    async def _fill(reader: asyncio.StreamReader, buf: bytearray, timeout: float) -> None:
        data = await asyncio.wait_for(reader.read(65536), max(timeout, 0.001))
        if not data:
            raise _Closed
        buf += data

    @staticmethod
    def _keep_alive(req: Request) -> bool:
        conn = req.headers.get("connection", "").lower()
        if req.headers.get("_version") == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn

    async def _serve(self, req: Request, reader: asyncio.StreamReader,
                     buf: bytearray) -> Response:
        """Run the handler; cancel it if the client disconnects while it waits."""
        self.active_requests += 1
        task = asyncio.ensure_future(self._safe(req))
        watch = asyncio.ensure_future(reader.read(65536))
        try:
            while True:
                done, _ = await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
                if task in done:
                    return task.result()
                data = watch.result()
                if not data:  # the client went away: free what the request holds
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
                    raise _Closed
                if len(buf) + len(data) > MAX_HEAD + self.max_body:
                    task.cancel()
                    raise _Closed
                buf += data  # a pipelined next request
                watch = asyncio.ensure_future(reader.read(65536))
        finally:
            self.active_requests -= 1
            if not watch.done():
                watch.cancel()
                with contextlib.suppress(BaseException):
                    await watch

    async def _safe(self, req: Request) -> Response:
        try:
            return await self.handler(req)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never crash the server on a bad request
            log.exception("handler failed on %s %s: %s", req.method, req.path, type(exc).__name__)
            return Response(500, b'{"error": "InternalServerError", "detail": "twin error"}')

    async def _write(self, writer: asyncio.StreamWriter, resp: Response,
                     keep_alive: bool) -> None:
        reason = HTTPStatus(resp.status).phrase if resp.status in HTTPStatus._value2member_map_ \
            else "Unknown"
        lines = [f"HTTP/1.1 {resp.status} {reason}", f"Server: {self.name}",
                 f"Date: {formatdate(usegmt=True)}", f"Content-Type: {resp.content_type}",
                 f"Content-Length: {len(resp.body)}",
                 f"Connection: {'keep-alive' if keep_alive else 'close'}"]
        lines += [f"{k}: {v}" for k, v in resp.headers]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + resp.body)
        await writer.drain()
