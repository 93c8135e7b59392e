# The sans-I/O HTTP/1.1 request parser of http11.py (RFC 9112; SPEC section 3).
# Plain functions and asserts: pytest collects them, and tests/run_mpy.py runs them under
# MicroPython. Every input is fed whole, one byte at a time, and followed by a second,
# pipelined request that must come out intact after next_request() (h11 test_io.py tr()).
from microcgi import http11
from microcgi.errors import HTTPError, ProtocolError
from microcgi.http11 import END, NEED_DATA, Data, Request, RequestParser

# Small limits keep the byte-at-a-time runs fast; the defaults have their own tests.
SMALL = {"max_request_line": 64, "max_header_bytes": 128, "max_headers": 4, "max_body": 100}

SECOND = b"GET /second?x=1 HTTP/1.1\r\nHost: two\r\nX-B: 2\r\n\r\n"
SECOND_WANT = (
    "GET",
    b"/second?x=1",
    b"/second",
    b"x=1",
    "HTTP/1.1",
    [(b"host", b"two"), (b"x-b", b"2")],
    True,
    None,
    False,
    b"",
)


# -- the feeding helper --------------------------------------------------------------------


def feed_all(pieces, limits=None, shared=False):
    """Feed pieces in order, draining events after each one until NEED_DATA.

    After END it calls next_request() and goes on, as server.py does. With shared, each
    piece goes in through a memoryview of one reused bytearray that is scribbled over
    right after feed() (server.py reuses its receive buffer the same way).

    Returns (messages, status): messages is a list of [Request, body bytes, ended];
    status is the ProtocolError's status, or None when no error was raised.
    """
    parser = RequestParser(**(limits or {}))
    messages = []
    rbuf = bytearray(max([len(p) for p in pieces] + [1]))
    try:
        for piece in pieces:
            if shared:
                n = len(piece)
                rbuf[:n] = piece
                parser.feed(memoryview(rbuf)[:n])
                rbuf[:n] = b"\xff" * n
            else:
                parser.feed(piece)
            drain(parser, messages)
    except ProtocolError as e:
        return messages, e.status
    return messages, None


def drain(parser, messages):
    while True:
        ev = parser.next_event()
        if ev is NEED_DATA:
            return
        if ev is END:
            assert messages and not messages[-1][2], "END without a Request"
            messages[-1][2] = True
            assert parser.is_done()
            # nothing more for this request until next_request(), even if bytes wait
            assert parser.next_event() is NEED_DATA
            parser.next_request()
            assert parser.in_head()
        elif isinstance(ev, Data):
            assert messages and not messages[-1][2], "Data outside a request"
            assert type(ev.data) is bytes and len(ev.data) > 0
            messages[-1][1] += ev.data
        else:
            assert isinstance(ev, Request), ev
            assert not messages or messages[-1][2], "Request before the previous END"
            messages.append([ev, b"", False])


def whole(data):
    return [data]


def bytewise(data):
    return [data[i : i + 1] for i in range(len(data))]


def summary(message):
    req, body, ended = message
    assert ended, "request not complete"
    return (
        req.method,
        req.target,
        req.path,
        req.query,
        req.version,
        req.headers,
        req.keep_alive,
        req.body_length,
        req.chunked,
        body,
    )


def ways(data, limits):
    """(name, messages, status) for each way of feeding data."""
    out = []
    for name, pieces, shared in (
        ("whole", whole(data), False),
        ("bytewise", bytewise(data), True),
        ("pipelined", whole(data + SECOND), False),
        ("pipelined bytewise", bytewise(data + SECOND), True),
    ):
        messages, status = feed_all(pieces, limits, shared)
        out.append((name, messages, status))
    return out


def parse_one(data, limits=None):
    """Parse one complete request all ways; return its summary (the same every way)."""
    first = None
    for name, messages, status in ways(data, limits):
        assert status is None, (name, data, status)
        want = 2 if name.startswith("pipelined") else 1
        assert len(messages) == want, (name, data, len(messages))
        got = summary(messages[0])
        if first is None:
            first = got
        assert got == first, (name, data, got, first)
        if want == 2:
            assert summary(messages[1]) == SECOND_WANT, (name, data, summary(messages[1]))
    return first


def request_of(data, limits=None):
    """The Request of one complete request (fed whole), after checking all ways agree."""
    parse_one(data, limits)
    messages, status = feed_all(whole(data), limits)
    return messages[0][0]


def expect_status(data, status, limits=None):
    """Each way of feeding data raises ProtocolError with this status."""
    for name, messages, got in ways(data, limits):
        assert got == status, (name, data, got, status)
        # the error belongs to the first request: it never completes
        assert len(messages) <= 1 and not (messages and messages[0][2]), (name, data)


# field positions in summary()
METHOD, TARGET, PATH, QUERY, VERSION, HEADERS, KEEP_ALIVE, BODY_LENGTH, CHUNKED, BODY = range(10)


def check_table(table, limits=None):
    for data, want in table:
        got = parse_one(data, limits)
        for i in want:
            assert got[i] == want[i], (data, i, got[i], want[i])


