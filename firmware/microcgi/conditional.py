# Conditional and range requests on static files (RFC 9110 sections 13 and 14):
# evaluate() (the answer to a static GET or HEAD), the HTTP-date parser, and the
# answers (304, 416, 206) for server.Connection.send_file(). Apart from server.py and
# static.py so that a board loads this code only for a request that carries
# If-None-Match, If-Modified-Since or Range (the server drops it again afterwards). A
# Range with several ranges loads microcgi.byteranges too.
from microcgi.compat import MONTHS, lazy_call


def parse_http_date(value):
    """Unix time of an IMF-fixdate (bytes), or None if it is not one."""
    # "Sun, 06 Nov 1994 08:49:37 GMT"
    parts = value.split()
    if len(parts) != 6 or parts[5] != b"GMT" or len(parts[2]) != 3:
        return None
    month = MONTHS.find(parts[2])
    if month < 0 or month % 3:
        return None
    month = month // 3 + 1
    try:
        day = int(parts[1])
        year = int(parts[3])
        hms = parts[4].split(b":")
        h, m, s = int(hms[0]), int(hms[1]), int(hms[2])
    except (ValueError, IndexError, UnicodeError):
        return None
    # days from civil (Howard Hinnant's algorithm), so no mktime/timezone is involved
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return days * 86400 + h * 3600 + m * 60 + s


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


def _one(spec, size):
    """(start, end_exclusive) of one range-spec (bytes), False when it is unsatisfiable,
    None when it is not a range-spec at all. A suffix on an empty file is (0, 0)."""
    first, dash, last = spec.partition(b"-")
    if not dash:
        return None
    if not first.strip():
        # suffix-range "-n": the last n bytes, or the whole file when it is shorter
        n = _int(last)
        if n < 0:
            return None
        if n == 0:
            return False
        return (max(size - n, 0), size)
    start = _int(first)
    if start < 0:
        return None
    if last.strip():
        end = _int(last)
        if end < start:
            return None  # invalid range-spec (also non-digits)
        end += 1
    else:
        end = size
    if start >= size:
        # first-pos at or past the end (so any first-pos on an empty file, "bytes=0-"
        # included) does not overlap the representation
        return False
    return (start, min(end, size))


def _range(value, size):
    """(status, start, end) for a Range value, or None to ignore it and send 200.

    Several ranges (microcgi.byteranges) may give (206, None, [(start, end), ...]).
    """
    unit, eq, spec = value.partition(b"=")
    if not eq or unit.strip().lower() != b"bytes":
        return None  # unknown range unit: ignore (RFC 9110 section 14.2)
    specs = [s for s in spec.split(b",") if s.strip()]  # empty list elements are allowed
    if len(specs) != 1:
        if not specs:
            return None
        return lazy_call("byteranges", "several", specs, size)
    r = _one(specs[0], size)
    if r is None:
        return None
    if not r:
        # first-pos at or past the end, or "-0": 416, with Content-Range "bytes */size"
        # added by the server
        return (416, 0, 0)
    if r[0] == r[1]:
        # a suffix of the empty file: RFC 9110 section 14.1.1 calls this satisfiable,
        # but a 206 cannot describe zero bytes (Content-Range has no empty form)
        return (200, 0, 0)
    return (206, r[0], r[1])


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


def answer(conn, fs, size, mtime, entry):
    """A GET or HEAD of a static file fs with If-None-Match, If-Modified-Since or Range.

    entry is server.Server.file_entry()'s. Returns None once a 304 or a 416 is queued,
    else (start, end) of the bytes to send, with the head queued when it is a 206.
    Several ranges: the multipart head is queued and its body is set up as the
    connection's file (byteranges.multipart()); the result is then (0, 0).
    """
    req = conn.req
    status, start, end = evaluate(req.method, req.header, size, mtime, entry[2])
    if status == 304:
        conn.head(304, "Not Modified", (), None, raw=entry[3])
        conn.finish()
        return None
    if status == 416:
        conn.respond(
            416, [(b"Content-Range", b"bytes */%d" % size)], b"416 Range Not Satisfiable\n"
        )
        return None
    if status == 206:
        if start is None:
            lazy_call("byteranges", "multipart", conn, fs, size, end, entry[3])
            return 0, 0
        rng = [(b"Content-Range", b"bytes %d-%d/%d" % (start, end - 1, size))]
        conn.head(206, "Partial Content", rng, end - start, raw=entry[3])
    return start, end


# -- multipart/byteranges (RFC 9110 section 14.6) --------------------------------------
