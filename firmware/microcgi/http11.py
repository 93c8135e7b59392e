# Sans-I/O HTTP/1.1 request parser (RFC 9112) and response-head helpers.
#
# Bytes go in with feed(); next_event() returns Request, Data, END (the end of
# one request's body) or NEED_DATA. The parser never touches a socket or a
# clock; the server loop does the I/O and the timeouts.
from microcgi.errors import ProtocolError

NEED_DATA = object()


class EndOfMessage:
    pass


END = EndOfMessage()

# RFC 9110 section 9 plus PATCH (RFC 5789); anything else is 501.
METHODS = (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS")

DEFAULT_MAX_REQUEST_LINE = 4 * 1024
DEFAULT_MAX_HEADER_BYTES = 8 * 1024
DEFAULT_MAX_HEADERS = 64
_MAX_CHUNK_LINE = 1024

# parser states
_HEAD = 0
_BODY = 1  # Content-Length body
_CHUNK_SIZE = 2
_CHUNK_DATA = 3
_CHUNK_CRLF = 4
_TRAILERS = 5
_DONE = 6

# RFC 9110 5.6.2 tchar, as a bytes table for a fast membership test
_TCHAR = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_HEXDIG = b"0123456789abcdefABCDEF"


class Data:
    def __init__(self, data):
        self.data = data


class Request:
    """One request head. Bytes stay bytes; method and version are str."""

    def __init__(self, method, target, version, headers):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers  # [(lower-case name, value)], in order
        self.body_length = None  # bytes of body, once known (de-chunked)
        self.chunked = False
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


def _is_token(s):
    if not s:
        return False
    for c in s:
        if c not in _TCHAR:
            return False
    return True


def _parse_request_line(line):
    # RFC 9112 3: method SP request-target SP HTTP-version
    parts = line.split(b" ")
    if len(parts) != 3 or not _is_token(parts[0]):
        raise ProtocolError("malformed request line")
    method, target, version = parts
    if len(version) != 8 or version[:5] != b"HTTP/" or version[6:7] != b".":
        raise ProtocolError("malformed HTTP version")
    major, minor = version[5:6], version[7:8]
    if not (major.isdigit() and minor.isdigit()):
        raise ProtocolError("malformed HTTP version")
    if major != b"1":
        raise ProtocolError("HTTP version not supported", 505)
    if method not in METHODS:
        # before the target: CONNECT's authority-form is a 501, not a 400
        raise ProtocolError("method not implemented", 501)
    for c in target:
        if c <= 0x20 or c >= 0x7F:
            raise ProtocolError("bad byte in request target")
    if target[:1] != b"/":
        if target[:7].lower() == b"http://" or target[:8].lower() == b"https://":
            # absolute-form (RFC 9112 3.2.2): keep only the path and query; an empty
            # path is "/" (RFC 9112 3.3), and the query stays
            rest = target[target.find(b"//") + 2 :]
            slash = rest.find(b"/")
            q = rest.find(b"?")
            if q >= 0 and (slash < 0 or q < slash):
                target = b"/" + rest[q:]
            else:
                target = b"/" if slash < 0 else rest[slash:]
        elif not (target == b"*" and method == b"OPTIONS"):
            raise ProtocolError("malformed request target")
    # RFC 9110 2.5: a higher minor version is handled as the highest we implement
    return method.decode(), target, "HTTP/1.0" if minor == b"0" else "HTTP/1.1"


def _parse_headers(block, max_headers):
    headers = []
    if not block:
        return headers
    for line in block.split(b"\n"):
        if line[-1:] == b"\r":
            line = line[:-1]
        if len(headers) >= max_headers:
            raise ProtocolError("more than %d header lines" % max_headers, 431)
        colon = line.find(b":")
        name = line[:colon]
        if colon <= 0 or not _is_token(name):
            # also catches obs-fold (a line starting with whitespace), RFC 9112 5.2
            raise ProtocolError("malformed header line")
        value = line[colon + 1 :].strip(b" \t")
        for c in value:
            if (c < 0x20 and c != 0x09) or c == 0x7F:
                raise ProtocolError("bad byte in header value")
        headers.append((name.lower(), value))
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
        max_request_line=DEFAULT_MAX_REQUEST_LINE,
        max_header_bytes=DEFAULT_MAX_HEADER_BYTES,
        max_headers=DEFAULT_MAX_HEADERS,
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
        if st == _BODY:
            return self._read_body()
        if st == _DONE:
            return NEED_DATA
        return self._read_chunked()

    def _take(self, n):
        end = self.pos + n
        data = bytes(self.buf[self.pos : end])
        self.pos = end
        if end == len(self.buf):
            self.buf[0:end] = b""
            self.pos = 0
            self.scan = 0
        return data

    def _find_line(self, start):
        return self.buf.find(b"\n", start)

    def _read_head(self):
        buf = self.buf
        pos = self.pos
        # skip empty lines before a request (RFC 9112 2.2)
        while buf[pos : pos + 2] == b"\r\n" or buf[pos : pos + 1] == b"\n":
            pos += 1 if buf[pos] == 0x0A else 2
        self.pos = pos
        if self.scan < pos:
            self.scan = pos
        eol = self._find_line(pos)
        if eol < 0:
            # the limit is on the line without its CR LF; a trailing CR may be one
            n = len(buf) - pos
            if n > self.max_request_line and not (
                n == self.max_request_line + 1 and buf[-1] == 0x0D
            ):
                raise ProtocolError("request line too long", 414)
            return NEED_DATA
        n = eol - pos
        if n and buf[eol - 1] == 0x0D:
            n -= 1
        if n > self.max_request_line:
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
        line = bytes(buf[pos:eol])
        block = bytes(buf[eol + 1 : head_end])
        if line[-1:] == b"\r":
            line = line[:-1]
        if block[-1:] == b"\r":
            block = block[:-1]
        if b"\r" in line or block.replace(b"\r\n", b"\n").find(b"\r") >= 0:
            raise ProtocolError("bare CR in request head")
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
                if req.chunked or value.lower() != b"chunked":
                    raise ProtocolError("unsupported Transfer-Encoding", 501)
                req.chunked = True
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
        if req.chunked:
            if length is not None:
                # RFC 9112 6.3: both framings at once is how requests are smuggled
                raise ProtocolError("both Content-Length and Transfer-Encoding")
            self.state = _CHUNK_SIZE
            self.remaining = 0
            req.body_length = 0
        elif length:
            if length > self.max_body:
                raise ProtocolError("body over %d bytes" % self.max_body, 413)
            self.state = _BODY
            self.remaining = length
            req.body_length = length
        else:
            if length == 0:
                req.body_length = 0
            self.state = _BODY
            self.remaining = 0
        self.request = req
        return req

    def _read_body(self):
        if not self.remaining:
            self.state = _DONE
            return END
        have = len(self.buf) - self.pos
        if not have:
            return NEED_DATA
        n = have if have < self.remaining else self.remaining
        self.remaining -= n
        return Data(self._take(n))

    def _read_chunked(self):
        while True:
            st = self.state
            if st == _CHUNK_DATA:
                have = len(self.buf) - self.pos
                if not have:
                    return NEED_DATA
                n = have if have < self.remaining else self.remaining
                self.remaining -= n
                if not self.remaining:
                    self.state = _CHUNK_CRLF
                return Data(self._take(n))
            eol = self._find_line(self.pos)
            if eol < 0:
                if len(self.buf) - self.pos > _MAX_CHUNK_LINE:
                    raise ProtocolError("chunk line too long")
                return NEED_DATA
            line = bytes(self.buf[self.pos : eol])
            if line[-1:] == b"\r":
                line = line[:-1]
            self._take(eol + 1 - self.pos)
            if st == _CHUNK_CRLF:
                if line:
                    raise ProtocolError("missing CRLF after chunk")
                self.state = _CHUNK_SIZE
            elif st == _CHUNK_SIZE:
                size = line.split(b";")[0].strip(b" \t")
                # chunk-size = 1*HEXDIG (RFC 9112 7.1); int(s, 16) alone also takes
                # "0x", "_", signs and whitespace
                if not size or [c for c in size if c not in _HEXDIG]:
                    raise ProtocolError("bad chunk size")
                n = int(size, 16)
                req = self.request
                req.body_length += n
                if req.body_length > self.max_body:
                    raise ProtocolError("body over %d bytes" % self.max_body, 413)
                if n:
                    self.state = _CHUNK_DATA
                    self.remaining = n
                else:
                    self.state = _TRAILERS
                    self.remaining = 0
            else:  # trailers are read and dropped (RFC 9112 7.1.2)
                if not line:
                    self.state = _DONE
                    return END
                self.remaining += len(line)
                if self.remaining > self.max_header_bytes:
                    raise ProtocolError("trailer block too large", 431)


# RFC 9110 section 15
REASONS = {
    100: "Continue",
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    206: "Partial Content",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    418: "I'm a teapot",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}


def reason_phrase(status):
    return REASONS.get(status) or ("Unknown" if status < 400 else "Error")
