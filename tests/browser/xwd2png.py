#!/usr/bin/python3
"""Convert an X window dump (xwd -root, TrueColor 24/32 bits per pixel) to PNG.

    xwd2png.py <in.xwd> <out.png>

Only the standard library: the browser test saves its screenshot with xwd
(x11-apps) and needs no image package.  The XWD header is 25 big-endian
32-bit fields, then the window name up to header_size, then ncolors colour
entries of 12 bytes, then height rows of bytes_per_line.
"""
import struct
import sys
import zlib


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    raw = open(sys.argv[1], "rb").read()
    f = struct.unpack(">25I", raw[:100])
    header_size, version, depth, width, height = f[0], f[1], f[3], f[4], f[5]
    byte_order, bpp, bpl, visual = f[7], f[11], f[12], f[13]
    masks, ncolors = f[14:17], f[19]
    if version != 7 or visual not in (4, 5) or bpp not in (24, 32) or depth < 24:
        sys.exit("xwd2png: unsupported dump (version %d, class %d, %d bpp)" % (version, visual, bpp))
    data = raw[header_size + 12 * ncolors:]
    if len(data) < bpl * height:
        sys.exit("xwd2png: dump is truncated")
    step = bpp // 8
    shifts = [(m & -m).bit_length() - 1 for m in masks]
    rows = bytearray()
    order = "<" if byte_order == 0 else ">"
    fmt = order + ("I" if step == 4 else "")
    for y in range(height):
        rows.append(0)
        line = data[y * bpl:y * bpl + width * step]
        if step == 4:
            px = struct.unpack(order + "%dI" % width, line)
        else:
            px = [int.from_bytes(line[i:i + 3], "little" if byte_order == 0 else "big")
                  for i in range(0, len(line), 3)]
        for p in px:
            rows += bytes(((p & masks[0]) >> shifts[0], (p & masks[1]) >> shifts[1],
                           (p & masks[2]) >> shifts[2]))
    del fmt

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body +
                struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    png = (b"\x89PNG\r\n\x1a\n" +
           chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
           chunk(b"IDAT", zlib.compress(bytes(rows), 6)) + chunk(b"IEND", b""))
    open(sys.argv[2], "wb").write(png)


if __name__ == "__main__":
    main()
