"""End-to-end HTTP/1.x behaviour (SPEC section 3), over real sockets.

Every test starts the real server (`python -m microcgi serve ROOT ...`) through the
`serve` fixture and talks to it with raw bytes, reading responses in small pieces so
that framing mistakes (a wrong Content-Length, a body after HEAD, a missing chunk
terminator) show up as the next response failing to parse.
"""

import email.utils
import select
import socket
import sys
import time

import pytest

TIMEOUT = 5.0  # generous: only there to turn a hang into a failure
SHORT_BODY = 1024  # "a short body" for the limit errors of SPEC section 3

ECHO_PY = b"""\
import os
import sys

body = sys.stdin.buffer.read()
out = sys.stdout.buffer
out.write(b"Content-Type: application/octet-stream\\r\\n")
out.write(b"X-Content-Length: " + os.environ.get("CONTENT_LENGTH", "none").encode() + b"\\r\\n")
out.write(b"X-Method: " + os.environ["REQUEST_METHOD"].encode() + b"\\r\\n")
out.write(b"\\r\\n")
out.write(body)
"""

HELLO_PY = b"""\
import sys

sys.stdout.buffer.write(b"Content-Type: text/plain\\r\\n\\r\\nhello from a script\\n")
"""


class Response:
    """One parsed HTTP response: status line, headers in order, body, framing used."""

    def __init__(self, version, status, reason, headers, body, framing):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (lower-case name, value)
        self.body = body
        self.framing = framing  # "length", "chunked", "close" or "none"

    def get(self, name):
        values = [v for n, v in self.headers if n == name.lower()]
        return ", ".join(values) if values else None

    def all(self, name):
        return [v for n, v in self.headers if n == name.lower()]

    def __repr__(self):
        return "<Response %d %r %r body=%r>" % (
            self.status,
            self.reason,
            self.headers,
            self.body[:200],
        )


class Wire:
    """A client connection that reads responses byte-exactly (recv in small pieces)."""

    def __init__(self, port, recv_size=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buf = bytearray()
        self.recv_size = recv_size

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        self.sock.close()

    def _fill(self):
        data = self.sock.recv(self.recv_size)
        if not data:
            raise EOFError("connection closed by the server; got so far: %r" % bytes(self.buf))
        self.buf += data

    def read_until(self, marker):
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                out = bytes(self.buf[: i + len(marker)])
                self.buf[: i + len(marker)] = b""
                return out
            self._fill()

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        self.buf[:n] = b""
        return out

    def read_to_close(self):
        while True:
            try:
                self._fill()
            except EOFError:
                break
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def read_response(self, head=False):
        """Read one response; `head` means it answers a HEAD request (no body)."""
        block = self.read_until(b"\r\n\r\n")
        lines = block[:-4].split(b"\r\n")
        version, _, rest = lines[0].partition(b" ")
        code, _, reason = rest.partition(b" ")
        assert version in (b"HTTP/1.1", b"HTTP/1.0"), lines[0]
        assert len(code) == 3 and code.isdigit(), lines[0]
        status = int(code)
        headers = []
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            assert colon and name and name == name.strip(), "bad header line %r" % line
            headers.append((name.decode().lower(), value.strip().decode("latin-1")))
        resp = Response(version.decode(), status, reason.decode(), headers, b"", "none")
        lengths = resp.all("content-length")
        chunked = "chunked" in (resp.get("transfer-encoding") or "").lower()
        if status < 200:
            return resp
        assert not (lengths and chunked), "both Content-Length and chunked: %r" % resp
        assert len(lengths) <= 1, "several Content-Length headers: %r" % resp
        if lengths:
            resp.framing = "length"
        elif chunked:
            resp.framing = "chunked"
        if head or status in (204, 304):
            return resp
        if chunked:
            resp.body = self._read_chunked()
        elif lengths:
            resp.body = self.read_exact(int(lengths[0]))
        else:
            resp.framing = "close"
            resp.body = self.read_to_close()
        return resp

    def _read_chunked(self):
        body = bytearray()
        while True:
            size_line = self.read_until(b"\r\n")[:-2]
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            body += self.read_exact(size)
            assert self.read_exact(2) == b"\r\n", "chunk not followed by CRLF"
        while self.read_until(b"\r\n") != b"\r\n":  # trailer fields, if any
            pass
        return bytes(body)

    def closed_by_server(self, timeout=TIMEOUT):
        """True when the server closes the connection (EOF or reset) within `timeout`.

        Bytes arriving instead are a failure: nothing may follow a response that
        ends the connection.
        """
        assert not self.buf, "unexpected bytes after the response: %r" % bytes(self.buf)
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1024)
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
        finally:
            self.sock.settimeout(TIMEOUT)
        assert not data, "unexpected bytes after the response: %r" % data
        return True

    def still_open(self, wait=0.3):
        """True when nothing arrives and the connection is not closed within `wait`."""
        ready, _, _ = select.select([self.sock], [], [], wait)
        return not ready and not self.buf


