# Sans-I/O HTTP/1.1 request parser (RFC 9112) and response-head helpers.
#
# Bytes go in with feed(); next_event() returns Request, Data, END (the end of
# one request's body) or NEED_DATA. The parser never touches a socket or a
# clock; the server loop does the I/O and the timeouts.
#
# A board keeps this module in RAM, so it holds the common path only: the reader
# of chunked bodies lives in microcgi.chunked, loaded while a chunked body is read.
from microcgi.compat import const, lazy_call, unload
from microcgi.errors import ProtocolError

NEED_DATA = object()  # the sentinels: no event until more bytes come,
END = object()  # and the end of one request's body (h11's EndOfMessage)

# RFC 9110 section 9 plus PATCH (RFC 5789); anything else is 501. One bytes object,
# each name between spaces: a board keeps one object instead of eight.
METHODS = b" GET HEAD POST PUT DELETE PATCH OPTIONS "

_DEFAULT_MAX_REQUEST_LINE = const(4096)  # (private const()s: no global on a board)
_DEFAULT_MAX_HEADER_BYTES = const(8192)
_DEFAULT_MAX_HEADERS = const(64)

# parser states (microcgi.chunked has the chunked ones, 2-5)
_HEAD = const(0)
_BODY = const(1)  # Content-Length body
_CHUNK_SIZE = const(2)
_DONE = const(6)

# RFC 9110 5.6.2 tchar, as a bytes table for a fast membership test
_TCHAR = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class Data:
    def __init__(self, data):
        self.data = data


class Request:
    """One request head. Bytes stay bytes; method and version are str."""

    body_length = None  # bytes of body, once known (de-chunked)
    chunked = False
    root = None  # the document root a virtual host chose (microcgi.vhost)

    def __init__(self, method, target, version, headers):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers  # [(lower-case name, value)], in order
        self.keep_alive = version == "HTTP/1.1"
        q = target.find(b"?")
        if q < 0:
            self.path, self.query = target, None
        else:
            self.path, self.query = target[:q], target[q + 1 :]

    def header(self, name):
        """The first value of header name (lower-case bytes), or None."""
        for k, v in self.headers:
            if k == name:
                return v
        return None


def is_token(s):
    """True when s (bytes) is a non-empty RFC 9110 token (a field name, a method)."""
    if s.replace(b"-", b"").isalpha():  # the usual name ("user-agent"): checked in C
        return True
    if not s:
        return False
    for c in s:
        if c not in _TCHAR:
            return False
    return True


def split_field(buf, start=0, stop=None, lower=False):
    """(name, value) of the field line buf[start:stop] (no line end), or None when it is
    malformed; the name lower-cased when lower is true.

    RFC 9112 section 5: a token, a colon, OWS, the value, OWS; a value holds no control
    character but HTAB (RFC 9110 5.5; a bare CR above all would split a message). A line
    that starts with whitespace (obs-fold, RFC 9112 5.2) is malformed too: its "name"
    is no token. Indexes instead of slices: no copies but the two results.
    """
    if stop is None:
        stop = len(buf)
    colon = buf.find(b":", start, stop)
    if colon <= start:
        return None
    name = buf[start:colon]
    if not is_token(name):
        return None
    start = colon + 1
    while start < stop and buf[start] in b" \t":
        start += 1
    while stop > start and buf[stop - 1] in b" \t":
        stop -= 1
    value = buf[start:stop]
    # min() and `in` look at the bytes in C: the loop runs only when there is a CTL
    if value and (min(value) < 0x20 or b"\x7f" in value):
        for c in value:
            if (c < 0x20 and c != 0x09) or c == 0x7F:
                return None
    return (name.lower() if lower else name), value


def _parse_request_line(line):
    # RFC 9112 3: method SP request-target SP HTTP-version
    parts = line.split(b" ")
    if len(parts) != 3 or not is_token(parts[0]):
        raise ProtocolError("malformed request line")
    method, target, version = parts
    if len(version) != 8 or not version.startswith(b"HTTP/") or version[6] != 0x2E:
        raise ProtocolError("malformed request line")
    major, minor = version[5], version[7]
    if not (0x30 <= major <= 0x39 and 0x30 <= minor <= 0x39):
        raise ProtocolError("malformed request line")
    if major != 0x31:
        raise ProtocolError("HTTP version not supported", 505)
    i = METHODS.find(method)
    if i < 0 or METHODS[i - 1] != 0x20 or METHODS[i + len(method)] != 0x20:
        # before the target: CONNECT's authority-form is a 501, not a 400
        raise ProtocolError("method not implemented", 501)
    if target and (min(target) <= 0x20 or max(target) >= 0x7F):
        raise ProtocolError("malformed request line")
    if not target or target[0] != 0x2F:
        # absolute-form (RFC 9112 3.2.2), "*" of OPTIONS, or malformed
        target = lazy_call("urlpath", "origin_form", method, target)
    # RFC 9110 2.5: a higher minor version is handled as the highest we implement
    return method.decode(), target, "HTTP/1.0" if minor == 0x30 else "HTTP/1.1"


