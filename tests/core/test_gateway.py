# RFC 3875 rules of gateway.py (SPEC sections 6 and 7). Plain functions and asserts:
# pytest collects them, and tests/run_mpy.py runs them under MicroPython.
from microcgi.errors import ScriptError
from microcgi.gateway import ScriptOutput, build_environ, parse_script_headers

# -- fakes: plain data shaped like http11.Request, the connection, the route, Config ------


class Req:
    def __init__(
        self, method="GET", target=b"/", version="HTTP/1.1", headers=(), body_length=None
    ):
        self.method = method
        self.target = target
        path, qmark, query = target.partition(b"?")
        self.path = path
        self.query = query if qmark else None
        self.version = version
        self.headers = list(headers)
        self.body_length = body_length


class Conn:
    def __init__(self, server_addr="127.0.0.1", server_port=8080, remote="127.0.0.1", rport=5):
        self.server_addr = server_addr
        self.server_port = server_port
        self.remote_addr = remote
        self.remote_port = rport


class Script:
    def __init__(self, script_name="/s.py", path_info=None, document_root="/srv/www"):
        self.script_name = script_name
        self.filename = document_root.rstrip("/") + script_name
        self.path_info = path_info
        self.document_root = document_root


class Cfg:
    def __init__(self, software="microcgi/0.1", path_env="/usr/local/bin:/usr/bin:/bin", extra=()):
        self.software = software
        self.path_env = path_env
        self.extra_env = list(extra)


def env_of(headers=(), target=b"/s.py", conn=None, script=None, cfg=None, **kw):
    req = Req(target=target, headers=headers, **kw)
    return build_environ(req, conn or Conn(), script or Script(), cfg or Cfg())


# The only names a script may ever see besides HTTP_* and the operator's extras.
ALLOWED = (
    "GATEWAY_INTERFACE SERVER_SOFTWARE SERVER_SIGNATURE SERVER_PROTOCOL SERVER_NAME "
    "SERVER_ADDR SERVER_PORT REMOTE_ADDR REMOTE_PORT REQUEST_METHOD REQUEST_URI QUERY_STRING "
    "SCRIPT_NAME SCRIPT_FILENAME PATH_INFO PATH_TRANSLATED DOCUMENT_ROOT REDIRECT_STATUS "
    "REQUEST_SCHEME HTTPS "
    "CONTENT_LENGTH CONTENT_TYPE PATH"
).split()


# -- build_environ (SPEC section 6) ----------------------------------------------------------


