#!/usr/bin/env python3
"""Draws assets/icon.png (256x256): an upload arrow over a row of part cells.

Standard library only (zlib + struct), so it runs anywhere: python3 assets/make_icon.py
"""
import os
import struct
import zlib

SIZE = 256
BACKGROUND = (30, 41, 59)
ARROW = (255, 255, 255)
CELL_DONE = (72, 190, 110)
CELL_FLIGHT = (66, 150, 250)
CELL_QUEUED = (90, 100, 120)


def inside_rounded_square(x, y, margin=8, radius=48):
    lo, hi = margin, SIZE - 1 - margin
    if not (lo <= x <= hi and lo <= y <= hi):
        return False
    cx = min(max(x, lo + radius), hi - radius)
    cy = min(max(y, lo + radius), hi - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius ** 2


def inside_arrow(x, y):
    # Head: triangle with apex at (128, 40), base y=120 from x=68 to x=188.
    if 40 <= y <= 120:
        half = (y - 40) * 60 / 80
        if abs(x - 128) <= half:
            return True
    # Shaft.
    return 104 <= x <= 152 and 118 <= y <= 172


def cell_color(x, y):
    # Five cells along the bottom: done, done, in flight (half), queued, queued.
    if not 190 <= y <= 222:
        return None
    for index in range(5):
        left = 40 + index * 36
        if left <= x <= left + 28:
            if index < 2:
                return CELL_DONE
            if index == 2:
                return CELL_FLIGHT if x <= left + 14 else CELL_QUEUED
            return CELL_QUEUED
    return None


def pixel(x, y):
    if not inside_rounded_square(x, y):
        return (0, 0, 0, 0)
    if inside_arrow(x, y):
        return ARROW + (255,)
    cell = cell_color(x, y)
    if cell:
        return cell + (255,)
    return BACKGROUND + (255,)


def png(width, height, rows):
    def chunk(kind, data):
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + bytes(v for px in row for v in px) for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


if __name__ == "__main__":
    rows = [[pixel(x, y) for x in range(SIZE)] for y in range(SIZE)]
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "icon.png")
    with open(out, "wb") as f:
        f.write(png(SIZE, SIZE, rows))
    print(f"wrote {out}")
