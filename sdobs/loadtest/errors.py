"""Error kinds a load-test request can end in, and the one place that maps exceptions onto them.

A kind is a short, fixed string so that summaries, records and metric labels group failures the
same way; the detail beside it is for humans and never carries a prompt or an image.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl

from sdobs.errors import InputError

# Transport: no usable HTTP response arrived.
DNS = "dns"
CONNECTION_REFUSED = "connection_refused"
CONNECTION_RESET = "connection_reset"
CONNECTION_CLOSED = "connection_closed"
CONNECT_TIMEOUT = "connect_timeout"
TIMEOUT = "timeout"
TLS = "tls"
NETWORK = "network"
# A response arrived but it cannot be used.
TRUNCATED = "truncated"
PROTOCOL = "protocol"
TOO_LARGE = "too_large"
BAD_JSON = "bad_json"
BAD_RESPONSE = "bad_response"
BAD_BASE64 = "bad_base64"
# The run stopped while the request was in flight; not a failure of the service.
CANCELLED = "cancelled"
# A bug in the load tester itself; counted so that a run never dies of it.
CLIENT = "client"


def http_status(status: int) -> str:
    """Kind for a complete response whose status is not 2xx, e.g. ``http_503``."""
    return f"http_{status}"


def status_class(status: int) -> str:
    """Status class for metric labels: ``2xx`` … ``5xx``, or ``none`` when no response arrived."""
    if status < 100:
        return "none"
    return f"{status // 100}xx"


class LoadTestConfigError(InputError):
    """A load-test setting is out of range or inconsistent; the message is one sentence."""


class RequestError(Exception):
    """A request failed in a way the summary counts under ``kind``."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


def classify(exc: BaseException, *, connecting: bool = False) -> RequestError:
    """Map an exception raised while sending or receiving onto an error kind."""
    if isinstance(exc, RequestError):
        return exc
    if isinstance(exc, socket.gaierror):
        return RequestError(DNS, f"name resolution failed ({exc.strerror or exc})")
    if isinstance(exc, ConnectionRefusedError):
        return RequestError(CONNECTION_REFUSED, "connection refused")
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return RequestError(CONNECTION_RESET, "connection reset by peer")
    if isinstance(exc, TimeoutError):
        if connecting:
            return RequestError(CONNECT_TIMEOUT, "connect timed out")
        return RequestError(TIMEOUT, "no complete response within the client timeout")
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return RequestError(TLS, f"TLS failed ({type(exc).__name__})")
    if isinstance(exc, asyncio.IncompleteReadError):
        return RequestError(TRUNCATED, f"connection closed after {len(exc.partial)} bytes")
    if isinstance(exc, asyncio.LimitOverrunError):
        return RequestError(PROTOCOL, "response head too large")
    if isinstance(exc, OSError):
        name = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return RequestError(NETWORK, f"unreachable ({name})")
        return RequestError(NETWORK, f"socket error ({name})")
    return RequestError(CLIENT, f"unexpected {type(exc).__name__}")
