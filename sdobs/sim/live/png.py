"""Real, deterministic PNG pictures of any size, derived from a prompt and a seed.

The twin cannot run Stable Diffusion, but clients must receive genuine images of the size they
asked for: an 8-bit palette PNG whose two background colours and three discs come from SHA-256
of (seed, prompt), so the same request always yields the same picture and different seeds
differ visibly. The design is drawn on a 64 × 64 grid and scaled to width × height by nearest
neighbour, so a 2048 × 2048 picture costs 64 distinct rows and a zlib pass over long runs of
equal bytes (it compresses to a few kilobytes). The prompt only feeds the hash.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from functools import lru_cache

SIZE = 64  # the design grid
#: Largest side the twin draws (the WebUI's sliders end at 2048; hires fix doubles that).
MAX_SIDE = 8192


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _design(prompt: str, seed: int) -> tuple[bytes, list[bytes]]:
    """The palette (4 RGB colours) and the 64 × 64 grid of palette indices."""
    d = hashlib.sha256(f"{seed}\0{prompt}".encode()).digest()
    palette = d[0:3] + d[3:6] + d[6:9] + d[9:12]
    discs = [(d[12 + 3 * k] % SIZE, d[13 + 3 * k] % SIZE, 4 + d[14 + 3 * k] % (SIZE // 4),
              2 + k % 2) for k in range(3)]
    grid = []
    for y in range(SIZE):
        row = bytearray([0 if y < SIZE // 2 else 1]) * SIZE
        for cx, cy, r, colour in discs:
            dy = y - cy
            if abs(dy) <= r:
                half = int((r * r - dy * dy) ** 0.5)
                for x in range(max(0, cx - half), min(SIZE, cx + half + 1)):
                    row[x] = colour
        grid.append(bytes(row))
    return palette, grid


@lru_cache(maxsize=256)
def picture(prompt: str, seed: int, width: int = SIZE, height: int = SIZE) -> bytes:
    """PNG bytes of ``width`` × ``height`` pixels (each clamped to 1..MAX_SIDE)."""
    width = min(max(int(width), 1), MAX_SIDE)
    height = min(max(int(height), 1), MAX_SIDE)
    palette, grid = _design(prompt, seed)
    xs = [x * SIZE // width for x in range(width)]
    rows: dict[int, bytes] = {}
    comp = zlib.compressobj(6)
    parts = []
    for y in range(height):
        gy = y * SIZE // height
        line = rows.get(gy)
        if line is None:
            src = grid[gy]
            line = rows[gy] = b"\x00" + bytes(src[x] for x in xs)
        parts.append(comp.compress(line))
    parts.append(comp.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    return b"".join([b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", header), _chunk(b"PLTE", palette),
                     _chunk(b"IDAT", b"".join(parts)), _chunk(b"IEND", b"")])