def _parse_headers(block, max_headers):
    # line by line through the block by index: no copy of each line
    headers = []
    start = 0
    n = len(block)
    while start < n:
        end = block.find(b"\n", start)
        if end < 0:
            end = n
        if len(headers) >= max_headers:
            raise ProtocolError("more than %d header lines" % max_headers, 431)
        stop = end - 1 if end > start and block[end - 1] == 0x0D else end
        field = split_field(block, start, stop, True)
        if field is None:
            raise ProtocolError("malformed header line")
        headers.append(field)
        start = end + 1
    return headers


class RequestParser:
    """Turns the bytes of one connection into request events.

    Args:
        max_request_line: longest request line in bytes (414 beyond).
        max_header_bytes: longest header block in bytes (431 beyond).
        max_headers: most header lines (431 beyond).
        max_body: largest body in bytes (413 beyond).
    """

    def __init__(
        self,
        max_request_line=_DEFAULT_MAX_REQUEST_LINE,
        max_header_bytes=_DEFAULT_MAX_HEADER_BYTES,
        max_headers=_DEFAULT_MAX_HEADERS,
        max_body=1024 * 1024,
    ):
        self.max_request_line = max_request_line
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self.max_body = max_body
        self.buf = bytearray()
        self.pos = 0  # start of unconsumed bytes in buf
        self.scan = 0  # where the search for the end of the head resumes
        self.state = _HEAD
        self.remaining = 0  # body or chunk bytes still to come
        self.request = None

    def feed(self, data):
        """Buffer received bytes (bytes, bytearray or memoryview)."""
        if self.pos and self.pos == len(self.buf):
            self.buf[0 : self.pos] = b""
            self.scan -= self.pos
            self.pos = 0
        self.buf.extend(data)

    def buffered(self):
        """Bytes received and not yet turned into events."""
        return len(self.buf) - self.pos

    def in_head(self):
        return self.state == _HEAD

    def is_done(self):
        return self.state == _DONE

    def next_request(self):
        """Start on the next (maybe already buffered, pipelined) request."""
        self.state = _HEAD
        self.request = None
        if self.pos:
            self.buf[0 : self.pos] = b""
            self.pos = 0
        self.scan = 0

    def next_event(self):
        """Return the next event, or NEED_DATA. Raises ProtocolError."""
        st = self.state
        if st == _HEAD:
            return self._read_head()
        if st == _DONE:
            return NEED_DATA
        if st == _BODY:
            if not self.remaining:
                self.state = _DONE
                return END
            have = len(self.buf) - self.pos
            if not have:
                return NEED_DATA
            n = have if have < self.remaining else self.remaining
            self.remaining -= n
            return Data(self.take(n))
        from microcgi import chunked

        ev = chunked.read_chunked(self)
        if self.state == _DONE:
            unload("microcgi.chunked")  # a board gets the RAM back
        return ev

    def take(self, n):
        """The next n buffered bytes, consumed."""
        end = self.pos + n
        data = bytes(memoryview(self.buf)[self.pos : end])
        self.pos = end
        if end == len(self.buf):
            self.buf[0:end] = b""
            self.pos = 0
            self.scan = 0
        return data

    def _read_head(self):
        buf = self.buf
        pos = self.pos
        # skip empty lines before a request (RFC 9112 2.2)
        n = len(buf)
        while pos < n and (
            buf[pos] == 0x0A or (buf[pos] == 0x0D and pos + 1 < n and buf[pos + 1] == 0x0A)
        ):
            pos += 1 if buf[pos] == 0x0A else 2
        self.pos = pos
        if self.scan < pos:
            self.scan = pos
        eol = buf.find(b"\n", pos)
        limit = self.max_request_line
        if eol < 0:
            # the limit is on the line without its CR LF; a trailing CR may be one
            n = len(buf) - pos
            if n > limit and not (n == limit + 1 and buf[-1] == 0x0D):
                raise ProtocolError("request line too long", 414)
            return NEED_DATA
        n = eol - pos
        if n and buf[eol - 1] == 0x0D:
            n -= 1
        if n > limit:
            raise ProtocolError("request line too long", 414)
        # end of the head: an empty line, after CRLF or LF
        start = self.scan if self.scan > eol else eol
        a = buf.find(b"\n\r\n", start)
        b = buf.find(b"\n\n", start)
        if a < 0 and b < 0:
            self.scan = len(buf) - 2 if len(buf) - 2 > eol else eol
            # + 2: the "\r\n" of the empty line that may still come is not counted
            # below either (head_end is the LF before it)
            if len(buf) - eol > self.max_header_bytes + 2:
                raise ProtocolError("header block too large", 431)
            return NEED_DATA
        if b < 0 or (0 <= a < b):
            head_end, body_start = a, a + 3
        else:
            head_end, body_start = b, b + 2
        if head_end - eol > self.max_header_bytes:
            raise ProtocolError("header block too large", 431)
        if buf[eol - 1] == 0x0D:
            eol -= 1
        mv = memoryview(buf)
        line = bytes(mv[pos:eol])
        block = bytes(mv[eol + 2 if buf[eol] == 0x0D else eol + 1 : head_end])
        mv = None
        if block and block[-1] == 0x0D:
            block = block[:-1]
        # every CR must start a CRLF (counting needs no copy of the block)
        if b"\r" in line or block.count(b"\r") != block.count(b"\r\n"):
            raise ProtocolError("malformed header line")
        if body_start == len(buf):
            # nothing after the head: its bytes are not kept while it is answered
            self.buf = bytearray()
            body_start = 0
        self.pos = body_start
        self.scan = body_start
        return self._make_request(line, block)

    def _make_request(self, line, block):
        method, target, version = _parse_request_line(line)
        headers = _parse_headers(block, self.max_headers)
        req = Request(method, target, version, headers)
        length = None
        hosts = 0
        close = keep = False
        for name, value in headers:
            if name == b"host":
                hosts += 1
            elif name == b"content-length":
                if not value.isdigit() or (length is not None and int(value) != length):
                    raise ProtocolError("bad Content-Length")
                length = int(value)
            elif name == b"transfer-encoding":
                lazy_call("chunked", "framing", req, value)  # its checks; req.chunked
            elif name == b"connection":
                for token in value.lower().split(b","):
                    token = token.strip()
                    if token == b"close":
                        close = True
                    elif token == b"keep-alive":
                        keep = True
        # RFC 9112 9.3: close wins; HTTP/1.0 persists only when asked to
        req.keep_alive = not close and (version == "HTTP/1.1" or keep)
        if hosts > 1 or (hosts == 0 and version == "HTTP/1.1"):
            raise ProtocolError("missing or repeated Host header")
        self.remaining = 0
        if req.chunked:
            if length is not None:
                # RFC 9112 6.3: both framings at once is how requests are smuggled
                raise ProtocolError("both Content-Length and Transfer-Encoding")
            self.state = _CHUNK_SIZE
            req.body_length = 0
        else:
            if length and length > self.max_body:
                raise ProtocolError("body over %d bytes" % self.max_body, 413)
            self.state = _BODY
            if length is not None:
                self.remaining = length
                req.body_length = length
        if target[0] == 0x2A:
            # "*" (OPTIONS * asks about the server, RFC 9112 3.2.4: the only target
            # left that does not start with "/"): routed as "/" so that the path
            # decodes, and answered there (rare.directory())
            req.path = b"/"
        self.request = req
        return req


# The reason phrases (RFC 9110 section 15) of the statuses most answers have, as one
# string (one object, not a dict); every other one is in microcgi.tables, which a board
# loads when a response needs it (a failure, a redirect, a range: the rarer answers).
_REASONS = (
    "\n200 OK\n304 Not Modified\n400 Bad Request\n403 Forbidden\n404 Not Found"
    "\n500 Internal Server Error\n503 Service Unavailable\n"
)


def reason_phrase(status):
    """The standard reason phrase of status (str); a generic one for unknown codes."""
    i = _REASONS.find("\n%d " % status)
    if i < 0:
        return lazy_call("tables", "reason_phrase", status)
    return _REASONS[i + 5 : _REASONS.find("\n", i + 5)]


def __getattr__(name):
    # REASONS, {status: phrase} for every status (PEP 562), made when asked for
    if name != "REASONS":
        raise AttributeError(name)
    return lazy_call("tables", "reasons")