def get(path, host=b"t", extra=b"", version=b"HTTP/1.1", method=b"GET"):
    return b"%s %s %s\r\nHost: %s\r\n%s\r\n" % (method, path, version, host, extra)


def make_site(tmp_path):
    root = tmp_path / "www"
    (root / "cgi-bin").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"alpha\n")
    (root / "b.txt").write_bytes(b"bravo bravo\n")
    (root / "c.txt").write_bytes(b"charlie charlie charlie\n")
    (root / "index.html").write_bytes(b"<h1>home</h1>\n")
    for name, text in (("echo.py", ECHO_PY), ("hello.py", HELLO_PY)):
        script = root / "cgi-bin" / name
        script.write_bytes(text)
        script.chmod(0o755)
    return str(root)


@pytest.fixture
def site(tmp_path):
    return make_site(tmp_path)


def start(serve, site, *args):
    return serve(site, "--cgi", ".py=" + sys.executable, *args)


def assert_limit_error(wire, status):
    """SPEC section 3: a limit error has its status, a short body, then the close."""
    resp = wire.read_response()
    assert resp.status == status, resp
    assert resp.framing == "length", resp
    assert len(resp.body) < SHORT_BODY, resp
    assert wire.closed_by_server(), "connection left open after %d" % status
    return resp


# --- versions and persistence (SPEC section 3, first bullet) -----------------------------


def test_http11_keeps_the_connection_open_by_default(serve, site):
    """SPEC 3: keep-alive by default on HTTP/1.1."""
    srv = start(serve, site)
    wire = Wire(srv.port)
    for name, body in ((b"/a.txt", b"alpha\n"), (b"/b.txt", b"bravo bravo\n")):
        wire.send(get(name))
        resp = wire.read_response()
        assert resp.status == 200, resp
        assert resp.body == body
        assert "close" not in (resp.get("connection") or "").lower()
        assert wire.still_open()
    wire.close()


def test_http10_closes_by_default(serve, site):
    """SPEC 3: HTTP/1.0 without `Connection: keep-alive` is one request per connection."""
    srv = start(serve, site)
    wire = Wire(srv.port)
    wire.send(b"GET /a.txt HTTP/1.0\r\n\r\n")  # no Host: fine on 1.0
    resp = wire.read_response()
    assert resp.status == 200, resp
    assert resp.body == b"alpha\n"
    assert wire.closed_by_server()


def test_http10_keep_alive_on_request(serve, site):
    """SPEC 3: HTTP/1.0 with `Connection: keep-alive` keeps the connection (and says so)."""
    srv = start(serve, site)
    wire = Wire(srv.port)
    for name in (b"/a.txt", b"/c.txt"):
        wire.send(b"GET %s HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" % name)
        resp = wire.read_response()
        assert resp.status == 200, resp
        assert resp.framing == "length", "1.0 keep-alive needs Content-Length: %r" % resp
        assert "keep-alive" in (resp.get("connection") or "").lower(), resp
    wire.send(b"GET /b.txt HTTP/1.0\r\n\r\n")
    assert wire.read_response().body == b"bravo bravo\n"
    assert wire.closed_by_server()


def test_connection_close_is_honoured(serve, site):
    """SPEC 3: `Connection: close` on 1.1 ends the connection after the response."""
    srv = start(serve, site)
    wire = Wire(srv.port)
    wire.send(get(b"/a.txt", extra=b"Connection: close\r\n"))
    resp = wire.read_response()
    assert resp.status == 200, resp
    assert resp.body == b"alpha\n"
    assert "close" in (resp.get("connection") or "").lower(), resp
    assert wire.closed_by_server()


