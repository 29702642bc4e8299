"""A zero-latency A1111 txt2img endpoint for the load tester's benchmark: one canned response.

Run as ``python benchmarks/loadtest_server.py PORT``; it prints ``ready PORT`` and serves on
127.0.0.1 until killed. It answers every request on a keep-alive connection at once with a
small real PNG, so what is measured is the client.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import sys
import zlib


def _png() -> bytes:
    raw = b"\x00\x80\x40\x20\x80\x40\x20" * 2

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + (chunk(b"IEND", b""))
    )


BODY = json.dumps(
    {"images": [base64.b64encode(_png()).decode()], "parameters": {}, "info": '{"seed": 1}'}
).encode()
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Process-Time: 0.000010\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


class _Server(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        out = []
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            length = _content_length(buf[:end])
            if len(buf) < end + 4 + length:
                break
            buf = buf[end + 4 + length :]
            out.append(RESPONSE)
        self.buf = buf
        if out:
            self.transport.write(b"".join(out))  # type: ignore[attr-defined]


async def main(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(
        _Server, "127.0.0.1", port, backlog=1024
    )
    print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
