# RFC 3875 (CGI/1.1), pure: no sockets, no clocks, no files.
#
#   build_environ()          SPEC section 6: the request meta-variables (RFC 3875 section 4.1)
#   parse_script_headers()   SPEC sections 7.1-7.4: the script's header block (RFC 3875 section 6)
#   ScriptOutput             SPEC sections 7.1 and 7.5: collects raw output from either runner
#
# Both runners (host/subprocess_runner.py, runner.CallableRunner) produce the same raw CGI
# output, so this one parser serves both, as Go's net/http/cgi host.go does for child.go.
from microcgi import __version__
from microcgi.compat import const, lazy_call
from microcgi.errors import ScriptError
from microcgi.http11 import split_field

# Module defaults; the server passes its configured limits.
_DEFAULT_MAX_HEADER_BYTES = const(8192)  # script header block, blank line included (SPEC 7.1)
DEFAULT_PATH_ENV = "/usr/local/bin:/usr/bin:/bin"  # SPEC section 6

# Request headers that never become HTTP_* variables (SPEC section 6):
# Content-Length and Content-Type have their own variables (RFC 3875 4.1.18), and
# Proxy would become HTTP_PROXY, which many HTTP clients read as their proxy
# (httpoxy, CVE-2016-5385; Go issue 16405). Credentials are no script's business
# (RFC 3875 4.1.18; issue 14): under a protected prefix, microcgi.auth adds REMOTE_USER.
_NOT_HTTP_VARS = (b"content-length", b"proxy")

# Script headers the server drops because it owns the framing (SPEC 7.4).
_FRAMING = (b"connection", b"keep-alive", b"transfer-encoding", b"content-length")

# Bits of parse_script_headers()' "own": the script sent a header that replaces the
# server's own line (issue 10: never two Date or Server lines in one response). The
# server has the same constants.
_OWN_DATE = const(1)
_OWN_SERVER = const(2)


# -- decoding ------------------------------------------------------------------------------


def _text(b):
    """bytes -> str for an environ value: UTF-8, or a deterministic ASCII fallback.

    MicroPython has only UTF-8 and ASCII codecs, and older versions ignore the errors
    argument, so on invalid UTF-8 every non-ASCII byte becomes "?" (same on both
    interpreters). NUL, which RFC 9110 section 5.5 lets a recipient replace with SP,
    could not be passed to execve() at all.
    """
    if b"\x00" in b:
        b = b.replace(b"\x00", b" ")
    try:
        return b.decode()
    except UnicodeError:
        return "".join([chr(c) if c < 0x80 else "?" for c in b])


# -- environment (SPEC section 6) ----------------------------------------------------------


def _cfg(cfg, name, default):
    value = getattr(cfg, name, None)
    if value is None and isinstance(cfg, dict):
        value = cfg.get(name)
    return default if value is None else value


def _add_headers(env, headers):
    """HTTP_* variables from the request headers; returns (host, content_type) or None."""
    host = None
    ctype = None
    for name, value in headers:
        if name == b"content-type":
            if ctype is None:  # a repeated Content-Type cannot be joined: first wins
                ctype = value
            continue
        if name in _NOT_HTTP_VARS or not name or name.endswith(b"authorization"):
            continue  # (Authorization and Proxy-Authorization)
        # Like Apache's http2env(), only letters, digits and "-" are exported: a name
        # with "_" could forge another header's variable (X-Foo_Bar vs X-Foo-Bar), and
        # other token characters ("." "+" ...) make names that shells cannot even read.
        if not name.replace(b"-", b"").isalpha():  # the usual name passes in C
            for c in name:
                if not (0x61 <= c <= 0x7A or 0x30 <= c <= 0x39 or c == 0x2D or 0x41 <= c <= 0x5A):
                    name = None
                    break
            if name is None:
                continue
        # in bytes, then one str: on MicroPython every new str is looked up among the
        # interned strings, and a bytes object is not
        var = (b"HTTP_" + name.upper().replace(b"-", b"_")).decode()
        if name == b"host" and host is None:
            host = value
        text = _text(value)
        old = env.get(var)
        if old is None:
            env[var] = text
        else:
            # RFC 9110 section 5.3 joins repeated fields with ","; Cookie is the exception
            # (RFC 6265 section 5.4: one header, pairs separated by "; ").
            env[var] = old + ("; " if name == b"cookie" else ", ") + text
    return host, ctype


