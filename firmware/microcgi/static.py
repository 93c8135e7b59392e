# Static files, the pure half (SPEC section 4): request path decoding that cannot
# escape ROOT, the MIME table, conditional and range evaluation (RFC 9110 sections
# 13 and 14), and the directory listing. server.py does all the I/O.
from microcgi.compat import parse_http_date
from microcgi.errors import Forbidden, ProtocolError

# --- request path -----------------------------------------------------------------


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
    """Decode and normalise the path of a request target.

    Args:
        raw_path: the path part of the request target as bytes (no query).
    Returns:
        The %-decoded (once), normalised path as str: "//" and "/./" collapsed,
        a trailing slash kept, e.g. "/a/b/".
    Raises:
        ProtocolError (400): no leading "/", a malformed %-escape, invalid UTF-8.
        Forbidden (403): NUL (raw or %00), "%2F" or "%5C" (an encoded slash would
            let one segment name a file in another folder), a raw backslash, or a
            ".." segment after decoding. ".." is refused even when it would stay
            inside ROOT: no legitimate link needs it.
    """
    # the common case, a plain ASCII path with nothing to decode or collapse
    if (
        raw_path[:1] == b"/"
        and b"%" not in raw_path
        and b"/." not in raw_path
        and b"//" not in raw_path
        and b"\\" not in raw_path
        and b"\x00" not in raw_path
        and max(raw_path) < 0x80
    ):
        return raw_path.decode()
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


# --- MIME types ---------------------------------------------------------------------

_OCTET = b"application/octet-stream"
# One string instead of a dict: a board keeps one constant instead of ~70 objects.
# Each entry is " ext type;" ; the types with parameters use "|" for "; ".
_MIME = (
    " html text/html|charset=utf-8; htm text/html|charset=utf-8;"
    " txt text/plain|charset=utf-8; css text/css; js text/javascript; mjs text/javascript;"
    " json application/json; map application/json; xml application/xml;"
    " csv text/csv|charset=utf-8; md text/markdown|charset=utf-8; svg image/svg+xml;"
    " png image/png; jpg image/jpeg; jpeg image/jpeg; gif image/gif; ico image/x-icon;"
    " webp image/webp; avif image/avif; wasm application/wasm; pdf application/pdf;"
    " zip application/zip; gz application/gzip; tar application/x-tar; mp3 audio/mpeg;"
    " ogg audio/ogg; wav audio/wav; mp4 video/mp4; webm video/webm; woff font/woff;"
    " woff2 font/woff2; ttf font/ttf; otf font/otf;"
)  # js: RFC 9239


def mime_type(name):
    """Content-Type (bytes) for a file name or path, from its lower-cased extension."""
    if not isinstance(name, str):
        name = str(name, "utf-8")
    dot = name.rfind(".")
    # no dot, or only the leading dot of a hidden name (".profile")
    if dot <= name.rfind("/") + 1:
        return _OCTET
    ext = name[dot + 1 :].lower()
    if " " in ext or ";" in ext:
        return _OCTET
    i = _MIME.find(" " + ext + " ")
    if i < 0:
        return _OCTET
    i += len(ext) + 2
    return _MIME[i : _MIME.find(";", i)].replace("|", "; ").encode()


# --- validators, conditionals, ranges -----------------------------------------------


def etag(size, mtime):
    """Strong entity-tag for a file: b'"<mtime hex>-<size hex>"' (RFC 9110 section 8.8.3)."""
    return b'"%x-%x"' % (int(mtime), int(size))


def _opaque(t):
    # weak comparison (RFC 9110 section 8.8.3.2) ignores the W/ prefix
    return t[2:] if t[:2] == b"W/" else t


def _none_match(value, tag):
    # If-None-Match = "*" / #entity-tag. An entity-tag may itself hold a comma,
    # but ours never does, so splitting on commas cannot make a false match.
    mine = _opaque(tag)
    for item in value.split(b","):
        item = item.strip()
        if item == b"*" or _opaque(item) == mine:
            return True
    return False