def test_environ_is_exactly_the_spec_table():
    req = Req(
        "POST",
        b"/cgi-bin/app.py/a%20b/c?x=1&y=%20%26",
        "HTTP/1.1",
        [
            (b"host", b"example.com:8080"),
            (b"user-agent", b"t/1"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", b"7"),
            (b"accept", b"a"),
            (b"cookie", b"a=1"),
            (b"accept", b"b"),
            (b"cookie", b"b=2"),
        ],
        7,
    )
    conn = Conn("127.0.0.1", 8080, "::ffff:10.0.0.5", 54321)
    script = Script("/cgi-bin/app.py", "/a b/c", "/srv/www")
    env = build_environ(req, conn, script, Cfg())
    assert env == {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_SOFTWARE": "microcgi/0.1",
        "SERVER_SIGNATURE": "microcgi/0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "example.com",
        "SERVER_ADDR": "127.0.0.1",
        "SERVER_PORT": "8080",
        "REMOTE_ADDR": "10.0.0.5",
        "REMOTE_PORT": "54321",
        "REQUEST_METHOD": "POST",
        "REQUEST_URI": "/cgi-bin/app.py/a%20b/c?x=1&y=%20%26",
        "QUERY_STRING": "x=1&y=%20%26",
        "SCRIPT_NAME": "/cgi-bin/app.py",
        "SCRIPT_FILENAME": "/srv/www/cgi-bin/app.py",
        "PATH_INFO": "/a b/c",
        "PATH_TRANSLATED": "/srv/www/a b/c",
        "DOCUMENT_ROOT": "/srv/www",
        "REDIRECT_STATUS": "200",
        "REQUEST_SCHEME": "http",
        "CONTENT_LENGTH": "7",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "HTTP_HOST": "example.com:8080",
        "HTTP_USER_AGENT": "t/1",
        "HTTP_ACCEPT": "a, b",
        "HTTP_COOKIE": "a=1; b=2",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
    }


def test_environ_minimal_request():
    # HTTP/1.0, no Host, no query, no body, no extra path: the optional variables are absent.
    env = env_of(version="HTTP/1.0", method="HEAD", conn=Conn("192.168.4.1", 80, "10.1.1.1", 9))
    assert env == {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_SOFTWARE": "microcgi/0.1",
        "SERVER_SIGNATURE": "microcgi/0.1",
        "SERVER_PROTOCOL": "HTTP/1.0",
        "SERVER_NAME": "192.168.4.1",
        "SERVER_ADDR": "192.168.4.1",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "10.1.1.1",
        "REMOTE_PORT": "9",
        "REQUEST_METHOD": "HEAD",
        "REQUEST_URI": "/s.py",
        "QUERY_STRING": "",
        "SCRIPT_NAME": "/s.py",
        "SCRIPT_FILENAME": "/srv/www/s.py",
        "DOCUMENT_ROOT": "/srv/www",
        "REDIRECT_STATUS": "200",
        "REQUEST_SCHEME": "http",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
    }


def test_environ_never_rules():
    headers = [
        (b"host", b"h"),
        (b"proxy", b"http://evil.example:3128"),  # httpoxy
        (b"x_forged", b"1"),  # would become HTTP_X_FORGED, like X-Forged
        (b"x-forged", b"real"),
        (b"content-length", b"3"),
        (b"content-type", b"text/plain"),
        (b"x.dotted", b"1"),
        (b"x+plus", b"1"),
    ]
    env = env_of(headers, body_length=3)
    assert "HTTP_PROXY" not in env
    assert env["HTTP_X_FORGED"] == "real"
    assert "HTTP_CONTENT_LENGTH" not in env
    assert "HTTP_CONTENT_TYPE" not in env
    assert env["CONTENT_LENGTH"] == "3"
    assert env["CONTENT_TYPE"] == "text/plain"
    for name in env:
        assert name in ALLOWED or name.startswith("HTTP_"), name
        assert "." not in name and "+" not in name, name
    assert sorted(n for n in env if n.startswith("HTTP_")) == ["HTTP_HOST", "HTTP_X_FORGED"]
    # Nothing leaks in from the server's own environment (HOME, USER, PYTHONPATH...).
    for name in ("HOME", "USER", "PYTHONPATH", "LANG", "SHELL", "PWD", "MICROPYPATH"):
        assert name not in env
    for value in env.values():
        assert type(value) is str


def test_environ_header_names_and_joining():
    cases = [
        # (headers, variable, value)
        ([(b"x-a-b", b"1")], "HTTP_X_A_B", "1"),
        ([(b"accept", b"a"), (b"accept", b"b"), (b"accept", b"c")], "HTTP_ACCEPT", "a, b, c"),
        ([(b"cookie", b"a=1"), (b"cookie", b"b=2; c=3")], "HTTP_COOKIE", "a=1; b=2; c=3"),
        ([(b"x-y", b"2"), (b"host", b"h"), (b"x-y", b"1")], "HTTP_X_Y", "2, 1"),
        ([(b"x-empty", b"")], "HTTP_X_EMPTY", ""),
        ([(b"authorization", b"Basic dTpw")], "HTTP_AUTHORIZATION", "Basic dTpw"),
        ([(b"proxy-authorization", b"x")], "HTTP_PROXY_AUTHORIZATION", "x"),
        ([(b"x1", b"v")], "HTTP_X1", "v"),
    ]
    for headers, name, value in cases:
        env = env_of(headers)
        assert env[name] == value, (headers, env.get(name))
    # A repeated Content-Type is not joined: the first one wins.
    env = env_of([(b"content-type", b"text/a"), (b"content-type", b"text/b")])
    assert env["CONTENT_TYPE"] == "text/a"


def test_environ_server_name():
    cases = [
        # (Host value or None, bound address, SERVER_NAME)
        (b"example.com", "127.0.0.1", "example.com"),
        (b"example.com:8080", "127.0.0.1", "example.com"),
        # issue 14: compared case-insensitively, without a trailing dot (a virtual
        # host's name), as Apache gives it
        (b"Example.COM", "127.0.0.1", "example.com"),
        (b"a.Example.:8080", "127.0.0.1", "a.example"),
        (b"10.0.0.1:81", "127.0.0.1", "10.0.0.1"),
        # RFC 3875 4.1.14: an IPv6 literal keeps its brackets, loses its port.
        (b"[::1]:8080", "127.0.0.1", "[::1]"),
        (b"[fe80::1]", "127.0.0.1", "[fe80::1]"),
        (b"[::1", "10.9.9.9", "10.9.9.9"),
        (b"", "10.9.9.9", "10.9.9.9"),
        (b":8080", "10.9.9.9", "10.9.9.9"),
        (None, "10.9.9.9", "10.9.9.9"),
        (None, "::ffff:10.9.9.9", "10.9.9.9"),
        (None, "::1", "[::1]"),
    ]
    for host, addr, expected in cases:
        headers = [] if host is None else [(b"host", host)]
        env = env_of(headers, conn=Conn(addr))
        assert env["SERVER_NAME"] == expected, (host, addr, env["SERVER_NAME"])
        if host is not None:
            assert env["HTTP_HOST"] == host.decode()


def test_environ_addresses():
    cases = [
        # (address as the socket gives it, what the script sees)
        ("127.0.0.1", "127.0.0.1"),
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("::FFFF:192.168.1.20", "192.168.1.20"),
        ("::1", "::1"),
        ("2001:db8::5", "2001:db8::5"),
    ]
    for addr, expected in cases:
        env = env_of(conn=Conn(addr, 8000, addr, 40000))
        assert env["REMOTE_ADDR"] == expected
        assert env["SERVER_ADDR"] == expected
        assert env["REMOTE_PORT"] == "40000"
        assert env["SERVER_PORT"] == "8000"


def test_environ_request_uri_and_query_string():
    cases = [
        # (raw target, REQUEST_URI, QUERY_STRING)
        (b"/s.py", "/s.py", ""),
        (b"/s.py?", "/s.py?", ""),
        (b"/s.py?a=1&b=%20x+y", "/s.py?a=1&b=%20x+y", "a=1&b=%20x+y"),
        (b"/s.py?a=%26%3D%00", "/s.py?a=%26%3D%00", "a=%26%3D%00"),
        (b"/s.py?q=%C3%A9&r=?", "/s.py?q=%C3%A9&r=?", "q=%C3%A9&r=?"),
        (b"/d%69r/s.py/x%2Fy", "/d%69r/s.py/x%2Fy", ""),
    ]
    for target, uri, query in cases:
        env = env_of(target=target)
        assert env["REQUEST_URI"] == uri, target
        assert env["QUERY_STRING"] == query, target


def test_environ_content_length_only_with_a_body():
    cases = [
        # (body_length, Content-Length header sent, CONTENT_LENGTH or None)
        (None, None, None),
        (None, b"5", None),  # the server decided there is no body
        (0, b"0", "0"),
        (12, b"12", "12"),
        (1000, None, "1000"),  # chunked, after de-chunking
    ]
    for length, header, expected in cases:
        headers = [] if header is None else [(b"content-length", header)]
        env = env_of(headers, body_length=length)
        assert env.get("CONTENT_LENGTH") == expected, (length, header)
        assert "HTTP_CONTENT_LENGTH" not in env


def test_environ_content_type_only_when_sent():
    assert "CONTENT_TYPE" not in env_of()
    assert "CONTENT_TYPE" not in env_of([(b"content-typ", b"x")])
    assert env_of([(b"content-type", b"")])["CONTENT_TYPE"] == ""
    env = env_of([(b"content-type", b"multipart/form-data; boundary=x")], body_length=0)
    assert env["CONTENT_TYPE"] == "multipart/form-data; boundary=x"
    assert "HTTP_CONTENT_TYPE" not in env


def test_environ_path_info_and_translated():
    cases = [
        # (path_info, document_root, PATH_INFO, PATH_TRANSLATED)
        (None, "/srv/www", None, None),
        ("", "/srv/www", None, None),
        ("/a/b", "/srv/www", "/a/b", "/srv/www/a/b"),
        ("/a/b", "/srv/www/", "/a/b", "/srv/www/a/b"),
        ("/", "/srv/www", "/", "/srv/www/"),
        ("/x y/é", "/", "/x y/é", "/x y/é"),
    ]
    for info, root, path_info, translated in cases:
        env = env_of(script=Script("/s.py", info, root))
        assert env.get("PATH_INFO") == path_info, info
        assert env.get("PATH_TRANSLATED") == translated, info
        assert env["DOCUMENT_ROOT"] == root


def test_environ_header_values_decode():
    cases = [
        (b"plain", "plain"),
        (b"caf\xc3\xa9", "café"),  # valid UTF-8 is kept
        (b"caf\xe9", "caf?"),  # invalid UTF-8: each non-ASCII byte becomes "?"
        (b"\xc3\xa9\xff", "???"),
        (b"a\x00b", "a b"),  # RFC 9110 5.5: NUL may be replaced by SP; execve needs it
        (b"tab\there", "tab\there"),
    ]
    for raw, expected in cases:
        env = env_of([(b"x-v", raw), (b"host", raw), (b"content-type", raw)])
        assert env["HTTP_X_V"] == expected, raw
        assert env["CONTENT_TYPE"] == expected, raw


def test_environ_config():
    # Extra variables come last and win, PATH included (Go host.go appends h.Env last).
    cfg = Cfg("microcgi/9.9 (esp32)", "/bin", [("PATH", "/opt/bin"), ("APP_MODE", "test")])
    env = env_of(cfg=cfg)
    assert env["PATH"] == "/opt/bin"
    assert env["APP_MODE"] == "test"
    assert env["SERVER_SOFTWARE"] == env["SERVER_SIGNATURE"] == "microcgi/9.9 (esp32)"
    cfg = Cfg(extra=[("REDIRECT_STATUS", "1"), ("HTTP_X", "op")])
    env = env_of([(b"x", b"client")], cfg=cfg)
    assert env["REDIRECT_STATUS"] == "1"
    assert env["HTTP_X"] == "op"
    assert env_of(cfg=Cfg(path_env="/a:/b"))["PATH"] == "/a:/b"

    # config.py's Config names the extras "env" (a dict) and may not carry "software".
    class Bare:
        env = {"K": "v"}

    env = env_of(cfg=Bare())
    assert env["K"] == "v"
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert env["SERVER_SOFTWARE"].startswith("microcgi/")
    # A plain dict works as well.
    env = env_of(cfg={"software": "s/1", "extra_env": {"A": "b"}, "path_env": "/x"})
    assert (env["SERVER_SOFTWARE"], env["A"], env["PATH"]) == ("s/1", "b", "/x")


# -- parse_script_headers (SPEC 7.1-7.4) ------------------------------------------------------


def test_parse_script_headers_valid():
    ct = (b"Content-Type", b"text/html")
    cases = [
        # (block, status, reason, headers, local_redirect)
        (b"Content-Type: text/html", 200, None, [ct], None),
        (b"Content-Type:text/html", 200, None, [ct], None),
        (b"Content-Type: \t text/html \t", 200, None, [ct], None),
        (b"Content-Type: text/html\r\n", 200, None, [ct], None),
        (b"Content-Type: text/html\n", 200, None, [ct], None),
        (b"content-type: x", 200, None, [(b"content-type", b"x")], None),
        # Status: any case, reason optional, not forwarded; a Status alone is enough.
        (b"Status: 404 Not Found\r\n" + ct[0] + b": text/html", 404, "Not Found", [ct], None),
        (b"status: 404", 404, None, [], None),
        (b"STATUS: 204  ", 204, None, [], None),
        (b"Status:418 I'm a teapot", 418, "I'm a teapot", [], None),
        (b"Status: 500 \tServer  Error ", 500, "Server  Error", [], None),
        (b"Status: 200", 200, None, [], None),
        (b"Status: 599 x", 599, "x", [], None),
        (b"Status:\t201\tCreated", 201, "Created", [], None),
        (b"Status: 200 Tr\xc3\xa8s bien", 200, "Tr\xe8s bien", [], None),
        (b"Status: 200 Tr\xe8s", 200, "Tr?s", [], None),
        # Location: local path -> local redirect; absolute URL -> 302; with Status: as given.
        (b"Location: /other?x=1", 200, None, [(b"Location", b"/other?x=1")], "/other?x=1"),
        (b"Location: /", 200, None, [(b"Location", b"/")], "/"),
        (b"location: http://a.example/", 302, None, [(b"location", b"http://a.example/")], None),
        (
            b"Location: https://a.example/x\nContent-Type: text/html",
            302,
            None,
            [(b"Location", b"https://a.example/x"), ct],
            None,
        ),
        (b"Location: other.html", 302, None, [(b"Location", b"other.html")], None),
        (b"Status: 301 Moved\r\nLocation: /new", 301, "Moved", [(b"Location", b"/new")], None),
        (b"Location: /new\nStatus: 303", 303, None, [(b"Location", b"/new")], None),
        (b"Status: 200\nLocation: http://x/", 200, None, [(b"Location", b"http://x/")], None),
        # Framing headers are dropped; everything else passes in order, repeats included.
        (
            b"Content-Type: text/plain\r\nSet-Cookie: a=1\nConnection: keep-alive\r\n"
            b"Content-Length: 99\r\nTransfer-Encoding: chunked\nKeep-Alive: timeout=5\r\n"
            b"Set-Cookie: b=2\r\nX-Weird_Name: ok\r\nCONTENT-LENGTH: 1\nCache-Control: no-cache",
            200,
            None,
            [
                (b"Content-Type", b"text/plain"),
                (b"Set-Cookie", b"a=1"),
                (b"Set-Cookie", b"b=2"),
                (b"X-Weird_Name", b"ok"),
                (b"Cache-Control", b"no-cache"),
            ],
            None,
        ),
        (
            b"Content-Type: a\nX-Empty:\nX-Sp: ",
            200,
            None,
            [(b"Content-Type", b"a"), (b"X-Empty", b""), (b"X-Sp", b"")],
            None,
        ),
        (
            b"Content-Type: a\nX-Obs: caf\xc3\xa9\xff",
            200,
            None,
            [(b"Content-Type", b"a"), (b"X-Obs", b"caf\xc3\xa9\xff")],
            None,
        ),
        (
            b"Content-Type: a\nX-Colons: a:b: c",
            200,
            None,
            [(b"Content-Type", b"a"), (b"X-Colons", b"a:b: c")],
            None,
        ),
        (
            b"Content-Type: a\nX-Tok!#$%&'*+.^`|~: 1",
            200,
            None,
            [(b"Content-Type", b"a"), (b"X-Tok!#$%&'*+.^`|~", b"1")],
            None,
        ),
    ]
    for block, status, reason, headers, redirect in cases:
        got = parse_script_headers(block)
        assert got == (status, reason, headers, redirect, 0), (block, got)
        assert type(got[0]) is int


OWN_DATE = 1  # the bits of parse_script_headers()' "own"
OWN_SERVER = 2


def test_parse_script_headers_notes_date_and_server():
    # issue 10: the script's Date and Server replace the server's; they stay in headers,
    # and "own" tells the server to leave out its own lines
    date = (b"Date", b"Sun, 06 Nov 1994 08:49:37 GMT")
    cases = [
        (b"Content-Type: a", 0),
        (b"Content-Type: a\nDate: " + date[1], OWN_DATE),
        (b"date: x\nContent-Type: a", OWN_DATE),
        (b"Content-Type: a\nSERVER: gitweb", OWN_SERVER),
        (b"Server: s\r\nContent-Type: a\r\nDate: d\r\n", OWN_DATE | OWN_SERVER),
        (b"Content-Type: a\nX-Date: d\nServer-Timing: x", 0),
    ]
    for block, own in cases:
        got = parse_script_headers(block)
        assert got[4] == own, (block, got)
    got = parse_script_headers(b"Content-Type: a\r\nDate: " + date[1])
    assert got[2] == [(b"Content-Type", b"a"), date], got
    out = ScriptOutput()
    out.feed(b"Date: d\nServer: s\nContent-Type: a\n\nbody")
    assert (out.own, out.headers[:2]) == (
        OWN_DATE | OWN_SERVER,
        [(b"Date", b"d"), (b"Server", b"s")],
    )
    out = ScriptOutput()
    out.feed(b"Content-Type: a\n\n")
    assert out.own == 0


BAD_BLOCKS = [
    # none of Content-Type, Location, Status
    b"",
    b"\r\n",
    b"X-Foo: bar",
    b"Set-Cookie: a=1\r\nContent-Length: 0",
    b"Content-Typo: text/html",
    # malformed lines
    b"Content-Type text/html",
    b"Content-Type: text/html\r\nbogus",
    b": value\r\nContent-Type: a",
    b"Content-Type : text/html",
    b"Content type: text/html",
    b"Content-Type: a\r\n folded",
    b"Content-Type: a\r\n\tfolded",
    b" Content-Type: a",
    b"Content-Type: a\r\n\r\nX: b",  # an empty line inside the block
    b"Content-Type: a\rX-Injected: 1",  # bare CR
    b"Content-Type: a\r\r\n",
    b"Content-Type: a\x00b",
    b"Content-Type: a\x7fb",
    b"Content-Type: a\x1bb",
    b"Content\x01-Type: a",
    b"Cont\xc3\xa9nt-Type: a",
    b"(Content-Type): a",
    # Status: three digits, 100-599, then nothing or whitespace
    b"Status: 99",
    b"Status: 100",  # interim statuses are no final response (issue 10: 500)
    b"Status: 100 Continue\r\nContent-Type: text/plain",
    b"Status: 101 Switching Protocols",
    b"Status: 199",
    b"Status: 099 x",
    b"Status: 600",
    b"Status: 999 x",
    b"Status: 2000",
    b"Status: 200OK",
    b"Status: 20",
    b"Status:",
    b"Status: ",
    b"Status: abc",
    b"Status: -20",
    b"Status: +20",
    b"Status: 2 0",
    b"Status: 0x1F4",
    b"Status: \xd9\xa2\xd9\xa0\xd9\xa0",  # Arabic-Indic digits
    b"Status: 200\r\nStatus: 404",  # repeated: ambiguous
    b"Status: 200 OK\x01",
    # Location
    b"Location:",
    b"Location:   ",
    b"Location: /a\r\nLocation: /b",
]


def test_parse_script_headers_errors():
    for block in BAD_BLOCKS:
        try:
            got = parse_script_headers(block)
        except ScriptError as e:
            assert e.status == 500
            assert e.args[0].startswith("cgi: "), e.args[0]
        else:
            raise AssertionError("accepted %r -> %r" % (block, got))


def test_parse_script_headers_messages():
    cases = [
        (b"Content-Type text/html", "cgi: malformed header line b'Content-Type text/html'"),
        (b"X: 1", "cgi: no Content-Type, Location or Status header"),
        (b"Status: 2000", "cgi: bogus status b'2000'"),
        (b"Status: 103 Early Hints", "cgi: bogus status b'103 Early Hints'"),
    ]
    for block, message in cases:
        try:
            parse_script_headers(block)
        except ScriptError as e:
            assert e.args[0] == message, e.args[0]
        else:
            raise AssertionError(block)


# -- ScriptOutput (SPEC 7.1, 7.5) --------------------------------------------------------------


def ways(data):
    """The same output fed whole, one byte at a time, and cut in two at every position,
    each as bytes, bytearray or memoryview (runners hand over all three)."""
    yield [data]
    yield [data[i : i + 1] for i in range(len(data))]
    yield [bytearray(data)]
    yield [memoryview(data)]
    for i in range(len(data) + 1):
        yield [data[:i], data[i:]]
        yield [bytearray(data[:i]), memoryview(data)[i:]]
    if len(data) > 3:
        yield [data[:1], b"", data[1:3], data[3:]]


def collect(chunks, **limits):
    out = ScriptOutput(**limits)
    for chunk in chunks:
        out.feed(chunk)
    out.finish()
    return out


def expect_error(chunks, message, **limits):
    out = ScriptOutput(**limits)
    try:
        for chunk in chunks:
            out.feed(chunk)
        out.finish()
    except ScriptError as e:
        assert e.args[0] == message, (chunks, e.args[0])
        assert e.status == 500
        return out
    raise AssertionError("accepted %r" % (chunks,))


GOOD_OUTPUTS = [
    # (raw output, status, reason, headers, local_redirect, body)
    (
        b"Content-Type: text/plain\r\n\r\nhello",
        200,
        None,
        [(b"Content-Type", b"text/plain")],
        None,
        b"hello",
    ),
    (
        b"Content-Type: text/plain\n\nhello\n\nworld\r\n\r\n",
        200,
        None,
        [(b"Content-Type", b"text/plain")],
        None,
        b"hello\n\nworld\r\n\r\n",
    ),
    (b"Content-Type: a\n\r\nbody", 200, None, [(b"Content-Type", b"a")], None, b"body"),
    (b"Content-Type: a\r\n\nbody", 200, None, [(b"Content-Type", b"a")], None, b"body"),
    (b"Content-Type: a\r\n\r\n", 200, None, [(b"Content-Type", b"a")], None, b""),
    (b"Content-Type: a\n\n\r\n", 200, None, [(b"Content-Type", b"a")], None, b"\r\n"),
    (b"Content-Type: a\n\n\n", 200, None, [(b"Content-Type", b"a")], None, b"\n"),
    (
        b"Status: 404 Gone Fishing\r\nContent-Type: a\nX: 1\r\n\nno",
        404,
        "Gone Fishing",
        [(b"Content-Type", b"a"), (b"X", b"1")],
        None,
        b"no",
    ),
    (b"Location: /next\r\n\r\n", 200, None, [(b"Location", b"/next")], "/next", b""),
    (
        b"Location: http://e.example/\n\n",
        302,
        None,
        [(b"Location", b"http://e.example/")],
        None,
        b"",
    ),
    (b"Status: 204\r\nContent-Length: 5\r\nConnection: close\r\n\r\n", 204, None, [], None, b""),
    (
        b"Content-Type: a\r\nSet-Cookie: a\r\nSet-Cookie: b\r\n\r\n\x00\xff\r\n",
        200,
        None,
        [(b"Content-Type", b"a"), (b"Set-Cookie", b"a"), (b"Set-Cookie", b"b")],
        None,
        b"\x00\xff\r\n",
    ),
]


def test_script_output_any_split():
    for raw, status, reason, headers, redirect, body in GOOD_OUTPUTS:
        for chunks in ways(raw):
            out = collect(chunks)
            assert out.head_done
            got = (out.status, out.reason, out.headers, out.local_redirect)
            assert got == (status, reason, headers, redirect), (chunks, got)
            assert b"".join(out.body) == body, (chunks, out.body)
            assert out.body_len == len(body)
            assert out.total == len(raw)
            for chunk in out.body:
                assert type(chunk) is bytes and chunk


def test_script_output_head_state_before_and_after():
    out = ScriptOutput()
    out.feed(b"Content-Type: a\r\n")
    assert not out.head_done
    assert out.body == [] and out.body_len == 0
    out.feed(b"\r")
    assert not out.head_done
    out.feed(b"\n")
    assert out.head_done and out.status == 200
    assert out.body == []
    out.feed(b"")
    assert out.body == []
    out.feed(b"ab")
    out.feed(memoryview(b"cd"))
    assert out.body == [b"ab", b"cd"] and out.body_len == 4 and out.total == 23
    out.finish()


def test_script_output_body_is_a_copy():
    # Runners reuse one receive buffer: the collected body must not change with it.
    buf = bytearray(b"Content-Type: a\n\nfirst")
    out = ScriptOutput()
    out.feed(buf)
    buf[0 : len(buf)] = b"X" * len(buf)
    more = bytearray(b"second")
    out.feed(memoryview(more))
    more[0:6] = b"XXXXXX"
    out.finish()
    assert b"".join(out.body) == b"firstsecond"


def test_script_output_incomplete_header_block():
    message = "cgi: output ended before the header block was complete"
    cases = [
        b"",
        b"Content-Type: text/html",
        b"Content-Type: text/html\r\n",
        b"Content-Type: text/html\r\n\r",
        b"Content-Type: text/html\r\r",
        b"just a body, no header block at all",
    ]
    for raw in cases:
        for chunks in ways(raw):
            expect_error(chunks, message)


def test_script_output_bad_header_block():
    for block in BAD_BLOCKS:
        if block in (b"\r\n",) or b"\r\n\r\n" in block:
            continue  # those end the block early: covered below
        raw = block + b"\r\n\r\nbody"
        try:
            parse_script_headers(block)
        except ScriptError as e:
            message = e.args[0]
        for chunks in ways(raw):
            expect_error(chunks, message)
    # A blank first line: an empty header block.
    for raw in (b"\r\nContent-Type: a\r\n\r\n", b"\nContent-Type: a\n\n", b"\n\nbody"):
        for chunks in ways(raw):
            expect_error(chunks, "cgi: no Content-Type, Location or Status header")


def test_script_output_errors_stick():
    out = expect_error([b"Status: 9\n\n"], "cgi: bogus status b'9'")
    for call in (lambda: out.feed(b"more"), out.finish):
        try:
            call()
        except ScriptError as e:
            assert e.args[0] == "cgi: bogus status b'9'"
        else:
            raise AssertionError("feed after an error was accepted")
    assert out.body == []


def test_script_output_max_header():
    limit = 64
    for terminator in (b"\r\n\r\n", b"\n\n", b"\n\r\n", b"\r\n\n"):
        # Exactly limit bytes, blank line included: accepted.
        head = b"Content-Type: a\r\nX: " + b"v" * (limit - 20 - len(terminator))
        raw = head + terminator + b"body" * 40
        assert len(head + terminator) == limit
        for chunks in ways(raw):
            out = collect(chunks, max_header=limit)
            assert out.headers[-1][1] == b"v" * (limit - 20 - len(terminator))
            assert b"".join(out.body) == b"body" * 40
        # One byte more: refused, however it arrives.
        raw = head + b"v" + terminator + b"body"
        for chunks in ways(raw):
            expect_error(chunks, "cgi: header block over 64 bytes", max_header=limit)
    # An endless header line is refused as soon as it passes the limit, not at EOF.
    out = ScriptOutput(max_header=limit)
    out.feed(b"X-Long: ")
    try:
        for _ in range(100):
            out.feed(b"y" * 10)
    except ScriptError as e:
        assert e.args[0] == "cgi: header block over 64 bytes"
        assert out.total <= limit + 10
    else:
        raise AssertionError("no limit")
    # One huge read: refused too (only max_header bytes of it are looked at).
    expect_error([b"X: " + b"z" * 100000], "cgi: header block over 8192 bytes")


def test_script_output_max_output():
    head = b"Content-Type: a\r\n\r\n"
    cap = len(head) + 100
    ok = head + b"b" * 100
    for chunks in ways(ok):
        out = collect(chunks, max_output=cap)
        assert out.body_len == 100 and out.total == cap
    over = ok + b"!"
    for chunks in ways(over):
        out = expect_error(chunks, "cgi: output over max_output (%d bytes)" % cap, max_output=cap)
        assert out.body == []
    # The header block counts toward the cap as well.
    expect_error([head], "cgi: output over max_output (10 bytes)", max_output=10)


def test_script_output_streaming():
    head = b"Content-Type: a\r\n\r\n"
    out = ScriptOutput()
    out.feed(head + b"first")
    assert out.head_done
    assert out.take_body() == [b"first"]
    assert out.body == [] and out.take_body() == []
    for _ in range(100):
        out.feed(b"0123456789")  # no max_output: no cap
    chunks = out.take_body()
    assert len(chunks) == 100 and b"".join(chunks) == b"0123456789" * 100
    assert out.body_len == 1005
    assert out.total == len(head) + 1005
    out.finish()
    # The header block limit still holds.
    expect_error([b"X: " + b"z" * 100], "cgi: header block over 50 bytes", max_header=50)
    # Streaming splits: whatever the split, the chunks add up to the body.
    raw = head + b"abc" * 10
    for chunks in ways(raw):
        out = ScriptOutput()
        got = []
        for chunk in chunks:
            out.feed(chunk)
            got.extend(out.take_body())
        out.finish()
        assert b"".join(got) == b"abc" * 10


def test_script_output_defaults():
    out = ScriptOutput()
    assert out.max_header == 8192 and out.max_output is None
    assert out.head_done is False and out.total == 0
    # No cap by default: 1 MiB and more in 16 KiB reads of one bytes object (bytes
    # chunks are kept, not copied, so this fits MicroPython's default heap).
    head = b"Content-Type: a\n\n"
    piece = b"x" * 16384
    out.feed(head)
    for _ in range(64):
        out.feed(piece)
    assert out.total == len(head) + 64 * 16384 and out.body_len == 64 * 16384
    out.finish()
    # With a cap, one byte past it is an error.
    out = ScriptOutput(max_output=1048576)
    out.feed(head)
    for _ in range(63):
        out.feed(piece)
    out.feed(piece[len(head) :])
    assert out.total == 1048576
    try:
        out.feed(b"!")
    except ScriptError as e:
        assert e.args[0] == "cgi: output over max_output (1048576 bytes)"
    else:
        raise AssertionError("no cap")


def test_script_output_long_header_blocks():
    # Header blocks longer than one internal scan step (512 bytes), with the blank line
    # falling on and around the step boundaries, in one read and split.
    for terminator in (b"\r\n\r\n", b"\n\n", b"\n\r\n", b"\r\n\n"):
        top = 8192 - len(terminator)  # the default max_header counts the blank line
        for size in list(range(505, 520)) + list(range(1020, 1030)) + [top - 2, top - 1, top]:
            pad = size - 20
            raw = b"Content-Type: a\r\nX: " + b"v" * pad + terminator + b"<body>"
            cuts = (len(raw), 1, 511, 512, 513, size, size + 1, size + 2, size + 3)
            for cut in cuts:
                out = collect([raw[:cut], raw[cut:]])
                assert out.headers == [(b"Content-Type", b"a"), (b"X", b"v" * pad)]
                assert out.body == [b"<body>"] or b"".join(out.body) == b"<body>"
    # max_header at its default, in one read with the body: 8192 is fine, 8193 is not.
    for extra, ok in ((0, True), (1, False)):
        raw = b"Content-Type: a\r\nX: " + b"v" * (8192 - 24 + extra) + b"\r\n\r\nbody"
        if ok:
            assert collect([raw]).body == [b"body"]
        else:
            expect_error([raw], "cgi: header block over 8192 bytes")