def build_environ(req, conn, script, cfg):
    """Build the CGI environment of one request (SPEC section 6), from scratch.

    Args:
        req: the parsed request (method, target, query, version, headers, body_length).
        conn: the connection (server_addr, server_port, remote_addr, remote_port; https
            True over TLS).
        script: the routed script (script_name, filename, path_info, document_root).
        cfg: the configuration (software, path_env, extra_env); missing values take
            the module defaults.
    Returns:
        dict of str -> str: exactly the variables of SPEC section 6, then the
        operator's extra variables, which win (Go host.go appends h.Env last).
    """
    env = {}
    host, ctype = _add_headers(env, req.headers)
    # An IPv4 client of a dual-stack socket shows up as ::ffff:a.b.c.d; CGI scripts
    # (and their access-control lists) expect the dotted form (SPEC section 6).
    server_addr = conn.server_addr
    if ":" in server_addr and "." in server_addr and server_addr[:7].lower() == "::ffff:":
        server_addr = server_addr[7:]
    remote_addr = conn.remote_addr
    if ":" in remote_addr and "." in remote_addr and remote_addr[:7].lower() == "::ffff:":
        remote_addr = remote_addr[7:]
    # SERVER_NAME, RFC 3875 4.1.14: hostname | ipv4-address | "[" ipv6-address "]". So
    # the port is cut off and an IPv6 literal keeps its brackets: "[::1]:8080" ->
    # "[::1]". A Host that is empty or has an unclosed "[" is not a name: the bound
    # address is used.
    name = None
    if host:
        host = _text(host)
        if host[0] == "[":
            end = host.find("]")
            if end > 0:
                name = host[: end + 1].lower()
        else:
            # names are case-insensitive, "a.example." is "a.example" (as Apache gives
            # it): the name a virtual host is chosen by (microcgi.vhost)
            end = host.find(":")
            name = (host if end < 0 else host[:end]).lower().rstrip(".")
    if not name:
        name = "[" + server_addr + "]" if ":" in server_addr else server_addr
    software = _cfg(cfg, "software", None)
    if software is None:
        software = "microcgi/" + __version__

    # Keyword arguments: the names are then interned, which costs a board less RAM
    # than as string constants.
    env.update(
        GATEWAY_INTERFACE="CGI/1.1",
        SERVER_SOFTWARE=software,
        SERVER_SIGNATURE=software,
        SERVER_PROTOCOL=req.version,
        SERVER_NAME=name,
        SERVER_ADDR=server_addr,
        SERVER_PORT=str(conn.server_port),
        REMOTE_ADDR=remote_addr,
        REMOTE_PORT=str(conn.remote_port),
        REQUEST_METHOD=req.method,
        # the parser only accepts visible ASCII in the target: this never falls back
        REQUEST_URI=_text(req.target),
        QUERY_STRING="" if req.query is None else _text(req.query),
        SCRIPT_NAME=script.script_name,
        SCRIPT_FILENAME=script.filename,
        DOCUMENT_ROOT=script.document_root,
        REDIRECT_STATUS="200",  # php-cgi's cgi.force_redirect refuses to run without it
        PATH=_cfg(cfg, "path_env", DEFAULT_PATH_ENV),
    )
    if getattr(conn, "https", False):  # microcgi.tls (as lighttpd and Apache set them)
        env.update(HTTPS="on", REQUEST_SCHEME="https")
    else:
        env.update(REQUEST_SCHEME="http")
    if script.path_info:
        # RFC 3875 section 4.1.6: PATH_INFO mapped the way the server maps any URL path.
        root = script.document_root.rstrip("/")
        env.update(PATH_INFO=script.path_info, PATH_TRANSLATED=root + script.path_info)
    if req.body_length is not None:
        env.update(CONTENT_LENGTH=str(req.body_length))
    if ctype is not None:
        env.update(CONTENT_TYPE=_text(ctype))

    extra = _cfg(cfg, "extra_env", None)
    if extra is None:
        extra = _cfg(cfg, "env", ())  # config.py's name for the same setting
    if isinstance(extra, dict):
        extra = extra.items()
    for name, value in extra:
        env[name] = value
    return env