def _if_range_ok(value, tag, mtime):
    # RFC 9110 section 13.1.5: an entity-tag starts with DQUOTE (or W/) and needs a
    # strong match, so a weak tag never matches; otherwise it is an HTTP-date that
    # must equal Last-Modified exactly.
    value = value.strip()
    if value[:1] == b'"' or value[:2] == b"W/":
        return value == tag
    return parse_http_date(value) == int(mtime)


def _int(digits):
    # 1*DIGIT only: int() alone would accept "+5", " 5" and "5_0"
    digits = digits.strip()
    if not digits or not digits.isdigit():
        return -1
    return int(digits)


def _range(value, size):
    """(status, start, end) for a Range value, or None to ignore it and send 200."""
    unit, eq, spec = value.partition(b"=")
    if not eq or unit.strip().lower() != b"bytes":
        return None  # unknown range unit: ignore (RFC 9110 section 14.2)
    specs = [s for s in spec.split(b",") if s.strip()]  # empty list elements are allowed
    if len(specs) != 1:
        return None  # several ranges (or none): we may send the whole file instead
    first, dash, last = specs[0].partition(b"-")
    if not dash:
        return None
    if not first.strip():
        # suffix-range "-n": the last n bytes, or the whole file when it is shorter
        n = _int(last)
        if n < 0:
            return None
        if n == 0:
            return (416, 0, 0)
        if size == 0:
            # RFC 9110 section 14.1.1 calls this satisfiable, but a 206 cannot describe
            # zero bytes (Content-Range has no empty form): send the empty file as 200.
            return (200, 0, 0)
        return (206, max(size - n, 0), size)
    start = _int(first)
    if start < 0:
        return None
    if last.strip():
        end = _int(last)
        if end < start:
            return None  # invalid range-spec (also non-digits): ignore the header
        end += 1
    else:
        end = size
    if start >= size:
        # first-pos at or past the end (so any first-pos on an empty file, "bytes=0-"
        # included) does not overlap the representation: 416, with
        # Content-Range "bytes */size" added by the server.
        return (416, 0, 0)
    return (206, start, min(end, size))


def evaluate(method, get_header, size, mtime, tag):
    """Decide the answer to a GET or HEAD of a static file.

    Preconditions are evaluated in RFC 9110 section 13.2.2 order, then Range:
      1. If-None-Match (weak comparison; "*" matches any existing file) -> 304.
         When it is present, If-Modified-Since is not looked at (section 13.1.3).
      2. If-Modified-Since, an IMF-fixdate; mtime <= date -> 304. An invalid date
         (or a list of dates) is ignored.
      3. Range, for GET only (HEAD and others ignore it, section 14.2), and only when
         there is no If-Range or If-Range matches (strong ETag match, or the exact
         Last-Modified date). One byte range: "a-b" (b clamped to size - 1), "a-",
         "-n" (the last n bytes; all of them if n > size). Several ranges, another
         unit or a malformed value -> the whole file (200), as the RFC allows.
         A first-pos at or beyond the end, or "-0" -> 416.
    If-Match and If-Unmodified-Since are not evaluated: a static GET/HEAD would only
    turn a success into 412, and the server offers no unsafe methods on files.

    Args:
        method: the request method, bytes or str ("GET", "HEAD"); other methods get 200.
        get_header: function(lower-case name bytes) -> value bytes or None.
        size, mtime: the file's size in bytes and its unix mtime.
        tag: the file's etag(size, mtime).
    Returns:
        (200, 0, size), (206, start, end_exclusive), (304, 0, 0) or (416, 0, 0).
    """
    if isinstance(method, str):
        method = method.encode()
    if method not in (b"GET", b"HEAD"):
        return (200, 0, size)
    value = get_header(b"if-none-match")
    if value is not None:
        if _none_match(value, tag):
            return (304, 0, 0)
    else:
        value = get_header(b"if-modified-since")
        if value is not None:
            date = parse_http_date(value.strip())
            if date is not None and int(mtime) <= date:
                return (304, 0, 0)
    if method == b"GET":
        value = get_header(b"range")
        if value is not None:
            cond = get_header(b"if-range")
            if cond is None or _if_range_ok(cond, tag, mtime):
                answer = _range(value, size)
                if answer is not None:
                    return answer
    return (200, 0, size)


# --- URLs ---------------------------------------------------------------------------


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
