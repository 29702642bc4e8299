"""A small Prometheus remote-write (protocol 1.0) sender, for what a scrape cannot write.

The demo uses it to end backfilled history honestly: OpenMetrics text (what ``promtool``
backfills) cannot carry Prometheus' staleness marker, so series of pods that were gone when the
history ended would otherwise be carried forward for the 5-minute lookback as flat lines. A
staleness marker is a NaN with one special bit pattern (``StaleNaN``); a remote-write receiver
(``--web.enable-remote-write-receiver``) stores it like a scrape would.

The wire format is a snappy-compressed protobuf ``WriteRequest`` (spec:
https://prometheus.io/docs/specs/prw/remote_write_spec/). Both encoders are written out here so
the light install needs no protobuf or snappy library; the snappy stream is valid but made of
literals only (no compression), which every decoder accepts.
"""

from __future__ import annotations

import struct
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence

from sdobs.prom.errors import PrometheusHTTPError, PrometheusUnreachable

#: Prometheus' staleness marker: a NaN that no arithmetic produces (value.StaleNaN).
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
_STALE_BITS = struct.pack("<Q", 0x7FF0000000000002)
#: One series to write: its labels (``__name__`` included) and (value, unix ms) samples, where a
#: value of None is the staleness marker.
Series = tuple[Mapping[str, str], Sequence[tuple[float | None, int]]]


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1  # protobuf encodes negative int64 as ten-byte two's complement
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _sample(value: float | None, timestamp_ms: int) -> bytes:
    bits = _STALE_BITS if value is None else struct.pack("<d", value)
    return b"\x09" + bits + b"\x10" + _varint(timestamp_ms)


def encode_write_request(series: Iterable[Series]) -> bytes:
    """The protobuf ``WriteRequest`` for (labels, [(value, timestamp ms)]) pairs.

    A value of ``None`` is the staleness marker. Labels are sorted by name, as the spec requires.
    """
    out = bytearray()
    for labels, samples in series:
        ts = bytearray()
        for name in sorted(labels):
            ts += _field(1, _field(1, name.encode()) + _field(2, str(labels[name]).encode()))
        for value, when in samples:
            ts += _field(2, _sample(value, when))
        out += _field(1, bytes(ts))
    return bytes(out)


def snappy_literal(data: bytes) -> bytes:
    """``data`` as a snappy block made of literal elements (valid snappy, not compressed)."""
    out = bytearray(_varint(len(data)))
    for i in range(0, len(data), 1 << 16):
        chunk = data[i:i + (1 << 16)]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 1 << 8:
            out += bytes((60 << 2, n))
        else:
            out += bytes((61 << 2,)) + n.to_bytes(2, "little")
        out += chunk
    return bytes(out)


def push(url: str, series: Iterable[Series], *, timeout: float = 30.0) -> None:
    """Send samples to a remote-write receiver (``<prometheus>/api/v1/write``)."""
    body = snappy_literal(encode_write_request(series))
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
        "X-Prometheus-Remote-Write-Version": "0.1.0", "User-Agent": "sdobs",
    })
    try:
        with urllib.request.urlopen(req, timeout=timeout):
            pass
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode(errors="replace").strip()
        raise PrometheusHTTPError(
            f"{url} refused the remote write ({exc.code}: {detail}); start Prometheus with "
            "--web.enable-remote-write-receiver", url=url, status=exc.code) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise PrometheusUnreachable(f"cannot remote-write to {url}: {exc}; check that "
                                    "Prometheus runs there", url=url) from exc


def mark_stale(url: str, ended: Iterable[tuple[Mapping[str, str], int]], *,
               batch: int = 5000, timeout: float = 30.0) -> int:
    """Write a staleness marker for each (labels, timestamp ms); returns how many were sent."""
    sent, chunk = 0, []
    for labels, when in ended:
        chunk.append((labels, [(None, when)]))
        if len(chunk) >= batch:
            push(url, chunk, timeout=timeout)
            sent, chunk = sent + len(chunk), []
    if chunk:
        push(url, chunk, timeout=timeout)
        sent += len(chunk)
    return sent