def test_pipelined_requests_are_answered_in_order(serve, site):
    """SPEC 3: three requests in one send come back as three responses, in order."""
    srv = start(serve, site)
    wire = Wire(srv.port)
    wire.send(
        get(b"/c.txt")
        + get(b"/missing.txt")
        + get(b"/a.txt", method=b"HEAD")
        + get(b"/b.txt", extra=b"Connection: close\r\n")
    )
    first = wire.read_response()
    second = wire.read_response()
    third = wire.read_response(head=True)
    fourth = wire.read_response()
    assert (first.status, first.body) == (200, b"charlie charlie charlie\n")
    assert second.status == 404
    assert (third.status, third.get("content-length")) == (200, "6")
    assert (fourth.status, fourth.body) == (200, b"bravo bravo\n")
    assert wire.closed_by_server()


def test_pipelined_requests_to_scripts_are_answered_in_order(serve, site):
    """SPEC 3: pipelining also holds when the answers come from CGI processes."""
    srv = start(serve, site)
    wire = Wire(srv.port)
    post = b"POST /cgi-bin/echo.py HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s"
    wire.send(post % (3, b"one") + get(b"/cgi-bin/hello.py") + post % (5, b"three"))
    bodies = [wire.read_response().body for _ in range(3)]
    assert bodies == [b"one", b"hello from a script\n", b"three"]
    assert wire.still_open()


def test_idle_keep_alive_connection_is_closed_after_the_timeout(serve, site):
    """SPEC 3: an idle keep-alive connection is closed after keepalive_timeout."""
    srv = start(serve, site, "--keepalive-timeout", "1")
    wire = Wire(srv.port)
    wire.send(get(b"/a.txt"))
    assert wire.read_response().status == 200
    assert wire.closed_by_server(timeout=TIMEOUT), "idle connection kept past the timeout"
    # The server itself is fine afterwards.
    fresh = Wire(srv.port)
    fresh.send(get(b"/b.txt"))
    assert fresh.read_response().body == b"bravo bravo\n"


# --- request bodies ------------------------------------------------------------------


def test_content_length_body_reaches_the_script(serve, site):
    """SPEC 3 and 6: a Content-Length body is the script's stdin; CONTENT_LENGTH says its size."""
    srv = start(serve, site)
    wire = Wire(srv.port)
    body = bytes(range(256)) * 40  # every byte value, 10 KiB
    wire.send(
        b"POST /cgi-bin/echo.py HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body
    )
    resp = wire.read_response()
    assert resp.status == 200, resp
    assert resp.body == body
    assert resp.get("x-content-length") == str(len(body))
    # The connection is still usable: the body was consumed exactly.
    wire.send(get(b"/a.txt"))
    assert wire.read_response().body == b"alpha\n"


def test_chunked_body_is_dechunked_for_the_script(serve, site):
    """SPEC 3: `Transfer-Encoding: chunked` is de-chunked; CONTENT_LENGTH is the decoded size."""
    srv = start(serve, site)
    wire = Wire(srv.port)
    chunks = (
        b"5\r\nhello\r\n"
        b"7;name=value\r\n, world\r\n"  # a chunk extension is ignored (RFC 9112 7.1.1)
        b"A\r\n0123456789\r\n"
        b"0\r\n\r\n"
    )
    wire.send(
        b"POST /cgi-bin/echo.py HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
    )
    resp = wire.read_response()
    assert resp.status == 200, resp
    assert resp.body == b"hello, world0123456789"
    assert resp.get("x-content-length") == "22"
    wire.send(get(b"/a.txt"))
    assert wire.read_response().body == b"alpha\n"


