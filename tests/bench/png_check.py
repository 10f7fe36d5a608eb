#!/usr/bin/env python3
"""Checks a screenshot of `usine report`: the page is not blank and its charts are drawn.
Decodes the PNG with zlib only (8-bit RGB or RGBA, not interlaced: what chromium writes),
then counts pixels of the colours the charts are drawn with (cli/report_html.h): usine's
bars, the roofline points and the roofline ceilings. usage: png_check.py FILE.png;
exit 0 when every chart colour covers enough pixels, 1 otherwise."""
import struct
import sys
import zlib

CHART_COLOURS = {
    "usine bars": (0xD1, 0x49, 0x5B),
    "roofline points": (0x7B, 0x2C, 0xBF),
    "roofline ceilings": (0x1B, 0x99, 0x8B),
}
MIN_PIXELS = 150


def read_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}")
    return width, height, 3 if colour == 2 else 4, zlib.decompress(idat)


def unfilter(width, height, bpp, raw):
    """The PNG filters (RFC 2083, 6): rows of bytes, each after its filter type byte."""
    stride, rows, prev, pos = width * bpp, [], bytearray(width * bpp), 0
    for _ in range(height):
        kind, line = raw[pos], bytearray(raw[pos + 1:pos + 1 + stride])
        pos += 1 + stride
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 255
        rows.append(line)
        prev = line
    return rows


def main():
    width, height, bpp, raw = read_png(sys.argv[1])
    rows = unfilter(width, height, bpp, raw)
    counts = {name: 0 for name in CHART_COLOURS}
    non_white, colours = 0, set()
    for line in rows:
        for i in range(0, width * bpp, bpp):
            px = (line[i], line[i + 1], line[i + 2])
            if px != (255, 255, 255):
                non_white += 1
                colours.add(px)
            for name, want in CHART_COLOURS.items():
                if all(abs(px[k] - want[k]) <= 3 for k in range(3)):
                    counts[name] += 1
    ok = True
    share = non_white / (width * height)
    print(f"{sys.argv[1]}: {width}x{height}, {100 * share:.1f}% drawn, {len(colours)} colours")
    if share < 0.02 or len(colours) < 20:
        print("FAIL: the page is blank")
        ok = False
    for name, n in counts.items():
        print(f"  {name}: {n} pixels")
        if n < MIN_PIXELS:
            print(f"FAIL: no {name} drawn (fewer than {MIN_PIXELS} pixels of that colour)")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