# -- the script's header block (SPEC 7.1-7.4, RFC 3875 section 6) ---------------------------


def parse_script_headers(block):
    """Apply RFC 3875 section 6 to a script's header block (SPEC 7.1-7.4).

    Args:
        block: bytes, the header lines without the terminating empty line; lines end
            in CRLF or LF, mixed. A final line ending is allowed.
    Returns:
        (status, reason, headers, local_redirect, own):
        status: int, 200-599. 200 when the script gave no Status, 302 for an absolute (or
            relative, as Apache and Go do) Location without Status, 200 as a
            placeholder for a local redirect.
        reason: str from the Status line (UTF-8, else "?" for non-ASCII bytes), or None:
            the server then uses the standard phrase.
        headers: list of (name bytes as written, value bytes), in order, repeats kept,
            without Status and without the framing headers the server owns.
        local_redirect: str path (and query) when Location is a local path ("/...")
            and there is no Status; the server serves it as a fresh GET. Else None.
        own: bits, 1 when the script sent Date, 2 when it sent Server (they stay
            in headers; the server then leaves out its own line), else 0.
    Raises:
        ScriptError: a malformed line, a bad or repeated Status (1xx included: an
            interim response cannot end a CGI response), an empty or repeated
            Location, or none of Content-Type, Location, Status.
    """
    if block[-1:] == b"\n":
        block = block[:-1]
    status = None
    reason = None
    location = None
    has_ctype = False
    own = 0
    headers = []
    for line in block.split(b"\n") if block else ():
        if line[-1:] == b"\r":
            line = line[:-1]
        # obs-fold is rejected rather than unfolded: no CGI library writes one, and a
        # stray one is a bug. A bare CR would let a script split the response.
        field = split_field(line)
        if field is None:
            raise ScriptError("cgi: malformed header line %r" % line)
        name, value = field
        lname = name.lower()
        if lname == b"status":
            if status is not None:
                raise ScriptError("cgi: repeated Status header")
            # its checks are loaded when a script sends one (microcgi.tables)
            status, reason = lazy_call("tables", "script_status", value)
            continue  # not forwarded (SPEC 7.2)
        if lname in _FRAMING:
            continue  # the server owns framing (SPEC 7.4)
        if lname == b"location":
            if location is not None:
                raise ScriptError("cgi: repeated Location header")
            if not value:
                raise ScriptError("cgi: empty Location header")
            location = value
        elif lname == b"content-type":
            has_ctype = True
        elif lname == b"date":
            own |= _OWN_DATE
        elif lname == b"server":
            own |= _OWN_SERVER
        headers.append((name, value))

    if status is None and location is None and not has_ctype:
        # Go host.go: "missing required Content-Type in headers".
        raise ScriptError("cgi: no Content-Type, Location or Status header")
    local_redirect = None
    if status is None:
        status = 200
        if location is not None:
            if location[0] == 0x2F:  # "/": RFC 3875 6.2.2 local redirect
                local_redirect = _text(location)
            else:  # RFC 3875 6.2.3 client redirect
                status = 302
    return status, reason, headers, local_redirect, own


# -- collecting raw output (SPEC 7.1, 7.5) -------------------------------------------------


# Header bytes copied per step while looking for the blank line (see feed()).
_SCAN_STEP = const(512)