def test_chunked_body_sent_in_pieces(serve, site):
    """SPEC 3: chunk framing split across many TCP sends is reassembled."""
    srv = start(serve, site)
    wire = Wire(srv.port)
    wire.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    wire.send(b"POST /cgi-bin/echo.py HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    data = b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
    for i in range(0, len(data), 2):
        wire.send(data[i : i + 2])
        time.sleep(0.01)
    resp = wire.read_response()
    assert resp.body == b"abcdefg", resp
    assert resp.get("x-content-length") == "7"


def test_content_length_and_chunked_together_is_400(serve, site):
    """SPEC 3: both Content-Length and Transfer-Encoding → 400 (request smuggling)."""
    srv = start(serve, site)
    wire = Wire(srv.port)
    wire.send(
        b"POST /cgi-bin/echo.py HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    )
    assert_limit_error(wire, 400)


def test_expect_100_continue_gets_an_interim_response(serve, site):
    """SPEC 3: `Expect: 100-continue` → `HTTP/1.1 100 Continue` before the body is sent."""
    srv = start(serve, site)
    wire = Wire(srv.port)
    wire.send(
        b"POST /cgi-bin/echo.py HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    interim = wire.read_response()  # waits: the body is not sent until this arrives
    assert interim.status == 100, interim
    assert interim.version == "HTTP/1.1"
    wire.send(b"hello world")
    final = wire.read_response()
    assert final.status == 200, final
    assert final.body == b"hello world"
    assert final.get("x-content-length") == "11"


def test_expect_100_continue_with_a_body_too_large_gets_413_instead(serve, site):
    """SPEC 3 + RFC 9110 10.1.1: a body over max_body is refused without a 100."""
    srv = start(serve, site, "--max-body", "10")
    wire = Wire(srv.port)
    wire.send(
        b"POST /cgi-bin/echo.py HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    assert_limit_error(wire, 413)


# --- limits (SPEC section 3, third bullet) ---------------------------------------------


def test_request_line_over_4k_is_414(serve, site):
    """SPEC 3: a request line over 4 KiB → 414, short body, connection closed."""
    srv = start(serve, site)
    ok = Wire(srv.port)
    ok.send(get(b"/" + b"x" * 3900))  # under the limit: an ordinary 404
    assert ok.read_response().status == 404
    wire = Wire(srv.port)
    wire.send(get(b"/" + b"x" * 5000))
    assert_limit_error(wire, 414)


def test_request_line_over_4k_without_end_is_414(serve, site):
    """SPEC 3: the 414 comes without waiting for the end of the line."""
    srv = start(serve, site)
    wire = Wire(srv.port)
    wire.send(b"GET /" + b"x" * 6000)
    assert_limit_error(wire, 414)


def test_header_block_over_8k_is_431(serve, site):
    """SPEC 3: a header block over 8 KiB → 431."""
    srv = start(serve, site)
    ok = Wire(srv.port)
    ok.send(get(b"/a.txt", extra=b"X-Big: %s\r\n" % (b"v" * 6000)))
    assert ok.read_response().status == 200
    wire = Wire(srv.port)
    extra = b"".join(b"X-Big-%d: %s\r\n" % (i, b"v" * 3000) for i in range(3))
    wire.send(get(b"/a.txt", extra=extra))
    assert_limit_error(wire, 431)


def test_more_than_64_header_lines_is_431(serve, site):
    """SPEC 3: more than 64 header lines → 431, however short they are."""
    srv = start(serve, site)
    ok = Wire(srv.port)
    ok.send(get(b"/a.txt", extra=b"".join(b"X-H%d: v\r\n" % i for i in range(60))))
    assert ok.read_response().status == 200
    wire = Wire(srv.port)
    wire.send(get(b"/a.txt", extra=b"".join(b"X-H%d: v\r\n" % i for i in range(70))))
    assert_limit_error(wire, 431)


def test_body_over_max_body_is_413(serve, site):
    """SPEC 3: a declared body over max_body → 413 (without reading it)."""
    srv = start(serve, site, "--max-body", "100")
    ok = Wire(srv.port)
    ok.send(
        b"POST /cgi-bin/echo.py HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n" + b"b" * 100
    )
    assert ok.read_response().body == b"b" * 100  # exactly max_body is fine
    wire = Wire(srv.port)
    wire.send(b"POST /cgi-bin/echo.py HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n")
    assert_limit_error(wire, 413)


def test_chunked_body_over_max_body_is_413(serve, site):
    """SPEC 3: a chunked body that grows past max_body → 413."""
    srv = start(serve, site, "--max-body", "100")
    wire = Wire(srv.port)
    wire.send(
        b"POST /cgi-bin/echo.py HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"40\r\n" + b"c" * 64 + b"\r\n40\r\n" + b"c" * 64 + b"\r\n"
    )
    assert_limit_error(wire, 413)


def test_headers_not_complete_in_time_is_408(serve, site):
    """SPEC 3: headers not complete within header_timeout → 408, then close."""
    srv = start(serve, site, "--header-timeout", "1")
    wire = Wire(srv.port)
    wire.send(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n")  # no blank line, ever
    assert_limit_error(wire, 408)


def test_slowloris_trickle_does_not_extend_the_header_timeout(serve, site):
    """SPEC 3: header_timeout bounds the whole header block, not the gap between bytes."""
    srv = start(serve, site, "--header-timeout", "1")
    wire = Wire(srv.port)
    wire.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    trickle = b"GET /a.txt HTTP/1.1\r\nHost: t\r\n" + b"X-Slow: a\r\n" * 100
    deadline = time.monotonic() + TIMEOUT
    for byte in trickle:
        ready, _, _ = select.select([wire.sock], [], [], 0.1)
        if ready or time.monotonic() > deadline:
            break
        try:
            wire.send(bytes([byte]))
        except OSError:
            break
    assert_limit_error(wire, 408)


def test_limits_are_configurable(serve, site):
    """SPEC 3: each limit is configurable (flags named after the config keys, SPEC 2)."""
    srv = start(
        serve, site, "--max-request-line", "100", "--max-headers", "3", "--max-header-bytes", "300"
    )
    ok = Wire(srv.port)
    ok.send(get(b"/a.txt", extra=b"X-A: 1\r\n"))
    assert ok.read_response().status == 200
    cases = [
        (get(b"/" + b"x" * 150), 414),
        (get(b"/a.txt", extra=b"".join(b"X-%d: v\r\n" % i for i in range(5))), 431),
        (get(b"/a.txt", extra=b"X-Big: %s\r\n" % (b"v" * 400)), 431),
    ]
    for raw, status in cases:
        wire = Wire(srv.port)
        wire.send(raw)
        assert_limit_error(wire, status)


BAD_REQUESTS = {
    "no-spaces": b"GARBAGE\r\n\r\n",
    "too-many-parts": b"GET / HTTP/1.1 extra\r\nHost: t\r\n\r\n",
    "bad-protocol-name": b"GET / HTTX/1.1\r\nHost: t\r\n\r\n",
    "bad-version-digits": b"GET / HTTP/1.x\r\nHost: t\r\n\r\n",
    "header-without-colon": b"GET / HTTP/1.1\r\nHost: t\r\nNoColonHere\r\n\r\n",
    "space-before-colon": b"GET / HTTP/1.1\r\nHost: t\r\nX-A : b\r\n\r\n",  # RFC 9112 5.1
    "empty-header-name": b"GET / HTTP/1.1\r\nHost: t\r\n: b\r\n\r\n",
    "bare-cr-in-header": b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n",
    "bare-cr-in-request-line": b"GET /a.txt\r HTTP/1.1\r\nHost: t\r\n\r\n",
    "missing-host-on-1.1": b"GET /a.txt HTTP/1.1\r\n\r\n",
    "content-length-not-a-number": (
        b"POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5x\r\n\r\n"
    ),
    "negative-content-length": b"POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
    "conflicting-content-lengths": (
        b"POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
    ),
    "bad-chunk-size": (
        b"POST /cgi-bin/echo.py HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\nhello\r\n0\r\n\r\n"
    ),
}


@pytest.mark.parametrize("raw", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_malformed_requests_are_400(serve, site, raw):
    """SPEC 3: malformed request line or header, bare CR, missing Host on 1.1 → 400."""
    srv = start(serve, site)
    wire = Wire(srv.port)
    wire.send(raw)
    assert_limit_error(wire, 400)
    again = Wire(srv.port)  # and the server keeps serving
    again.send(get(b"/a.txt"))
    assert again.read_response().status == 200


def test_unknown_method_is_501(serve, site):
    """SPEC 3: an unknown method → 501."""
    srv = start(serve, site)
    wire = Wire(srv.port)
    wire.send(get(b"/a.txt", method=b"BREW"))
    assert_limit_error(wire, 501)


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/0.9", b"HTTP/3.1"])
def test_http_major_version_other_than_1_is_505(serve, site, version):
    """SPEC 3: HTTP major version ≠ 1 → 505."""
    srv = start(serve, site)
    wire = Wire(srv.port)
    wire.send(get(b"/a.txt", version=version))
    assert_limit_error(wire, 505)


def test_too_many_connections_is_503_and_the_others_are_served(serve, site):
    """SPEC 3: past max_connections, with every connection in the middle of a request,
    → 503; the connections already open keep working. (An idle kept-alive connection
    would be closed for the newcomer instead: test_robustness.py.)"""
    srv = start(serve, site, "--max-connections", "2")
    first, second = Wire(srv.port), Wire(srv.port)
    for wire in (first, second):  # a completed request proves the server accepted it
        wire.send(get(b"/a.txt"))
        assert wire.read_response().status == 200
    request = get(b"/b.txt")
    for wire in (first, second):  # now both are in the middle of their next request
        wire.send(request[:10])
    time.sleep(0.3)
    extra = Wire(srv.port)
    extra.send(get(b"/a.txt"))
    assert_limit_error(extra, 503)
    for wire in (first, second):
        wire.send(request[10:])
        assert wire.read_response().body == b"bravo bravo\n"
    first.close()
    # Once a slot is free, new connections are served again.
    deadline = time.monotonic() + TIMEOUT
    while True:
        wire = Wire(srv.port)
        wire.send(get(b"/c.txt"))
        resp = wire.read_response()
        wire.close()
        if resp.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert resp.status == 200, resp


# --- every response ------------------------------------------------------------------


def test_every_response_has_server_date_and_framing(serve, site):
    """SPEC 3: every response carries Server, Date, and Content-Length or chunked framing."""
    srv = start(serve, site)
    cases = [
        (get(b"/a.txt"), False),
        (get(b"/index.html"), False),
        (get(b"/"), False),
        (get(b"/cgi-bin"), False),  # 301
        (get(b"/nope.txt"), False),
        (get(b"/a.txt", method=b"HEAD"), True),
        (get(b"/cgi-bin/hello.py"), False),
        (get(b"/cgi-bin/hello.py", method=b"HEAD"), True),
        (get(b"/a.txt", method=b"BREW"), False),
        (b"GET /a.txt HTTP/1.1\r\n\r\n", False),
    ]
    for raw, head in cases:
        wire = Wire(srv.port)
        wire.send(raw)
        resp = wire.read_response(head=head)
        wire.close()
        assert resp.get("server"), resp
        assert resp.get("server").lower().startswith("microcgi"), resp
        assert resp.framing in ("length", "chunked"), resp
        date = resp.get("date")
        assert date and date.endswith(" GMT"), resp
        parsed = email.utils.parsedate_to_datetime(date)
        assert abs(parsed.timestamp() - time.time()) < 3600, date


def test_head_has_the_get_head_and_no_body(serve, site):
    """SPEC 3: HEAD has the same head as GET and no body (a script runs, body dropped)."""
    srv = start(serve, site)
    for path in (b"/c.txt", b"/cgi-bin/hello.py", b"/nope.txt"):
        wire = Wire(srv.port)
        # HEAD then GET on one connection: a body after HEAD would break the GET's parse.
        wire.send(get(path, method=b"HEAD") + get(path))
        head = wire.read_response(head=True)
        full = wire.read_response()
        assert head.status == full.status, (head, full)
        assert head.get("content-type") == full.get("content-type")
        if full.framing == "length":
            assert head.get("content-length") == str(len(full.body))
        assert wire.still_open()
        wire.close()


def test_response_to_http10_is_not_chunked(serve, site):
    """SPEC 3 / RFC 9112 7.1: chunked framing is never sent to an HTTP/1.0 client."""
    srv = start(serve, site)
    for path in (b"/a.txt", b"/cgi-bin/hello.py", b"/"):
        wire = Wire(srv.port)
        wire.send(b"GET %s HTTP/1.0\r\n\r\n" % path)
        resp = wire.read_response()
        assert "chunked" not in (resp.get("transfer-encoding") or ""), resp
        assert resp.status == 200, resp