# -- request line --------------------------------------------------------------------------


def test_request_line():
    table = (
        (
            b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
            {METHOD: "GET", TARGET: b"/", PATH: b"/", QUERY: None, VERSION: "HTTP/1.1"},
        ),
        (
            b"GET /a/b?c=d&e=%20 HTTP/1.1\r\nHost: h\r\n\r\n",
            {TARGET: b"/a/b?c=d&e=%20", PATH: b"/a/b", QUERY: b"c=d&e=%20"},
        ),
        # no '?' is no query; an empty '?' is an empty query
        (b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n", {PATH: b"/a", QUERY: None}),
        (b"GET /a? HTTP/1.1\r\nHost: h\r\n\r\n", {TARGET: b"/a?", PATH: b"/a", QUERY: b""}),
        (b"GET /a?b?c HTTP/1.1\r\nHost: h\r\n\r\n", {PATH: b"/a", QUERY: b"b?c"}),
        (b"GET /?x HTTP/1.1\r\nHost: h\r\n\r\n", {PATH: b"/", QUERY: b"x"}),
        # %-escapes and the other allowed bytes stay as sent
        (
            b"GET /%7E/a%2Fb;p=1!$&'()*+,=:@~ HTTP/1.1\r\nHost: h\r\n\r\n",
            {PATH: b"/%7E/a%2Fb;p=1!$&'()*+,=:@~"},
        ),
        (b"GET / HTTP/1.0\r\n\r\n", {VERSION: "HTTP/1.0", HEADERS: []}),
        (b"HEAD /x HTTP/1.0\r\n\r\n", {METHOD: "HEAD"}),
        (b"POST /x HTTP/1.1\r\nHost: h\r\n\r\n", {METHOD: "POST", BODY_LENGTH: None}),
        (b"PUT /x HTTP/1.1\r\nHost: h\r\n\r\n", {METHOD: "PUT"}),
        (b"DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n", {METHOD: "DELETE"}),
        (b"PATCH /x HTTP/1.1\r\nHost: h\r\n\r\n", {METHOD: "PATCH"}),
        (b"OPTIONS /x HTTP/1.1\r\nHost: h\r\n\r\n", {METHOD: "OPTIONS"}),
        # asterisk-form, OPTIONS only (RFC 9112 3.2.4)
        (
            b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
            {METHOD: "OPTIONS", TARGET: b"*", PATH: b"/", QUERY: None},
        ),
    )
    check_table(table)


def test_request_types():
    req = request_of(b"GET /p?q HTTP/1.1\r\nHost: h\r\n\r\n")
    assert type(req.method) is str and type(req.version) is str
    assert type(req.target) is bytes and type(req.path) is bytes and type(req.query) is bytes
    for name, value in req.headers:
        assert type(name) is bytes and type(value) is bytes


def test_absolute_form():
    # RFC 9112 3.2.2: the server keeps the path and query; an empty path is "/" (3.3)
    table = (
        (b"http://example.com/a/b?c=d", b"/a/b?c=d", b"/a/b", b"c=d"),
        (b"http://example.com:8080/p", b"/p", b"/p", None),
        (b"HTTP://Example.COM/p", b"/p", b"/p", None),
        (b"https://example.com/s/", b"/s/", b"/s/", None),
        (b"http://example.com", b"/", b"/", None),
        (b"http://user@example.com/u", b"/u", b"/u", None),
        (b"http://example.com/?", b"/?", b"/", b""),
        # path empty, query present: the query must survive (RFC 3986 3: path-abempty)
        (b"http://example.com?x=1", b"/?x=1", b"/", b"x=1"),
    )
    for target, want_target, want_path, want_query in table:
        data = b"GET " + target + b" HTTP/1.1\r\nHost: example.com\r\n\r\n"
        got = parse_one(data)
        assert (got[TARGET], got[PATH], got[QUERY]) == (want_target, want_path, want_query), (
            target,
            got,
        )


def test_unknown_and_unimplemented_methods_are_501():
    for line in (
        b"FOO / HTTP/1.1",
        b"TRACE / HTTP/1.1",
        b"get / HTTP/1.1",  # methods are case-sensitive (RFC 9110 9.1)
        b"Get / HTTP/1.1",
        b"PROPFIND / HTTP/1.1",
        b"GETS / HTTP/1.1",
    ):
        expect_status(line + b"\r\nHost: h\r\n\r\n", 501)


def test_connect_is_501():
    # CONNECT is a real method (RFC 9110 9.3.6) that microcgi does not implement: 501, not
    # a 400 for its authority-form target.
    expect_status(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 501)


def test_http_major_version_not_1_is_505():
    for version in (b"HTTP/2.0", b"HTTP/3.0", b"HTTP/0.9", b"HTTP/9.9"):
        expect_status(b"GET / " + version + b"\r\nHost: h\r\n\r\n", 505)


def test_malformed_version_is_400():
    for version in (
        b"HTTP/1",
        b"HTTP/1.",
        b"HTTP/.1",
        b"HTTP/11",
        b"HTTP/1.1.1",
        b"HTTP/1.10",
        b"HTTP/10.1",
        b"HTTP/a.b",
        b"HTTP/1.x",
        b"HTTP/1,1",
        b"http/1.1",  # HTTP-name is case-sensitive (RFC 9112 2.3)
        b"HTTPS/1.1",
        b"HTTP\\1.1",
        b"",
        b"XTTP/1.1",
    ):
        expect_status(b"GET / " + version + b"\r\nHost: h\r\n\r\n", 400)


def test_higher_minor_version_is_treated_as_1_1():
    # RFC 9110 2.5: a higher minor version is processed as the highest one we implement,
    # so SERVER_PROTOCOL is HTTP/1.1 (SPEC 6), keep-alive is the default and Host is needed.
    got = parse_one(b"GET / HTTP/1.2\r\nHost: h\r\n\r\n")
    assert got[VERSION] == "HTTP/1.1" and got[KEEP_ALIVE] is True, got
    expect_status(b"GET / HTTP/1.9\r\n\r\n", 400)


def test_malformed_request_line_is_400():
    for line in (
        b"GET /",
        b"GET",
        b"/ HTTP/1.1",
        b"GET  / HTTP/1.1",  # two spaces
        b"GET /  HTTP/1.1",
        b"GET / HTTP/1.1 ",  # trailing space
        b" GET / HTTP/1.1",  # leading space
        b"GET / HTTP/1.1 extra",
        b"GET\t/\tHTTP/1.1",
        b"G@T / HTTP/1.1",  # method not a token
        b"GE(T / HTTP/1.1",
        b"GET  HTTP/1.1",  # empty target
        b"GET a/b HTTP/1.1",  # not origin-form
        b"GET * HTTP/1.1",  # asterisk-form is for OPTIONS only
        b"OPTIONS ** HTTP/1.1",
        b"GET ftp://example.com/ HTTP/1.1",
        b"GET example.com:80 HTTP/1.1",
    ):
        expect_status(line + b"\r\nHost: h\r\n\r\n", 400)


def test_bad_bytes_in_target_are_400():
    for target in (
        b"/a b",  # a space makes four parts
        b"/a\tb",
        b"/a\x00b",
        b"/a\x01b",
        b"/a\x1fb",
        b"/a\x7fb",
        b"/a\x80b",
        b"/caf\xc3\xa9",  # raw UTF-8 must be %-encoded on the wire
        b"/a\x0bb",
        b"/a\x0cb",
    ):
        expect_status(b"GET " + target + b" HTTP/1.1\r\nHost: h\r\n\r\n", 400)


# -- header fields -------------------------------------------------------------------------


def test_headers_lowercased_in_order_with_repeats():
    data = (
        b"GET / HTTP/1.1\r\n"
        b"Host: example.com:8080\r\n"
        b"X-Multi: one\r\n"
        b"Accept:text/html\r\n"  # no space after the colon
        b"x-multi:  two  \r\n"
        b"X-Tabs:\t\tv  w\t\r\n"  # OWS is spaces and tabs; inner whitespace stays
        b"X-Empty:\r\n"
        b"X-Blank:   \r\n"
        b"Cookie: a=1; b=2\r\n"
        b"X-Obs-Text: caf\xc3\xa9 \xff\r\n"  # obs-text is allowed in values
        b"X-Colons: a:b::c\r\n"
        b"X-Tab-Inside: a\tb\r\n"
        b"!#$%&'*+-.^_`|~09aZ: token\r\n"
        b"\r\n"
    )
    want = [
        (b"host", b"example.com:8080"),
        (b"x-multi", b"one"),
        (b"accept", b"text/html"),
        (b"x-multi", b"two"),
        (b"x-tabs", b"v  w"),
        (b"x-empty", b""),
        (b"x-blank", b""),
        (b"cookie", b"a=1; b=2"),
        (b"x-obs-text", b"caf\xc3\xa9 \xff"),
        (b"x-colons", b"a:b::c"),
        (b"x-tab-inside", b"a\tb"),
        (b"!#$%&'*+-.^_`|~09az", b"token"),
    ]
    assert parse_one(data, {"max_headers": 64})[HEADERS] == want


def test_header_lookup():
    req = request_of(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-A: 2\r\nX-Empty:\r\n\r\n")
    assert req.header(b"x-a") == b"1"
    assert req.header(b"host") == b"h"
    assert req.header(b"x-empty") == b""
    assert req.header(b"x-missing") is None


def test_line_endings():
    # LF alone is accepted as a line terminator (RFC 9112 2.2), mixed with CRLF too
    want = {METHOD: "GET", PATH: b"/lf", HEADERS: [(b"host", b"h"), (b"x", b"1")]}
    check_table(
        (
            (b"GET /lf HTTP/1.1\nHost: h\nX: 1\n\n", want),
            (b"GET /lf HTTP/1.1\r\nHost: h\nX: 1\r\n\n", want),
            (b"GET /lf HTTP/1.1\nHost: h\r\nX: 1\n\r\n", want),
            (b"GET /lf HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\n", want),
        )
    )
    check_table(((b"GET /lf HTTP/1.0\n\n", {PATH: b"/lf", HEADERS: []}),))


def test_leading_empty_lines_are_skipped():
    # RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request-line
    for lead in (b"\r\n", b"\n", b"\r\n\r\n\r\n", b"\n\r\n\n"):
        got = parse_one(lead + b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
        assert got[PATH] == b"/x" and got[HEADERS] == [(b"host", b"h")]
    # also between pipelined requests (a CRLF some clients send after a POST body)
    data = b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab\r\n" + SECOND
    for pieces in (whole(data), bytewise(data)):
        messages, status = feed_all(pieces)
        assert status is None and len(messages) == 2
        assert summary(messages[0])[BODY] == b"ab"
        assert summary(messages[1]) == SECOND_WANT


def test_host_rules():
    # RFC 9112 3.2: HTTP/1.1 needs exactly one Host; HTTP/1.0 may go without
    assert parse_one(b"GET / HTTP/1.0\r\n\r\n")[HEADERS] == []
    assert parse_one(b"GET / HTTP/1.0\r\nHost: h\r\n\r\n")[HEADERS] == [(b"host", b"h")]
    assert parse_one(b"GET / HTTP/1.1\r\nHOST: h\r\n\r\n")[HEADERS] == [(b"host", b"h")]
    # an empty Host is allowed when the target has no authority
    assert parse_one(b"GET / HTTP/1.1\r\nHost:\r\n\r\n")[HEADERS] == [(b"host", b"")]
    for data in (
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nX-Host: h\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
        b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET http://example.com/ HTTP/1.1\r\n\r\n",
    ):
        expect_status(data, 400)


def test_malformed_header_lines_are_400():
    for line in (
        b"NoColon",
        b"No Colon here",
        b"X-A : space before colon",  # RFC 9112 5.1: MUST reject
        b"X-A\t: tab before colon",
        b": empty name",
        b" X-A: leading space",
        b"X(A): not a token",
        b'X"A": quoted',
        b"X/A: slash",
        b"X@A: at",
        b"X\x00A: nul",
        b"caf\xc3\xa9: obs-text name",
    ):
        expect_status(b"GET / HTTP/1.1\r\nHost: h\r\n" + line + b"\r\n\r\n", 400)


def test_obs_fold_is_400():
    # RFC 9112 5.2: obs-fold outside message/http is rejected with 400
    for data in (
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n two\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n\ttwo\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: one\n two: three\n\n",
        b"GET / HTTP/1.1\r\n Host: h\r\n\r\n",
    ):
        expect_status(data, 400)


def test_control_bytes_in_values_are_400():
    for byte in (0x00, 0x01, 0x08, 0x0B, 0x0C, 0x1B, 0x1F, 0x7F):
        value = b"a" + bytes([byte]) + b"b"
        expect_status(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: " + value + b"\r\n\r\n", 400)
    expect_status(b"GET / HTTP/1.1\r\nHost: h\x00\r\n\r\n", 400)


def test_bare_cr_is_400():
    # RFC 9112 2.2: a bare CR is invalid outside the content
    for data in (
        b"GET / HTTP/1.1\rHost: h\r\n\r\n",
        b"GET / HTTP/1.1\r\r\nHost: h\r\n\r\n",
        b"GET /a\rb HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: ab\r\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A\r: ab\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\rX-A: ab\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\n\r\r\n\r\n",
        b"GET / HTTP/1.1\nHost: h\n\r\r\n\n",
    ):
        expect_status(data, 400)


# -- keep-alive (RFC 9112 9.3) -------------------------------------------------------------


def test_keep_alive():
    table = (
        (b"HTTP/1.1", None, True),
        (b"HTTP/1.1", b"close", False),
        (b"HTTP/1.1", b"Close", False),
        (b"HTTP/1.1", b"CLOSE", False),
        (b"HTTP/1.1", b"keep-alive", True),
        (b"HTTP/1.1", b"Upgrade, close", False),
        (b"HTTP/1.1", b"close,Upgrade", False),
        (b"HTTP/1.1", b"  upgrade ,\tclose\t", False),
        (b"HTTP/1.1", b"closed", True),  # not the token
        (b"HTTP/1.1", b"x-close", True),
        (b"HTTP/1.1", b"", True),
        (b"HTTP/1.0", None, False),
        (b"HTTP/1.0", b"keep-alive", True),
        (b"HTTP/1.0", b"Keep-Alive", True),
        (b"HTTP/1.0", b"keep-alive, Upgrade", True),
        (b"HTTP/1.0", b"Upgrade,Keep-Alive", True),
        (b"HTTP/1.0", b"close", False),
        (b"HTTP/1.0", b"keep-alives", False),
        # close wins over keep-alive, whatever the order (RFC 9112 9.6)
        (b"HTTP/1.0", b"keep-alive, close", False),
        (b"HTTP/1.0", b"close, keep-alive", False),
        (b"HTTP/1.1", b"close, keep-alive", False),
    )
    for version, connection, want in table:
        data = b"GET / " + version + b"\r\nHost: h\r\n"
        if connection is not None:
            data += b"Connection: " + connection + b"\r\n"
        got = parse_one(data + b"\r\n")
        assert got[KEEP_ALIVE] is want, (version, connection, got[KEEP_ALIVE])


def test_keep_alive_repeated_connection_headers():
    for version in (b"HTTP/1.0", b"HTTP/1.1"):
        for first, second in ((b"keep-alive", b"close"), (b"close", b"keep-alive")):
            data = b"GET / %s\r\nHost: h\r\nConnection: %s\r\nConnection: %s\r\n\r\n" % (
                version,
                first,
                second,
            )
            assert parse_one(data)[KEEP_ALIVE] is False, data


# -- Content-Length bodies -----------------------------------------------------------------


def test_content_length_bodies():
    head = b"POST /p HTTP/1.1\r\nHost: h\r\n"
    table = (
        (head + b"Content-Length: 5\r\n\r\nhello", b"hello", 5),
        (head + b"content-length:5\r\n\r\nhello", b"hello", 5),
        (head + b"Content-Length: 0\r\n\r\n", b"", 0),
        (head + b"Content-Length: 005\r\n\r\nhello", b"hello", 5),
        (head + b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", b"abc", 3),
        (head + b"Content-Length: 2\r\n\r\n\r\n", b"\r\n", 2),
        (head + b"Content-Length: 4\r\n\r\n\x00\xff\r\x80", b"\x00\xff\r\x80", 4),
        (head + b"\r\n", b"", None),  # no body at all
        (b"GET / HTTP/1.0\r\n\r\n", b"", None),
        # a body that looks like a request is still body (no smuggling)
        (head + b"Content-Length: 37\r\n\r\n" + SECOND[:37], SECOND[:37], 37),
    )
    for data, body, length in table:
        got = parse_one(data)
        assert got[BODY] == body and got[BODY_LENGTH] == length, (data, got)
        assert got[CHUNKED] is False


def test_content_length_body_in_odd_pieces():
    body = bytes(range(256)) * 4
    data = b"PUT /p HTTP/1.1\r\nHost: h\r\nContent-Length: 1024\r\n\r\n" + body + SECOND
    for size in (1, 2, 3, 7, 64, 1000, 4096):
        pieces = [data[i : i + size] for i in range(0, len(data), size)]
        messages, status = feed_all(pieces, {"max_body": 1024}, shared=True)
        assert status is None and len(messages) == 2, size
        assert summary(messages[0])[BODY] == body and messages[0][0].body_length == 1024
        assert summary(messages[1]) == SECOND_WANT


def test_body_arrives_before_end():
    # Data comes out as soon as bytes are there; END only once the body is complete
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\nabc")
    req = parser.next_event()
    assert isinstance(req, Request) and req.body_length == 6
    assert not parser.in_head()
    ev = parser.next_event()
    assert isinstance(ev, Data) and ev.data == b"abc"
    assert parser.next_event() is NEED_DATA and not parser.is_done()
    parser.feed(b"def")
    ev = parser.next_event()
    assert isinstance(ev, Data) and ev.data == b"def"
    assert parser.next_event() is END and parser.is_done()
    assert parser.buffered() == 0


def test_need_data_until_head_complete():
    data = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
    parser = RequestParser()
    for i in range(len(data) - 1):
        parser.feed(data[i : i + 1])
        assert parser.next_event() is NEED_DATA, i
        assert parser.in_head()
    parser.feed(data[-1:])
    assert isinstance(parser.next_event(), Request)


def test_pipelined_requests_wait_for_next_request():
    data = b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n"
    parser = RequestParser()
    parser.feed(data)
    first = parser.next_event()
    assert first.path == b"/1"
    assert parser.next_event() is END
    assert parser.next_event() is NEED_DATA  # the second waits for next_request()
    assert parser.buffered() == len(data) // 2
    parser.next_request()
    second = parser.next_event()
    assert second.path == b"/2" and first.path == b"/1"
    assert parser.next_event() is END
    parser.next_request()
    assert parser.next_event() is NEED_DATA and parser.buffered() == 0


def test_many_pipelined_requests():
    reqs = []
    for i in range(20):
        if i % 3 == 0:
            reqs.append(b"POST /%d HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n%02d" % (i, i))
        elif i % 3 == 1:
            reqs.append(
                b"POST /%d HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"2\r\n%02d\r\n0\r\n\r\n" % (i, i)
            )
        else:
            reqs.append(b"GET /%d HTTP/1.1\r\nHost: h\r\n\r\n" % i)
    data = b"".join(reqs)
    for pieces in (whole(data), bytewise(data), [data[i : i + 5] for i in range(0, len(data), 5)]):
        messages, status = feed_all(pieces)
        assert status is None and len(messages) == 20
        for i, message in enumerate(messages):
            got = summary(message)
            assert got[PATH] == b"/%d" % i
            assert got[BODY] == (b"" if i % 3 == 2 else b"%02d" % i)


# -- chunked bodies (RFC 9112 7.1) ---------------------------------------------------------

CHUNKED_HEAD = b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"

CHUNKED_OK = (
    (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
    (b"0\r\n\r\n", b""),
    (b"000\r\n\r\n", b""),
    (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
    (b"a\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
    (b"0000a\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
    (b"1F\r\n" + b"x" * 31 + b"\r\n1f\r\n" + b"y" * 31 + b"\r\n0\r\n\r\n", b"x" * 31 + b"y" * 31),
    # chunk extensions are ignored (RFC 9112 7.1.1), BWS before ';' allowed
    (b"5;name=value\r\nhello\r\n0;last\r\n\r\n", b"hello"),
    (b"5 ; a=b ; c\r\nhello\r\n0\r\n\r\n", b"hello"),
    (b'3;q="x;y"\r\nabc\r\n0\r\n\r\n', b"abc"),
    # trailers are read and dropped (RFC 9112 7.1.2)
    (b"3\r\nabc\r\n0\r\nX-Trailer: 1\r\nX-Other: two\r\n\r\n", b"abc"),
    # data bytes are opaque: CR, LF and chunk-looking text inside the data
    (b"4\r\n\r\n\r\n\r\n0\r\n\r\n", b"\r\n\r\n"),
    (b"5\r\n0\r\n\r\n\r\n0\r\n\r\n", b"0\r\n\r\n"),
    (b"2\r\n\x00\xff\r\n0\r\n\r\n", b"\x00\xff"),
    # LF-only line endings
    (b"5\nhello\n0\n\n", b"hello"),
    (b"1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n", b"abc"),
)


def test_chunked_bodies():
    for chunks, body in CHUNKED_OK:
        got = parse_one(CHUNKED_HEAD + chunks)
        assert got[CHUNKED] is True and got[BODY] == body, (chunks, got)
        assert got[BODY_LENGTH] == len(body), (chunks, got)


def test_chunked_split_at_every_byte():
    data = CHUNKED_HEAD + b"5;x=y\r\nhello\r\n1A\r\n" + b"z" * 26 + b"\r\n0\r\nT: 1\r\n\r\n"
    body = b"hello" + b"z" * 26
    for data2 in (data, data + SECOND):
        for i in range(len(data2) + 1):
            messages, status = feed_all([data2[:i], data2[i:]], shared=i % 2 == 1)
            assert status is None, (i, status)
            got = summary(messages[0])
            assert got[BODY] == body and got[BODY_LENGTH] == len(body) and got[CHUNKED], i
            assert len(messages) == (2 if data2 is not data else 1)
            if len(messages) == 2:
                assert summary(messages[1]) == SECOND_WANT, i


def test_chunked_transfer_encoding_case():
    for value in (b"chunked", b"Chunked", b"CHUNKED", b" chunked "):
        data = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:" + value + b"\r\n\r\n"
        got = parse_one(data + b"1\r\nx\r\n0\r\n\r\n")
        assert got[CHUNKED] is True and got[BODY] == b"x"


def test_bad_chunk_size_is_400():
    # chunk-size = 1*HEXDIG (RFC 9112 7.1): nothing else is a size
    for line in (
        b"xyz",
        b"g",
        b"",
        b";ext",
        b"-5",
        b"+5",
        b"0x5",  # Python's int(s, 16) takes a 0x prefix
        b"0X5",
        b"1_0",  # and underscores
        b"5\r",  # and trailing whitespace such as a bare CR
        b"5 5",
        b"5.0",
    ):
        data = CHUNKED_HEAD + line + b"\r\nhello\r\n0\r\n\r\n"
        expect_status(data, 400)


def test_bad_chunk_framing_is_400():
    for chunks in (
        b"5\r\nhelloX\r\n0\r\n\r\n",  # data longer than the size
        b"5\r\nhello0\r\n\r\n",  # no CRLF after the data
        b"2\r\nhello\r\n0\r\n\r\n",  # data runs on
        b"5\r\n" + b"x" * 5 + b"yy" * 600 + b"\r\n",  # no line end in sight
        b"1" * 1100,  # a size line that never ends
    ):
        expect_status(CHUNKED_HEAD + chunks, 400)


# -- framing errors ------------------------------------------------------------------------


def test_content_length_and_transfer_encoding_is_400():
    # RFC 9112 6.3 item 3: both framings at once is how requests are smuggled
    for headers in (
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 0\r\n",
    ):
        data = b"POST / HTTP/1.1\r\nHost: h\r\n" + headers + b"\r\n5\r\nhello\r\n0\r\n\r\n"
        expect_status(data, 400)


def test_transfer_encoding_not_chunked_is_501():
    for value in (b"gzip", b"identity", b"gzip, chunked", b"chunked, gzip", b"x-custom"):
        data = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: " + value + b"\r\n\r\n"
        expect_status(data + b"0\r\n\r\n", 501)


def test_transfer_encoding_on_http10_is_400():
    # RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing
    # (issue 9, item 7); any coding, with or without Content-Length
    for headers in (
        b"Transfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: gzip\r\n",
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
    ):
        data = b"POST / HTTP/1.0\r\n" + headers + b"\r\n5\r\nhello\r\n0\r\n\r\n"
        expect_status(data, 400)
    # HTTP/1.1 and higher minor versions keep chunked bodies
    for version in (b"HTTP/1.1", b"HTTP/1.9"):
        data = b"POST / " + version + b"\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        got = parse_one(data + b"5\r\nhello\r\n0\r\n\r\n")
        assert got[BODY] == b"hello" and got[CHUNKED], (version, got)


def test_bad_content_length_is_400():
    for headers in (
        b"Content-Length: abc\r\n",
        b"Content-Length: -1\r\n",
        b"Content-Length: +1\r\n",
        b"Content-Length:\r\n",
        b"Content-Length: 1 2\r\n",
        b"Content-Length: 1.0\r\n",
        b"Content-Length: 0x10\r\n",
        b"Content-Length: 1_0\r\n",
        b"Content-Length: 5, 5\r\n",
        b"Content-Length: 5\r\nContent-Length: 6\r\n",
        b"Content-Length: 5\r\nContent-Length: 5\r\nContent-Length: 4\r\n",
        b"Content-Length: 0\r\nContent-Length: \r\n",
    ):
        data = b"POST / HTTP/1.1\r\nHost: h\r\n" + headers + b"\r\nhello"
        expect_status(data, 400)


# -- limits --------------------------------------------------------------------------------


def test_request_line_limit_is_414():
    limit = SMALL["max_request_line"]
    for eol in (b"\r\n", b"\n"):
        # a request line of exactly the limit (without its line end) is fine
        line = b"GET /" + b"a" * (limit - 14) + b" HTTP/1.1"
        assert len(line) == limit
        got = parse_one(line + eol + b"Host: h" + eol + eol, SMALL)
        assert len(got[TARGET]) == limit - 13, eol
        # one byte more is 414
        line = b"GET /" + b"a" * (limit - 13) + b" HTTP/1.1"
        expect_status(line + eol + b"Host: h" + eol + eol, 414, SMALL)


def test_request_line_limit_without_newline_is_414():
    limit = SMALL["max_request_line"]
    # no line end yet: refused as soon as more than the limit is buffered
    for data in (b"GET /" + b"a" * limit, b"a" * (limit + 2), b"GET /" + b"a" * 10000):
        for pieces in (whole(data), bytewise(data)):
            messages, status = feed_all(pieces, SMALL)
            assert status == 414 and messages == [], (len(data), status)
    # at the limit with no line end: still waiting
    parser = RequestParser(**SMALL)
    parser.feed(b"GET /" + b"a" * (limit - 5))
    assert parser.next_event() is NEED_DATA


def test_header_block_limit_is_431():
    limit = SMALL["max_header_bytes"]
    for eol in (b"\r\n", b"\n"):
        # header lines of exactly the limit in bytes, line ends included, are fine
        first = b"Host: h" + eol
        filler = b"X: " + b"v" * (limit - len(first) - 3 - len(eol)) + eol
        block = first + filler
        assert len(block) == limit
        got = parse_one(b"GET / HTTP/1.1" + eol + block + eol, SMALL)
        assert got[HEADERS][1] == (b"x", b"v" * (limit - len(first) - 3 - len(eol)))
        # one byte more is 431
        block = first + b"X: v" + filler[3:]
        expect_status(b"GET / HTTP/1.1" + eol + block + eol, 431, SMALL)


def test_header_block_limit_without_end_is_431():
    limit = SMALL["max_header_bytes"]
    data = b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"v" * (2 * limit)
    for pieces in (whole(data), bytewise(data)):
        messages, status = feed_all(pieces, SMALL)
        assert status == 431 and messages == []
    data = b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 100
    for pieces in (whole(data), bytewise(data)):
        messages, status = feed_all(pieces, SMALL)
        assert status == 431 and messages == []


def test_header_count_limit_is_431():
    limit = SMALL["max_headers"]
    ok = b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X: 1\r\n" * (limit - 1) + b"\r\n"
    assert len(parse_one(ok, SMALL)[HEADERS]) == limit
    too_many = b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X: 1\r\n" * limit + b"\r\n"
    expect_status(too_many, 431, SMALL)
    # empty values count too
    expect_status(b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X:\r\n" * limit + b"\r\n", 431, SMALL)


def test_content_length_over_max_body_is_413():
    limit = SMALL["max_body"]
    head = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n"
    got = parse_one(head % limit + b"b" * limit, SMALL)
    assert got[BODY] == b"b" * limit and got[BODY_LENGTH] == limit
    # refused from the head alone, before any body byte arrives
    for length in (limit + 1, 10**30):
        expect_status(head % length, 413, SMALL)
    messages, status = feed_all(whole(head % (limit + 1)), SMALL)
    assert status == 413 and messages == []
    # max_body 0: no body at all, Content-Length 0 still fine
    zero = {"max_body": 0}
    assert parse_one(head % 0, zero)[BODY_LENGTH] == 0
    expect_status(head % 1 + b"x", 413, zero)


def test_chunked_total_over_max_body_is_413():
    limit = SMALL["max_body"]
    at = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (60, b"a" * 60, limit - 60, b"b" * (limit - 60))
    got = parse_one(CHUNKED_HEAD + at, SMALL)
    assert got[BODY_LENGTH] == limit and got[BODY] == b"a" * 60 + b"b" * (limit - 60)
    over = b"%x\r\n%s\r\n%x\r\n" % (60, b"a" * 60, limit - 59)
    expect_status(CHUNKED_HEAD + over, 413, SMALL)
    expect_status(CHUNKED_HEAD + b"ffffffffffffffffffffffff\r\n", 413, SMALL)
    # refused on the size line: the oversized chunk's data is never handed out
    messages, status = feed_all(whole(CHUNKED_HEAD + over + b"b" * 41), SMALL)
    assert status == 413 and messages[0][1] == b"a" * 60


def test_trailer_block_limit_is_431():
    trailers = b"X-T: " + b"t" * 200 + b"\r\n"
    expect_status(CHUNKED_HEAD + b"1\r\nx\r\n0\r\n" + trailers + b"\r\n", 431, SMALL)


def test_default_limits():
    parser = RequestParser()
    assert parser.max_request_line == 4 * 1024
    assert parser.max_header_bytes == 8 * 1024
    assert parser.max_headers == 64
    # 4 KiB request line with CRLF: fine; one more byte: 414
    line = b"GET /" + b"a" * (4096 - 14) + b" HTTP/1.1"
    messages, status = feed_all(whole(line + b"\r\nHost: h\r\n\r\n"))
    assert status is None and len(messages[0][0].target) == 4096 - 13
    messages, status = feed_all(whole(line + b"a\r\nHost: h\r\n\r\n"))
    assert status == 414
    # 64 header lines fine, 65 → 431
    head = b"GET / HTTP/1.1\r\nHost: h\r\n"
    messages, status = feed_all(whole(head + b"X: 1\r\n" * 63 + b"\r\n"))
    assert status is None and len(messages[0][0].headers) == 64
    messages, status = feed_all(whole(head + b"X: 1\r\n" * 64 + b"\r\n"))
    assert status == 431
    # header block over 8 KiB → 431, fed whole and in 1 KiB pieces
    data = head + b"X: " + b"v" * 8200 + b"\r\n\r\n"
    for pieces in (whole(data), [data[i : i + 1024] for i in range(0, len(data), 1024)]):
        messages, status = feed_all(pieces)
        assert status == 431


# -- the error itself ----------------------------------------------------------------------


def test_errors_are_protocol_errors_with_a_message():
    parser = RequestParser()
    parser.feed(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n")
    try:
        parser.next_event()
    except ProtocolError as e:
        assert isinstance(e, HTTPError) and e.status == 505 and str(e)
    else:
        raise AssertionError("HTTP/2.0 accepted")


# -- reason phrases (RFC 9110 15) ----------------------------------------------------------


def test_reasons():
    want = {
        100: "Continue",
        200: "OK",
        206: "Partial Content",
        301: "Moved Permanently",
        302: "Found",
        304: "Not Modified",
        400: "Bad Request",
        403: "Forbidden",
        404: "Not Found",
        408: "Request Timeout",
        413: "Content Too Large",
        414: "URI Too Long",
        416: "Range Not Satisfiable",
        431: "Request Header Fields Too Large",
        500: "Internal Server Error",
        501: "Not Implemented",
        503: "Service Unavailable",
        504: "Gateway Timeout",
        505: "HTTP Version Not Supported",
    }
    for status in want:
        assert http11.REASONS[status] == want[status], status
        assert http11.reason_phrase(status) == want[status], status
    # every status the server itself answers with has a phrase
    for status in (200, 206, 301, 304, 400, 403, 404, 408, 413, 414, 416, 431, 500, 501):
        assert status in http11.REASONS
    for status in (502, 503, 504, 505):
        assert status in http11.REASONS
    for status in http11.REASONS:
        assert 100 <= status <= 599 and http11.REASONS[status], status


def test_reason_phrase_for_unknown_status():
    # a script may send any Status: 100-599; the phrase is never empty
    for status in (299, 399, 499, 599, 150):
        phrase = http11.reason_phrase(status)
        assert type(phrase) is str and phrase, status
    assert http11.reason_phrase(299) != http11.reason_phrase(599)


# -- OPTIONS * -------------------------------------------------------------------------------


def test_options_asterisk():
    # RFC 9112 3.2.4: "OPTIONS *" asks about the server; the target stays "*" and the
    # path is "/" (the server answers it, issue 10); "*" with another method is 400
    req = request_of(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n")
    assert (req.method, req.target, req.path, req.query) == ("OPTIONS", b"*", b"/", None)
    req = request_of(b"OPTIONS / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert (req.target, req.path) == (b"/", b"/")
    expect_status(b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400)
