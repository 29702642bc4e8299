"""Small, real, deterministic PNG pictures derived from a prompt and a seed.

The twin cannot run Stable Diffusion, but clients must receive genuine images: a 64 × 64 RGB PNG
whose colours and shapes come from SHA-256 of (seed, prompt), so the same request always yields
the same picture and different seeds differ visibly. The prompt only feeds the hash.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from functools import lru_cache

SIZE = 64


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


@lru_cache(maxsize=1024)
def picture(prompt: str, seed: int, size: int = SIZE) -> bytes:
    """PNG bytes: a two-colour gradient with three discs, all chosen by the hash."""
    d = hashlib.sha256(f"{seed}\0{prompt}".encode()).digest()
    top, bottom = d[0:3], d[3:6]
    discs = [(d[6 + 4 * k] % size, d[7 + 4 * k] % size, 4 + d[8 + 4 * k] % (size // 4),
              d[9 + 4 * k : 10 + 4 * k] + d[18 + k : 20 + k]) for k in range(3)]  # fmt: skip
    rows = []
    for y in range(size):
        f = y / (size - 1)
        base = bytes(round(a + (b - a) * f) for a, b in zip(top, bottom, strict=True))
        row = bytearray(base * size)
        for cx, cy, r, colour in discs:
            dy = y - cy
            if abs(dy) > r:
                continue
            half = int((r * r - dy * dy) ** 0.5)
            for x in range(max(0, cx - half), min(size, cx + half + 1)):
                row[3 * x : 3 * x + 3] = colour
        rows.append(b"\x00" + bytes(row))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"".join([b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", header),
                     _chunk(b"IDAT", zlib.compress(b"".join(rows), 6)), _chunk(b"IEND", b"")])
