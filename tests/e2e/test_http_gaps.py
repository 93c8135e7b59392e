"""Small HTTP gaps closed on the wire (issue 9 item 7, issue 10 items 3 and 6, "Small HTTP
gaps"): Expect: 100-continue, Transfer-Encoding on HTTP/1.0, the headers the server owns
(Date, Server), bodiless statuses from scripts, OPTIONS *, and multipart/byteranges.

Real `python -m microcgi serve` processes and raw sockets; responses are read byte-exactly
(test_http.Wire), so a body where none belongs shows up as the next response failing to
parse.
"""

import email.utils
import subprocess
import sys

import pytest
from test_cgi import emit_url, install, log_lines
from test_http import Wire

FILE = bytes((i * 31 + 7) % 256 for i in range(1000))  # range.bin: every byte distinct-ish
BIG = bytes((i * 131 + i // 251) % 256 for i in range(300_000))  # over a buffer and a cache

ECHO_PY = b"""\
import os
import sys

body = sys.stdin.buffer.read()
out = sys.stdout.buffer
out.write(b"Content-Type: application/octet-stream\\r\\n")
out.write(b"X-Content-Length: " + os.environ.get("CONTENT_LENGTH", "none").encode() + b"\\r\\n")
out.write(b"\\r\\n")
out.write(body)
"""

# A script's own Date and Server, with a body of ?n bytes (16 KiB and more: not sent with
# the head in one send(), the "small body" path of hostserver).
DATED_PY = b"""\
import os
import sys

n = int(os.environ.get("QUERY_STRING") or "5")
out = sys.stdout.buffer
out.write(b"Content-Type: text/plain\\r\\nDate: Sun, 06 Nov 1994 08:49:37 GMT\\r\\n")
out.write(b"Server: gitweb/2.39\\r\\n\\r\\n")
out.write(b"d" * n)
"""

SCRIPT_DATE = "Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "range.bin").write_bytes(FILE)
    (root / "big.bin").write_bytes(BIG)
    (root / "page.html").write_bytes(b"<p>page</p>\n")
    for name, text in (("echo.py", ECHO_PY), ("dated.py", DATED_PY)):
        install(root, name, text=text.decode())
    install(root, "emit.py")
    return root


def start(serve, site, *args):
    return serve(site, "--cgi", ".py=" + sys.executable, *args)


def pipelined(wire, raw, last=b"GET /page.html HTTP/1.1\r\nHost: t\r\n\r\n"):
    """Send raw then a GET of page.html on the same connection; the first response is
    returned after checking that the second arrives intact (so nothing stray came
    between them)."""
    wire.send(raw + last)
    method = raw.split(b" ", 1)[0]
    first = wire.read_response(head=method == b"HEAD")
    second = wire.read_response()
    assert (second.status, second.body) == (200, b"<p>page</p>\n"), (first, second)
    return first


# --- Expect: 100-continue (issue 9, item 7) -------------------------------------------------


def test_expect_100_continue_with_a_chunked_body(serve, site):
    """RFC 9110 10.1.1: a chunked upload gets its 100 too (curl waited 1 s for it)."""
    srv = start(serve, site)
    wire = Wire(srv.port)
    wire.send(
        b"POST /cgi-bin/echo.py HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    interim = wire.read_response()  # the body is not sent until this arrives
    assert interim.status == 100, interim
    wire.send(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    final = wire.read_response()
    assert (final.status, final.body) == (200, b"hello world"), final
    assert final.get("x-content-length") == "11"


def test_expect_100_continue_is_ignored_on_http10(serve, site):
    """RFC 9110 10.1.1: "A server that receives a 100-continue expectation in an HTTP/1.0
    request MUST ignore that expectation": no interim response, just the answer."""
    srv = start(serve, site)
    wire = Wire(srv.port)
    wire.send(
        b"POST /cgi-bin/echo.py HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello"
    )
    resp = wire.read_response()
    assert (resp.status, resp.body) == (200, b"hello"), resp
    assert wire.closed_by_server()


def test_chunked_request_on_http10_is_400(serve, site):
    """RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 request is faulty framing: 400, close."""
    srv = start(serve, site)
    wire = Wire(srv.port)
    wire.send(
        b"POST /cgi-bin/echo.py HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n"
    )
    resp = wire.read_response()
    assert resp.status == 400, resp
    assert wire.closed_by_server()


# --- Date and Server belong to the script when it sends them (issue 10, item 3) ---------------


@pytest.mark.parametrize(
    "args, n",
    [((), 5), ((), 40000), (("--stream-output",), 5), (("--stream-output",), 40000)],
    ids=["small", "large", "streamed-small", "streamed-large"],
)
def test_script_date_and_server_replace_the_servers(serve, site, args, n):
    """A script's Date and Server (gitweb, CGI.pm) go out once: the script's, not both."""
    srv = start(serve, site, *args)
    wire = Wire(srv.port, recv_size=4096)
    for method in (b"GET", b"HEAD"):
        raw = b"%s /cgi-bin/dated.py?%d HTTP/1.1\r\nHost: t\r\n\r\n" % (method, n)
        resp = pipelined(wire, raw)
        assert resp.status == 200, resp
        assert resp.all("date") == [SCRIPT_DATE], resp
        assert resp.all("server") == ["gitweb/2.39"], resp
        if method == b"GET":
            assert resp.body == b"d" * n
    # the server's own lines come back for a script that sends neither
    resp = pipelined(
        wire,
        b"GET "
        + emit_url(b"Content-Type: text/plain\r\n\r\nx").encode()
        + b" HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    assert resp.all("server") and resp.all("server")[0].startswith("microcgi/"), resp
    assert len(resp.all("date")) == 1 and resp.get("date") != SCRIPT_DATE, resp
    assert email.utils.parsedate_to_datetime(resp.get("date"))


# --- statuses without a body (issue 10, item 6) ----------------------------------------------


BODILESS = [
    (b"Status: 204\r\nContent-Type: text/plain\r\n\r\nexcess body", 204, ()),
    (b"Status: 204 No Content\r\n\r\n", 204, ()),
    (
        b'Status: 304\r\nETag: "v1"\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n'
        b"Content-Type: text/html\r\n\r\n<p>stale copy</p>",
        304,
        (("etag", '"v1"'), ("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT")),
    ),
]


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
@pytest.mark.parametrize("output, status, keep", BODILESS, ids=["204-body", "204", "304"])
def test_204_and_304_from_a_script_have_no_body_and_no_length(
    serve, site, stream, output, status, keep
):
    """RFC 9110 6.4.1, 8.6, 15.4.5: no Content-Length, no chunked framing, no body (curl:
    "Excess found"); a 304 keeps its validators; the connection stays usable."""
    srv = start(serve, site, *(("--stream-output",) if stream else ()))
    wire = Wire(srv.port)
    for method, version in ((b"GET", b"HTTP/1.1"), (b"HEAD", b"HTTP/1.1"), (b"GET", b"HTTP/1.0")):
        raw = b"%s %s %s\r\nHost: t\r\n" % (method, emit_url(output).encode(), version)
        if version == b"HTTP/1.0":
            raw += b"Connection: keep-alive\r\n"
        resp = pipelined(wire, raw + b"\r\n")
        assert resp.status == status, resp
        assert resp.get("content-length") is None, resp
        assert resp.get("transfer-encoding") is None, resp
        assert resp.get("connection") != "close", resp
        for name, value in keep:
            assert resp.get(name) == value, resp


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
@pytest.mark.parametrize("code", [b"100 Continue", b"101", b"103 Early Hints"])
def test_1xx_status_from_a_script_is_500(serve, site, stream, code):
    """A script's 1xx is no final response (curl: "Received HTTP/0.9"): 500, logged."""
    srv = start(serve, site, *(("--stream-output",) if stream else ()))
    wire = Wire(srv.port)
    output = b"Status: " + code + b"\r\nContent-Type: text/plain\r\n\r\nbody"
    resp = pipelined(wire, b"GET " + emit_url(output).encode() + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    assert resp.status == 500, resp
    assert b"body" not in resp.body
    assert log_lines(srv, "emit.py", "cgi: bogus status"), srv.stderr_text()


def test_options_on_a_static_file_is_204_without_length(serve, site):
    """RFC 9110 8.6: no Content-Length in a 204, the server's own ones included."""
    srv = start(serve, site)
    wire = Wire(srv.port)
    resp = pipelined(wire, b"OPTIONS /page.html HTTP/1.1\r\nHost: t\r\n\r\n")
    assert resp.status == 204, resp
    assert resp.get("content-length") is None and resp.get("allow"), resp


# --- OPTIONS * (issue 10, "Small HTTP gaps") ------------------------------------------------


def test_options_asterisk_is_200_with_allow(serve, site):
    """RFC 9110 9.3.7: OPTIONS * asks about the server: 200, Allow, an empty body."""
    srv = start(serve, site)
    wire = Wire(srv.port)
    resp = pipelined(wire, b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n")
    assert resp.status == 200, resp
    allow = [m.strip() for m in resp.get("allow").split(",")]
    assert {"GET", "HEAD", "POST", "OPTIONS"} <= set(allow), resp
    assert resp.get("content-length") == "0" and resp.body == b"", resp
    # an index script at "/" does not get to answer it
    install(site, "emit.py", "index.py")
    resp = pipelined(wire, b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n")
    assert resp.status == 200 and resp.get("allow"), resp


# --- multipart/byteranges (issue 10, "Small HTTP gaps"; RFC 9110 14.6) ----------------------


def parse_byteranges(resp, data, part_type=b"application/octet-stream"):
    """The parts of a multipart/byteranges response, each checked against data (and its
    Content-Type against part_type); returns [(first, last)] in order."""
    ctype = resp.get("content-type")
    assert ctype.startswith("multipart/byteranges; boundary="), resp
    boundary = ctype.partition("boundary=")[2].encode()
    body = resp.body
    assert body.startswith(b"--" + boundary + b"\r\n"), body[:100]
    assert body.endswith(b"\r\n--" + boundary + b"--\r\n"), body[-100:]
    inner = body[len(boundary) + 4 : -(len(boundary) + 8)]
    got = []
    for part in inner.split(b"\r\n--" + boundary + b"\r\n"):
        head, sep, content = part.partition(b"\r\n\r\n")
        assert sep, part[:200]
        fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n"))
        assert fields[b"Content-Type"] == part_type, fields
        unit, _, spec = fields[b"Content-Range"].partition(b" ")
        span, _, size = spec.partition(b"/")
        first, _, last = span.partition(b"-")
        assert unit == b"bytes" and int(size) == len(data), fields
        assert content == data[int(first) : int(last) + 1], (first, last)
        got.append((int(first), int(last)))
    return got


RANGE = "/range.bin"


@pytest.mark.parametrize(
    "spec, parts",
    [
        ("bytes=0-9,20-29", [(0, 9), (20, 29)]),
        ("bytes=500-599,0-0,-10", [(500, 599), (0, 0), (990, 999)]),  # the order asked
        ("bytes=0-9,2000-,100-", [(0, 9), (100, 999)]),  # the unsatisfiable one left out
        ("bytes=5-14,0-9,600-609", [(0, 14), (600, 609)]),  # overlapping: joined
    ],
)
def test_several_ranges_are_206_multipart(serve, site, spec, parts):
    """RFC 9110 14.6: one part per range with its Content-Type and Content-Range, the exact
    Content-Length up front (the next response on the connection parses)."""
    srv = start(serve, site)
    wire = Wire(srv.port, recv_size=333)
    raw = b"GET %s HTTP/1.1\r\nHost: t\r\nRange: %s\r\n\r\n" % (RANGE.encode(), spec.encode())
    resp = pipelined(wire, raw)
    assert resp.status == 206 and resp.framing == "length", resp
    assert resp.get("content-range") is None, resp
    assert resp.get("etag") and resp.get("last-modified"), resp
    assert parse_byteranges(resp, FILE) == parts


@pytest.mark.parametrize(
    "spec, first, last",
    [("bytes=0-9,10-19", 0, 19), ("bytes=10-19,0-14", 0, 19), ("bytes=0-0,0-0", 0, 0)],
)
def test_overlapping_or_adjacent_ranges_are_one_206(serve, site, spec, first, last):
    srv = start(serve, site)
    wire = Wire(srv.port)
    raw = b"GET %s HTTP/1.1\r\nHost: t\r\nRange: %s\r\n\r\n" % (RANGE.encode(), spec.encode())
    resp = pipelined(wire, raw)
    assert resp.status == 206, resp
    assert resp.get("content-range") == "bytes %d-%d/%d" % (first, last, len(FILE)), resp
    assert resp.body == FILE[first : last + 1]


@pytest.mark.parametrize(
    "spec",
    [
        ",".join("%d-%d" % (i * 10, i * 10) for i in range(17)),  # too many ranges
        "0-599,400-999",  # more bytes than the file
        "0-,0-",
    ],
    ids=["17-ranges", "past-size", "twice-whole"],
)
def test_too_many_or_too_large_ranges_get_the_whole_file(serve, site, spec):
    """RFC 9110 14.2 lets a server ignore Range: 200 and the whole file."""
    srv = start(serve, site)
    wire = Wire(srv.port)
    raw = b"GET %s HTTP/1.1\r\nHost: t\r\nRange: bytes=%s\r\n\r\n" % (
        RANGE.encode(),
        spec.encode(),
    )
    resp = pipelined(wire, raw)
    assert (resp.status, resp.body) == (200, FILE), resp


def test_head_with_several_ranges_is_the_plain_head(serve, site):
    """RFC 9110 14.2: range handling is defined for GET only; HEAD gets the 200 head."""
    srv = start(serve, site)
    wire = Wire(srv.port)
    resp = pipelined(wire, b"HEAD /range.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1,5-6\r\n\r\n")
    assert resp.status == 200, resp
    assert resp.get("content-length") == str(len(FILE)), resp


def test_several_ranges_of_a_large_file(serve, site):
    """Parts crossing the server's buffer size, from a file too large for its cache."""
    srv = start(serve, site, "--buffer-size", "4096")
    wire = Wire(srv.port, recv_size=65536)
    spec = b"bytes=100-70099,-5000,150000-250000"
    resp = pipelined(wire, b"GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: " + spec + b"\r\n\r\n")
    assert resp.status == 206, resp
    assert int(resp.get("content-length")) == len(resp.body)
    want = [(100, 70099), (len(BIG) - 5000, len(BIG) - 1), (150000, 250000)]
    assert parse_byteranges(resp, BIG) == want


def test_curl_reads_several_ranges(serve, site, tmp_path):
    """curl, a real client, takes the multipart answer whole (exit status 0)."""
    srv = start(serve, site)
    out = tmp_path / "out"
    run = subprocess.run(
        ["curl", "-sS", "-r", "0-9,100-109", "-D", "-", "-o", str(out), srv.url(RANGE)],
        capture_output=True,
        timeout=30,
    )
    assert run.returncode == 0, run.stderr
    assert b" 206 " in run.stdout.split(b"\r\n")[0], run.stdout
    body = out.read_bytes()
    assert FILE[0:10] in body and FILE[100:110] in body
    assert body.count(b"Content-Range: bytes ") == 2, body