class ScriptOutput:
    """Incremental collector of a script's raw CGI output (header block, blank line, body).

    feed() takes the output in any split; once the blank line has arrived, head_done is
    True and status, reason, headers, local_redirect, own are set (see
    parse_script_headers).
    The body is kept as the list of chunks body (body_len bytes), each copied once;
    take_body() hands the pending chunks over in streaming mode. With join, pieces
    shorter than join bytes are gathered in bytearray chunks of about that size: on
    a board, a script's many small writes would otherwise cost an object each.

    The header part lives in one bytearray capped at max_header bytes, searched only
    around the new bytes; it is freed once the block is parsed.
    """

    # Values every new collector starts with: class attributes until set, so that a
    # new one is a small object (an instance's attributes live in a table that grows).
    join = 0
    head_done = False
    status = reason = headers = local_redirect = None
    own = 0
    body_len = 0
    error = None

    def __init__(
        self,
        max_header=_DEFAULT_MAX_HEADER_BYTES,
        max_output=None,
        join=0,
    ):
        self.max_header = max_header
        self.max_output = max_output
        if join:
            self.join = join
        self.total = 0
        self.body = []
        # A virtual "\n" in front: the block ends at the first LF followed by LF or
        # CRLF, and a blank first line (an empty block) then needs no special case.
        self._hdr = bytearray(b"\n")

    def _fail(self, msg):
        # What was collected goes first: the heap may be full, and setting error (a
        # class attribute until now) grows this object's attribute table.
        self._hdr = None
        self.body = []
        self.error = msg
        raise ScriptError(msg)

    def feed(self, data):
        """Take the next piece of output (bytes, bytearray or memoryview).

        Raises:
            ScriptError: header block over max_header, output over max_output (when not
                None), a header block that parse_script_headers() rejects, or any
                feed after such an error.
        """
        if self.error is not None:
            raise ScriptError(self.error)
        n = len(data)
        self.total += n
        if self.max_output is not None and self.total > self.max_output:
            self._fail("cgi: output over max_output (%d bytes)" % self.max_output)
        if self.head_done:
            if n:
                body = self.body
                join = self.join
                last = None
                if n < join:
                    last = body[-1] if body else None
                    if type(last) is not bytearray or len(last) + n > join:
                        # a chunk with room for join bytes: extend() then never
                        # reallocates (that would leave holes in a board's heap); when
                        # a fragmented heap has no such block, the piece stays as it came
                        try:
                            last = bytearray(join)
                            last[0:join] = b""
                            body.append(last)
                        except MemoryError:
                            last = None
                if last is not None:
                    last.extend(data)
                else:
                    body.append(data if type(data) is bytes else bytes(data))
                self.body_len += n
            return
        # The new bytes are copied into the header buffer _SCAN_STEP at a time, so a
        # first read holding header and body costs about the header's size, not
        # max_header: on a 110 KB heap a needless 8 KB block is a real cost.
        hdr = self._hdr
        view = None
        pos = 0
        while pos < n:
            old = len(hdr)
            take = min(n - pos, _SCAN_STEP, self.max_header + 1 - old)  # +1: the virtual LF
            if take <= 0:
                break
            if take == n:
                hdr.extend(data)
            else:
                if view is None:
                    view = memoryview(data)
                hdr.extend(view[pos : pos + take])
            # The block ends at the first LF followed by LF or CRLF ("\n\n", "\r\n\r\n",
            # "\n\r\n", "\r\n\n"). A terminator that was not complete before may
            # straddle the old bytes: the search backs up 2 bytes (its length - 1).
            start = old - 2 if old > 2 else 0
            end = hdr.find(b"\n\n", start)
            crlf = hdr.find(b"\n\r\n", start)
            if crlf >= 0 and (end < 0 or crlf < end):
                end, body_at = crlf, crlf + 3
            else:
                body_at = end + 2
            if end >= 0:
                try:
                    parsed = parse_script_headers(bytes(memoryview(hdr)[1:end]))
                except ScriptError as e:
                    self._fail(e.args[0])
                self._hdr = hdr = None
                self.status, self.reason, self.headers, self.local_redirect, own = parsed
                if own:
                    self.own = own
                self.head_done = True
                # The block ends inside these new bytes, so the body starts inside data:
                # it is sliced from there, never from the header copy.
                skip = pos + body_at - old
                if skip < n:
                    self.body.append(bytes(memoryview(data)[skip:]))
                    self.body_len = n - skip
                return
            pos += take
        if len(hdr) > self.max_header:
            self._fail("cgi: header block over %d bytes" % self.max_header)

    def take_body(self):
        """Return the pending body chunks and forget them (streaming mode)."""
        chunks = self.body
        self.body = []
        return chunks

    def finish(self):
        """The output has ended (EOF, or the script returned).

        Raises:
            ScriptError: the header block never completed (SPEC 7.1), or an earlier
                feed() failed.
        """
        if self.error is not None:
            raise ScriptError(self.error)
        if not self.head_done:
            self._fail("cgi: output ended before the header block was complete")
