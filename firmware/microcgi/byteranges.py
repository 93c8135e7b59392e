# Several byte ranges of a static file (RFC 9110 sections 14.1.2 and 14.6): the
# Range parse for more than one range-spec, and the 206 multipart/byteranges answer
# with its body as a file for the server's file pump. Apart from conditional.py so
# that a board loads this code only for such a Range (compat.lazy_call()).
import os

from microcgi.compat import const, ticks_ms
from microcgi.conditional import _one

# More range-specs than this in one Range: the whole file instead (RFC 9110 14.2 lets a
# server ignore Range; many small ranges are a known denial of service).
MAX_RANGES = const(16)


def _merge(ranges):
    """ranges sorted, overlapping and adjacent ones joined (RFC 9110 15.3.7.2)."""
    ranges = sorted(ranges)
    out = [ranges[0]]
    for start, end in ranges[1:]:
        last = out[-1]
        if start <= last[1]:
            if end > last[1]:
                out[-1] = (last[0], end)
        else:
            out.append((start, end))
    return out


def several(specs, size):
    """conditional's answer to a Range of several range-specs (bytes, 2 or more).

    Returns (status, start, end) as conditional.evaluate(): (206, None, [(start, end),
    ...]) for ranges that stay apart, in the order asked for unless some were joined
    (RFC 9110 15.3.7.2); one range when they all overlap or touch; 416 when none is
    satisfiable (the others are left out, 14.1.1); None (the whole file) for more than
    MAX_RANGES, an invalid range-spec, or ranges adding up to more than the file.
    """
    if len(specs) > MAX_RANGES:
        return None
    ranges = []
    total = 0
    for spec in specs:
        r = _one(spec, size)
        if r is None:
            return None  # one invalid range-spec: the header is ignored
        if r:
            ranges.append(r)
            total += r[1] - r[0]
    if not ranges:
        return (416, 0, 0)
    if size == 0:
        return (200, 0, 0)  # suffixes of the empty file (see conditional._range)
    if len(ranges) == 1:
        return (206, ranges[0][0], ranges[0][1])
    if total > size:
        return None  # more bytes than the whole file: it is cheaper sent whole
    merged = _merge(ranges)
    if len(merged) == 1:
        return (206, merged[0][0], merged[0][1])
    return (206, None, merged if len(merged) < len(ranges) else ranges)


# -- multipart/byteranges (RFC 9110 section 14.6) --------------------------------------


def _boundary():
    # RFC 2046 5.1.1: the boundary must not occur in the parts; 16 random hex digits
    # make that as unlikely as a collision of two such values
    rand = getattr(os, "urandom", None)
    raw = rand(8) if rand is not None else b"%08x" % (ticks_ms() & 0xFFFFFFFF)
    return b"".join([b"%02x" % c for c in raw])


def multipart(conn, fs, size, ranges, raw):
    """Queue a 206 multipart/byteranges answer of the ranges of file fs (a GET).

    raw is the file's encoded headers (Server.file_entry()'s, Content-Type among
    them): the file's type goes into each part, the others into the head. The
    length is computed up front; the body is sent from the file by the server's
    file pump, through a Parts object (so never more than a buffer in RAM).
    """
    at = raw.find(b"Content-Type: ")
    eol = raw.find(b"\r\n", at)
    ctype = raw[at + 14 : eol]
    raw = raw[:at] + raw[eol + 2 :]
    boundary = _boundary()
    pieces = []
    length = 0
    for start, end in ranges:
        part = b"%s--%s\r\nContent-Type: %s\r\nContent-Range: bytes %d-%d/%d\r\n\r\n" % (
            b"\r\n" if pieces else b"",
            boundary,
            ctype,
            start,
            end - 1,
            size,
        )
        pieces.append(part)
        pieces.append((start, end))
        length += len(part) + end - start
    tail = b"\r\n--%s--\r\n" % boundary
    pieces.append(tail)
    length += len(tail)
    f = open(fs, "rb")  # before the head: a file that cannot be opened gets no 206
    conn.file = Parts(f, pieces)
    conn.file_left = length
    headers = [(b"Content-Type", b"multipart/byteranges; boundary=" + boundary)]
    conn.head(206, "Partial Content", headers, length, raw=raw)


class Parts:
    """A multipart body as a file for the server's file pump (readinto, seek, close):
    the part heads (bytes) and the file's ranges ((start, end) tuples), in order."""

    def __init__(self, f, pieces):
        self.f = f
        self.pieces = pieces
        self.pos = 0  # in the whole body

    def readinto(self, buf):
        want = len(buf)
        n = 0
        pos = self.pos
        f = self.f
        for piece in self.pieces:
            if type(piece) is bytes:
                size = len(piece)
            else:
                size = piece[1] - piece[0]
            if pos >= size:
                pos -= size
                continue
            take = size - pos if size - pos < want - n else want - n
            if type(piece) is bytes:
                buf[n : n + take] = memoryview(piece)[pos : pos + take]
            else:
                f.seek(piece[0] + pos)
                got = f.readinto(buf[n : n + take]) or 0
                if got < take:  # the file shrank: the server gives up at the next read
                    n += got
                    break
            n += take
            pos = 0
            if n == want:
                break
        self.pos += n
        return n

    def seek(self, offset, whence=0):
        self.pos = offset + (self.pos if whence == 1 else 0)

    def close(self):
        self.f.close()
