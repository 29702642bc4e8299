"""A small asyncio HTTP/1.1 keep-alive client: one connection and one cookie jar per virtual client.

Written for the load tester rather than taken from a library because it must time each phase
(connect, first byte, end) precisely, keep one session per virtual client, classify every
failure, and send well over a thousand requests a second from one core. It speaks exactly what
an A1111 endpoint behind Knative needs: POST with a JSON body, Content-Length, chunked or
close-delimited responses, TLS, a Host header for Knative addressing, and cookies.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from sdobs.loadtest import errors
from sdobs.loadtest.errors import LoadTestConfigError, RequestError
from sdobs.loadtest.payload import TXT2IMG_PATH
from sdobs.redact import redact_url

_HEAD_LIMIT = 1 << 20  # response heads larger than this are a protocol error
DEFAULT_MAX_BODY = 512 << 20


@dataclass(frozen=True)
class Target:
    """Where requests go and how they are addressed; ``display_url`` carries no credentials."""

    scheme: str
    connect_host: str
    port: int
    path: str
    host_header: str
    display_url: str
    tls: ssl.SSLContext | None = None
    server_hostname: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    def request_prefix(self) -> bytes:
        """The request line and fixed headers, shared by every request to this target."""
        lines = [
            f"POST {self.path} HTTP/1.1",
            f"Host: {self.host_header}",
            "User-Agent: sdobs-loadtest",
            "Accept: application/json",
            "Content-Type: application/json",
        ]
        lines += [f"{name}: {value}" for name, value in self.headers]
        return ("\r\n".join(lines) + "\r\n").encode("latin-1")


def parse_target(
    url: str,
    *,
    host: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
    insecure: bool = False,
) -> Target:
    """Parse a base or txt2img URL; ``host`` overrides the Host header (Knative addressing)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise LoadTestConfigError(
            f"the URL must start with http:// or https://, not {redact_url(url)!r}"
        )
    if not parts.hostname:
        raise LoadTestConfigError(f"the URL {redact_url(url)!r} has no host name")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise LoadTestConfigError(f"the URL {redact_url(url)!r} has an invalid port") from exc
    path = parts.path.rstrip("/")
    if not path.endswith(TXT2IMG_PATH):
        path += TXT2IMG_PATH
    if parts.query:
        path += "?" + parts.query
    default_port = port == (443 if parts.scheme == "https" else 80)
    netloc_host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    url_host = netloc_host if default_port else f"{netloc_host}:{port}"
    for name, value in headers:
        if not name or any(c in name + value for c in "\r\n") or ":" in name:
            raise LoadTestConfigError(f"the header {name!r} is not a valid HTTP header")
    if host is not None and (not host.strip() or any(c in host for c in "\r\n /")):
        raise LoadTestConfigError(f"the Host header {host!r} is not a host name")
    all_headers = tuple(headers)
    if parts.username is not None:
        creds = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        token = base64.b64encode(creds.encode()).decode()
        all_headers = (("Authorization", f"Basic {token}"), *all_headers)
    tls = None
    server_hostname = None
    if parts.scheme == "https":
        tls = ssl.create_default_context()
        if insecure:
            tls.check_hostname = False
            tls.verify_mode = ssl.CERT_NONE
        server_hostname = (host or parts.hostname).split(":")[0]
    return Target(
        scheme=parts.scheme,
        connect_host=parts.hostname,
        port=port,
        path=path,
        host_header=host.strip() if host else url_host,
        display_url=redact_url(f"{parts.scheme}://{url_host}{path}"),
        tls=tls,
        server_hostname=server_hostname,
        headers=all_headers,
    )


@dataclass(slots=True)
class Response:
    """A complete HTTP response as the load tester needs it."""

    status: int
    headers: dict[str, str]
    set_cookies: list[str]
    body: bytes
    head_bytes: int
    keep_alive: bool


@dataclass(slots=True)
class Exchange:
    """The outcome of one request: times are ``time.perf_counter()`` values."""

    start: float
    end: float = 0.0
    connect: float = 0.0
    first_byte: float | None = None
    status: int = 0
    bytes_out: int = 0
    response: Response | None = None
    error: RequestError | None = None


@dataclass
class CookieJar:
    """The cookies of one virtual client (one origin, so domain and path are not matched)."""

    cookies: dict[str, str] = field(default_factory=dict)

    def absorb(self, set_cookies: list[str]) -> None:
        """Store or delete cookies from Set-Cookie values."""
        for raw in set_cookies:
            first, _, attrs = raw.partition(";")
            name, sep, value = first.partition("=")
            name = name.strip()
            if not sep or not name:
                continue
            expired = False
            for attr in attrs.split(";"):
                key, _, val = attr.partition("=")
                if key.strip().lower() == "max-age":
                    with contextlib.suppress(ValueError):
                        expired = int(val.strip()) <= 0
            if expired:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value.strip()

    def header(self) -> bytes:
        """The Cookie header line to send, or nothing."""
        if not self.cookies:
            return b""
        joined = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return f"Cookie: {joined}\r\n".encode("latin-1")


