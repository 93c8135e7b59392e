# URL paths both ways (RFC 3986): %-decoding a request path so that it cannot
# escape ROOT, %-encoding a file name for a link or a Location, and request
# targets in absolute-form. The common case (a plain ASCII path) never gets here:
# static.decode_path() and http11 answer it themselves, so a board loads this
# module only for the odd path, then drops it.
from microcgi.errors import Forbidden, ProtocolError


def _hex_digit(c):
    # int(x, 16) would also accept "+f", " f" and "f_f"; RFC 3986 HEXDIG is stricter.
    if 0x30 <= c <= 0x39:
        return c - 0x30
    c |= 0x20  # ASCII lower case
    if 0x61 <= c <= 0x66:
        return c - 0x57
    return -1


def _valid_utf8(b):
    # MicroPython's decoder accepts overlong forms ("\xc0\xaf" becomes "/",
    # "\xc0\xae\xc0\xae" becomes "..") and some ports do not check at all, so the
    # path is checked against RFC 3629 section 4 here, identically on both.
    i = 0
    n = len(b)
    while i < n:
        c = b[i]
        if c < 0x80:
            i += 1
            continue
        if 0xC2 <= c <= 0xDF:
            k, lo, hi = 1, 0x80, 0xBF
        elif c == 0xE0:
            k, lo, hi = 2, 0xA0, 0xBF  # no overlong 3-byte forms
        elif c == 0xED:
            k, lo, hi = 2, 0x80, 0x9F  # no UTF-16 surrogates
        elif 0xE1 <= c <= 0xEF:
            k, lo, hi = 2, 0x80, 0xBF
        elif c == 0xF0:
            k, lo, hi = 3, 0x90, 0xBF  # no overlong 4-byte forms
        elif 0xF1 <= c <= 0xF3:
            k, lo, hi = 3, 0x80, 0xBF
        elif c == 0xF4:
            k, lo, hi = 3, 0x80, 0x8F  # nothing above U+10FFFF
        else:
            return False
        if i + k >= n or not lo <= b[i + 1] <= hi:
            return False
        for j in range(i + 2, i + k + 1):
            if not 0x80 <= b[j] <= 0xBF:
                return False
        i += k + 1
    return True


def decode_path(raw_path):
    """static.decode_path() for any path (see there)."""
    if raw_path[:1] != b"/":
        raise ProtocolError("static: path must start with /")
    out = bytearray()
    high = False
    i = 0
    n = len(raw_path)
    while i < n:
        c = raw_path[i]
        if c == 0x25:  # "%"
            if i + 2 >= n:
                raise ProtocolError("static: truncated %-escape")
            hi = _hex_digit(raw_path[i + 1])
            lo = _hex_digit(raw_path[i + 2])
            if hi < 0 or lo < 0:
                raise ProtocolError("static: bad %-escape")
            c = hi * 16 + lo
            if c in (0x00, 0x2F, 0x5C):
                raise Forbidden("static: encoded NUL, slash or backslash")
            i += 3
        else:
            if c in (0x00, 0x5C):
                raise Forbidden("static: NUL or backslash in path")
            i += 1
        if c >= 0x80:
            high = True
        out.append(c)
    if high and not _valid_utf8(out):
        raise ProtocolError("static: path is not UTF-8")
    segments = str(out, "utf-8").split("/")
    out = None
    parts = []
    for seg in segments:
        if seg == "..":
            raise Forbidden("static: '..' in path")
        if seg and seg != ".":
            parts.append(seg)
    # RFC 3986 section 5.2.4: a final "." or empty segment leaves the path ending in "/"
    path = "/" + "/".join(parts)
    if parts and segments[-1] in ("", "."):
        path += "/"
    return path


def quote_path(s):
    """Percent-encode s (str) for a URL path: RFC 3986 unreserved characters and "/"
    stay, every other UTF-8 byte becomes %XX. Raises UnicodeError for a str that
    has no UTF-8 form (CPython's surrogate-escaped file names)."""
    out = bytearray()
    for c in s.encode("utf-8"):
        if 0x61 <= c <= 0x7A or 0x41 <= c <= 0x5A or 0x30 <= c <= 0x39 or c in b"-._~/":
            out.append(c)
        else:
            out.extend(b"%%%02X" % c)
    return str(out, "utf-8")


def origin_form(method, target):
    """The path (and query) of a request target that does not start with "/".

    Absolute-form (RFC 9112 3.2.2) keeps only its path and query; an empty path is
    "/" (RFC 9112 3.3), and the query stays. "*" is kept for OPTIONS; anything else
    raises ProtocolError.
    """
    if target[:7].lower() == b"http://" or target[:8].lower() == b"https://":
        rest = target[target.find(b"//") + 2 :]
        slash = rest.find(b"/")
        q = rest.find(b"?")
        if q >= 0 and (slash < 0 or q < slash):
            return b"/" + rest[q:]
        return b"/" if slash < 0 else rest[slash:]
    if target == b"*" and method == b"OPTIONS":
        return target
    raise ProtocolError("malformed request line")