class VirtualClient:
    """One simulated user: a keep-alive connection, reopened when needed, and its own cookies."""

    def __init__(
        self,
        index: int,
        target: Target,
        *,
        timeout_s: float,
        connect_timeout_s: float,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.index = index
        self.target = target
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.max_body = max_body
        self.jar = CookieJar()
        self._prefix = target.request_prefix()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reused = False

    def close(self) -> None:
        """Drop the connection (safe to call at any time)."""
        if self._writer is not None:
            self._writer.transport.abort()
        self._reader = self._writer = None
        self._reused = False

    async def post(self, body: bytes) -> Exchange:
        """Send one POST and read the whole response; never raises except on cancellation."""
        ex = Exchange(start=time.perf_counter())
        data = b"".join(
            (self._prefix, b"Content-Length: %d\r\n" % len(body), self.jar.header(), b"\r\n", body)
        )
        ex.bytes_out = len(data)
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._exchange(ex, data)
        except asyncio.CancelledError:
            self.close()
            raise
        except BaseException as exc:  # every failure becomes a counted error kind
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            ex.error = errors.classify(exc, connecting=self._writer is None)
            self.close()
        ex.end = time.perf_counter()
        if ex.response is not None:
            self.jar.absorb(ex.response.set_cookies)
            if not ex.response.keep_alive:
                self.close()
        return ex

    async def _exchange(self, ex: Exchange, data: bytes) -> None:
        for attempt in (0, 1):
            if self._writer is None:
                t0 = time.perf_counter()
                await self._connect()
                ex.connect += time.perf_counter() - t0
            reused = self._reused
            try:
                self._writer.write(data)  # type: ignore[union-attr]
                await self._writer.drain()  # type: ignore[union-attr]
                ex.response = await self._read_response(ex)
                self._reused = True
                return
            except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError) as exc:
                stale = ex.first_byte is None and (
                    not isinstance(exc, asyncio.IncompleteReadError) or not exc.partial
                )
                self.close()
                if reused and stale and attempt == 0:
                    continue  # the server closed an idle keep-alive connection: retry once
                if stale and isinstance(exc, asyncio.IncompleteReadError):
                    raise RequestError(
                        errors.CONNECTION_CLOSED, "connection closed before any response"
                    ) from exc
                raise

    async def _connect(self) -> None:
        t = self.target
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                self._reader, self._writer = await asyncio.open_connection(
                    t.connect_host,
                    t.port,
                    ssl=t.tls,
                    server_hostname=t.server_hostname,
                    limit=_HEAD_LIMIT,
                )
        except TimeoutError as exc:
            raise RequestError(errors.CONNECT_TIMEOUT, "connect timed out") from exc
        self._reused = False

    async def _read_response(self, ex: Exchange) -> Response:
        reader = self._reader
        assert reader is not None
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if ex.first_byte is None:
                ex.first_byte = time.perf_counter()
            status, headers, set_cookies, version = _parse_head(head)
            ex.status = status
            if status >= 200 or status == 101:
                break  # 1xx interim responses are skipped
        conn = headers.get("connection", "").lower()
        keep_alive = ("close" not in conn) if version == b"HTTP/1.1" else ("keep-alive" in conn)
        if status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = await self._read_chunked(reader)
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError as exc:
                raise RequestError(errors.PROTOCOL, "invalid Content-Length") from exc
            if length < 0:
                raise RequestError(errors.PROTOCOL, "invalid Content-Length")
            if length > self.max_body:
                raise RequestError(errors.TOO_LARGE, f"body of {length} bytes exceeds the limit")
            body = await reader.readexactly(length)
        else:
            body = await self._read_to_eof(reader)
            keep_alive = False
        return Response(status, headers, set_cookies, body, len(head), keep_alive)

    async def _read_chunked(self, reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = await reader.readuntil(b"\r\n")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise RequestError(errors.PROTOCOL, "invalid chunk size") from exc
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > self.max_body:
                raise RequestError(errors.TOO_LARGE, "chunked body exceeds the limit")
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    async def _read_to_eof(self, reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        total = 0
        while chunk := await reader.read(1 << 16):
            total += len(chunk)
            if total > self.max_body:
                raise RequestError(errors.TOO_LARGE, "body exceeds the limit")
            parts.append(chunk)
        return b"".join(parts)


def _parse_head(head: bytes) -> tuple[int, dict[str, str], list[str], bytes]:
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        raise RequestError(errors.PROTOCOL, "the server did not answer with HTTP")
    try:
        status = int(parts[1])
    except ValueError as exc:
        raise RequestError(errors.PROTOCOL, "invalid HTTP status line") from exc
    headers: dict[str, str] = {}
    set_cookies: list[str] = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise RequestError(errors.PROTOCOL, "invalid HTTP header line")
        key = name.strip().lower().decode("latin-1")
        text = value.strip().decode("latin-1")
        if key == "set-cookie":
            set_cookies.append(text)
        else:
            headers[key] = text
    return status, headers, set_cookies, parts[0]
