"""CGI end to end: which files run as scripts (SPEC §2, §5) and the script-output rules (§7).

Real `python -m microcgi serve` processes, real scripts (tests/cgi_bin/), real sockets.
This module also holds the small wire helpers the other tests/e2e/test_cgi*.py modules and
test_conformance.py import (`from test_cgi import Client, install, ...`): a keep-alive client
that reads each response by its own framing, so Content-Length and chunking are checked
exactly.
"""

import os
import re
import shutil
import socket
import sys
import time
from pathlib import Path

import pytest
from helpers import HOST

CGI_BIN = Path(__file__).resolve().parent.parent / "cgi_bin"
HELLO = b"hello\n"


# --- document roots -------------------------------------------------------------------------


def install(root, name, dest=None, mode=0o755, text=None):
    """Put tests/cgi_bin/NAME (or TEXT) at ROOT/DEST (default cgi-bin/NAME) with MODE."""
    path = Path(root) / (dest or "cgi-bin/" + name)
    path.parent.mkdir(parents=True, exist_ok=True)
    if text is None:
        shutil.copyfile(CGI_BIN / name, path)
    else:
        path.write_text(text)
    path.chmod(mode)
    return path


def make_root(tmp_path, *names):
    """A fresh ROOT (tmp_path/www) with the named scripts in ROOT/cgi-bin/, executable."""
    root = tmp_path / "www"
    root.mkdir(exist_ok=True)
    for name in names:
        install(root, name)
    return root


def parse_dump(body):
    """dump_env.py output -> (environ dict, extras dict with cwd/argv/stdin)."""
    env, extra = {}, {}
    for line in body.decode("utf-8", "surrogateescape").split("\n"):
        if line.startswith("env-"):
            key, _, value = line[4:].partition("=")
            env[key] = value
        elif "=" in line:
            key, _, value = line.partition("=")
            extra[key] = value
    return env, extra


# --- the wire -------------------------------------------------------------------------------


class Response:
    def __init__(self, version, status, reason, headers):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # [(name, value)] in order received
        self.body = b""
        self.chunked = False

    def all(self, name):
        name = name.lower()
        return [v for n, v in self.headers if n.lower() == name]

    def get(self, name):
        """The header's value; None when absent; fails when the header is repeated."""
        values = self.all(name)
        assert len(values) <= 1, "header %s repeated: %r" % (name, self.headers)
        return values[0] if values else None

    def __repr__(self):
        return "<Response %s %d %r %r body=%r>" % (
            self.version,
            self.status,
            self.reason,
            self.headers,
            self.body[:200],
        )


class CutShort(EOFError):
    """A chunked body that ended with the connection, before its last chunk; .body is
    what arrived."""

    def __init__(self, body):
        super().__init__("chunked body cut short after %d bytes" % len(body))
        self.body = body


class Client:
    """One connection to the server; sends requests, reads responses by their framing.

    Heads are read 64 bytes at a time (framing bugs show up as garbage in the next head).
    """

    def __init__(self, port, timeout=10):
        self.port = port
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.buf = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    def send(self, raw):
        self.sock.sendall(raw)

    def _fill(self, size):
        data = self.sock.recv(size)
        if not data:
            raise EOFError("server closed the connection; unread: %r" % self.buf[:300])
        self.buf += data

    def _take(self, n):
        while len(self.buf) < n:
            self._fill(min(65536, max(64, n - len(self.buf))))
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill(64)
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def read_response(self, method="GET"):
        while b"\r\n\r\n" not in self.buf:
            self._fill(64)
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code, _, reason = rest.partition(" ")
        assert re.fullmatch(r"HTTP/1\.[01]", version) and re.fullmatch(r"\d{3}", code), lines[0]
        headers = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            assert colon and name and name == name.strip(), "bad header line %r" % line
            headers.append((name, value.strip()))
        resp = Response(version, int(code), reason, headers)
        if method == "HEAD" or resp.status in (204, 304) or resp.status < 200:
            return resp
        te = resp.get("Transfer-Encoding")
        length = resp.get("Content-Length")
        if te is not None:
            assert te.lower() == "chunked" and length is None, resp
            resp.chunked = True
            resp.body = self._read_chunked()
        elif length is not None:
            assert re.fullmatch(r"\d+", length), resp
            resp.body = self._take(int(length))
        else:
            resp.body = self.read_until_close()
        return resp

    def _read_chunked(self):
        parts = []
        try:
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():  # trailers, then the empty line
                        pass
                    return b"".join(parts)
                parts.append(self._take(size))
                assert self._take(2) == b"\r\n", "chunk not followed by CRLF"
        except EOFError:
            raise CutShort(b"".join(parts) + self.buf) from None

    def read_until_close(self):
        chunks = [self.buf]
        self.buf = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)

    def closed_by_server(self):
        """True when the server closes with nothing more to read (waits up to the timeout)."""
        try:
            return self.buf == b"" and self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def request(self, method, path, headers=(), body=b"", version="HTTP/1.1"):
        self.send(build_request(self.port, method, path, headers, body, version))
        return self.read_response(method)


def build_request(port, method, path, headers=(), body=b"", version="HTTP/1.1"):
    """Raw request bytes; Host added unless given (or for HTTP/1.0), Content-Length for a body."""
    pairs = list(headers.items() if isinstance(headers, dict) else headers)
    names = {n.lower() for n, _ in pairs}
    if "host" not in names and version == "HTTP/1.1":
        pairs.insert(0, ("Host", "%s:%d" % (HOST, port)))
    if body and not names & {"content-length", "transfer-encoding"}:
        pairs.append(("Content-Length", str(len(body))))
    head = "%s %s %s\r\n" % (method, path, version)
    head += "".join("%s: %s\r\n" % pair for pair in pairs)
    return head.encode("latin-1") + b"\r\n" + body


def fetch(port, method, path, headers=(), body=b"", version="HTTP/1.1"):
    """One request on a fresh connection; the Response (the connection is then dropped)."""
    with Client(port) as client:
        return client.request(method, path, headers, body, version)


def log_lines(server, *words, timeout=5.0):
    """Wait until a line of the server's stderr contains every word; return those lines."""
    deadline = time.monotonic() + timeout
    while True:
        found = [
            line for line in server.stderr_text().splitlines() if all(w in line for w in words)
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def emit_url(output):
    """URL of emit.py that makes it write OUTPUT (bytes) verbatim."""
    return "/cgi-bin/emit.py?" + "".join("%%%02X" % b for b in output)


# --- SPEC §2: which files are scripts ------------------------------------------------------


def test_sh_without_exec_bit_runs_through_bin_sh(serve, tmp_path):
    """SPEC §2: `.sh` is a script by default, run through /bin/sh when not executable."""
    root = make_root(tmp_path)
    install(root, "hello.sh", "app/hello.sh", mode=0o644)
    server = serve(root)
    resp = fetch(server.port, "GET", "/app/hello.sh")
    assert (resp.status, resp.body) == (200, HELLO), resp
    assert resp.get("Content-Length") == str(len(HELLO))


def test_executable_sh_runs_through_its_shebang(serve, tmp_path):
    """SPEC §2: an executable `.sh` is executed via its shebang (here bash, not /bin/sh)."""
    if not os.path.exists("/bin/bash"):
        pytest.skip("/bin/bash not installed")
    root = make_root(tmp_path)
    script = (
        "#!/bin/bash\n"
        "printf 'Content-Type: text/plain\\r\\n\\r\\nbash=%s\\n' \"${BASH_VERSION:+yes}\"\n"
    )
    install(root, "", "app/which.sh", text=script)
    server = serve(root)
    resp = fetch(server.port, "GET", "/app/which.sh")
    assert (resp.status, resp.body) == (200, b"bash=yes\n"), resp


def test_py_runs_with_the_servers_python(serve, tmp_path):
    """SPEC §2: `.py` runs through the server's own Python (sys.executable), no exec bit needed."""
    root = make_root(tmp_path)
    script = (
        "import sys\n"
        "sys.stdout.write('Content-Type: text/plain\\r\\n\\r\\n' + sys.executable + '\\n')\n"
    )
    install(root, "", "app/where.py", mode=0o644, text=script)
    server = serve(root)
    resp = fetch(server.port, "GET", "/app/where.py")
    assert resp.status == 200, resp
    assert os.path.realpath(resp.body.decode().strip()) == os.path.realpath(sys.executable)


def test_php_runs_through_php_cgi_by_default(serve, tmp_path, php_cgi):
    """SPEC §2: without --cgi, `.php` runs through the php-cgi found on PATH."""
    root = make_root(tmp_path, "teapot.php")
    install(root, "teapot.php", "app/teapot.php", mode=0o644)
    server = serve(root)
    for path in ("/cgi-bin/teapot.php", "/app/teapot.php"):
        resp = fetch(server.port, "GET", path)
        assert (resp.status, resp.body) == (418, b"short and stout\n"), resp


def test_cgi_extension_runs_through_its_shebang(serve, tmp_path):
    """SPEC §2: `.cgi` is executed via its shebang, anywhere under ROOT."""
    root = make_root(tmp_path)
    install(root, "hello.sh", "app/hello.cgi")
    server = serve(root)
    resp = fetch(server.port, "GET", "/app/hello.cgi")
    assert (resp.status, resp.body) == (200, HELLO), resp


def test_exec_bit_under_cgi_bin_runs_whatever_the_extension(serve, tmp_path):
    """SPEC §2: files under /cgi-bin/ with an exec bit are CGI, whatever their extension.

    Without the exec bit, or outside /cgi-bin/, an unmapped file is plain static data.
    """
    root = make_root(tmp_path)
    install(root, "hello.sh", "cgi-bin/report.txt")
    install(root, "hello.sh", "cgi-bin/tool")
    install(root, "hello.sh", "cgi-bin/readme.txt", mode=0o644)
    install(root, "hello.sh", "app/report.txt")
    source = (CGI_BIN / "hello.sh").read_bytes()
    server = serve(root)
    with Client(server.port) as client:
        for path in ("/cgi-bin/report.txt", "/cgi-bin/tool"):
            resp = client.request("GET", path)
            assert (resp.status, resp.body) == (200, HELLO), (path, resp)
        for path in ("/cgi-bin/readme.txt", "/app/report.txt"):
            resp = client.request("GET", path)
            assert (resp.status, resp.body) == (200, source), (path, resp)


def test_empty_interpreter_executes_the_file_itself(serve, tmp_path):
    """SPEC §2: `--cgi EXT=` runs the file itself; no exec bit → 500 and a log line (§7.9)."""
    root = make_root(tmp_path)
    install(root, "hello.sh", "app/ok.run")
    install(root, "hello.sh", "app/locked.run", mode=0o644)
    server = serve(root, "--cgi", ".run=")
    with Client(server.port) as client:
        resp = client.request("GET", "/app/ok.run")
        assert (resp.status, resp.body) == (200, HELLO), resp
        resp = client.request("GET", "/app/locked.run")
        assert resp.status == 500, resp
        assert b"printf" not in resp.body
    assert log_lines(server, "locked.run"), server.stderr_text()


def test_interpreter_mapping(serve, tmp_path):
    """SPEC §2: `--cgi .xyz=/bin/sh` runs non-executable .xyz files through /bin/sh."""
    root = make_root(tmp_path)
    install(root, "hello.sh", "app/page.xyz", mode=0o644)
    server = serve(root, "--cgi", ".xyz=/bin/sh")
    resp = fetch(server.port, "GET", "/app/page.xyz")
    assert (resp.status, resp.body) == (200, HELLO), resp


@pytest.mark.parametrize(
    "path",
    [
        "/cgi-bin/hello.s%68",
        "/cgi-bin/%68ello.sh",
        "/cgi-bin/hello%2Esh",
        "/cgi-bin/hello%2esh",
        "/%63gi-bin/hello.sh",
        "/cgi-bin//hello.sh",
        "/cgi-bin/./hello.sh",
        "/cgi-bin/%2E/hello.sh",
        "/app/../cgi-bin/hello.sh",
        "/app/%2E%2E/cgi-bin/hello.sh",
        "/cgi-bin%2Fhello.sh",
        "/cgi-bin%2fhello.sh",
        "/cgi-bin/hello.sh/",
        "/cgi-bin/hello.sh%2F",
        "/cgi-bin/hello.sh%00",
        "/cgi-bin/hello.sh%00.txt",
        "/cgi-bin/hello.sh.",
        "/cgi-bin/hello.sh%20",
        "/cgi-bin/hello.sh?x=1",
        "/cgi-bin/hello.sh#frag",
        "/app/plain.s%68",
        "/app/plain.%73h",
        "/app/page.p%79",
        "/app/%70age.py",
        "/app/page.py/",
    ],
)
def test_mapped_file_is_never_served_as_text(serve, tmp_path, path):
    """SPEC §2: a mapped file that exists is never served as text, whatever the URL encoding.

    weborf served the source of `/env.p%79` (weborf-behaviour.md §1.1). Each URL either runs
    the script or is refused; the source never appears.
    """
    root = make_root(tmp_path, "hello.sh")
    install(root, "hello.sh", "app/plain.sh", mode=0o644)
    py = "import sys\nsys.stdout.write('Content-Type: text/plain\\r\\n\\r\\nhello\\n')  # SOURCE\n"
    install(root, "", "app/page.py", mode=0o644, text=py)
    server = serve(root)
    resp = fetch(server.port, "GET", path)
    assert b"printf" not in resp.body and b"SOURCE" not in resp.body, resp
    assert (resp.status, resp.body) == (200, HELLO) or 400 <= resp.status < 500, resp


# --- SPEC §5: methods, HEAD ------------------------------------------------------------------


def test_put_delete_patch_options_run_scripts(serve, tmp_path):
    """SPEC §5: PUT, DELETE, PATCH and OPTIONS run scripts too (the script decides)."""
    root = make_root(tmp_path, "dump_env.py")
    server = serve(root)
    with Client(server.port) as client:
        for method in ("PUT", "DELETE", "PATCH", "OPTIONS", "POST", "GET"):
            body = b"data for " + method.encode() if method in ("PUT", "PATCH", "POST") else b""
            resp = client.request(method, "/cgi-bin/dump_env.py", body=body)
            assert resp.status == 200, (method, resp)
            env, extra = parse_dump(resp.body)
            assert env["REQUEST_METHOD"] == method
            assert extra["stdin"] == body.hex()


def test_head_runs_the_script_and_drops_the_body(serve, tmp_path):
    """SPEC §3/§5: HEAD runs the script, answers GET's head without the body; keep-alive holds."""
    root = make_root(tmp_path, "mark.sh")
    server = serve(root)
    with Client(server.port) as client:
        head = client.request("HEAD", "/cgi-bin/mark.sh")
        get = client.request("GET", "/cgi-bin/mark.sh")
    assert (get.status, get.body) == (200, b"marked\n"), get
    assert head.status == 200 and head.get("X-Marked") == "yes", head
    assert head.get("Content-Length") == str(len(get.body)), head
    assert (root / "cgi-bin" / "ran.txt").read_text() == "HEAD\nGET\n"


# --- SPEC §7.2: Status -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "output, status, reason",
    [
        (b"Status: 404\r\nContent-Type: text/plain\r\n\r\nbody", 404, "Not Found"),
        (b"status: 201 Made It\r\nContent-Type: text/plain\r\n\r\nbody", 201, "Made It"),
        (b"STATUS:202\r\nContent-Type: text/plain\r\n\r\nbody", 202, "Accepted"),
        (
            b"Content-Type: text/plain\r\nStatus: 410 Gone For Good\r\n\r\nbody",
            410,
            "Gone For Good",
        ),
        (b"Status: 299 Odd\nContent-Type: text/plain\n\nbody", 299, "Odd"),
        (b"Status: 403\r\n\r\nbody", 403, "Forbidden"),
    ],
)
def test_status_sets_the_status_line(serve, tmp_path, output, status, reason):
    """SPEC §7.2: `Status: NNN reason` (any case, reason optional) sets the status line.

    The reason is kept, or the standard phrase used; `Status` itself is not forwarded.
    """
    root = make_root(tmp_path, "emit.py")
    server = serve(root)
    with Client(server.port) as client:
        resp = client.request("GET", emit_url(output))
        assert (resp.status, resp.reason, resp.body) == (status, reason, b"body"), resp
        assert resp.all("Status") == [], resp
        assert client.request("GET", emit_url(output)).status == status  # still alive


@pytest.mark.parametrize(
    "value", ["0x1F4", "banana", "99", "600", "1000", "20", "+200", "2OO", "-200", ""]
)
def test_bad_status_is_500(serve, tmp_path, value):
    """SPEC §7.2: NNN must be three digits 100–599; anything else → 500, page not shown."""
    root = make_root(tmp_path, "emit.py")
    server = serve(root)
    output = b"Status: " + value.encode() + b"\r\nContent-Type: text/plain\r\n\r\nSECRET-PAGE"
    resp = fetch(server.port, "GET", emit_url(output))
    assert resp.status == 500, resp
    assert b"SECRET-PAGE" not in resp.body


# --- SPEC §7.1: the header block --------------------------------------------------------------


@pytest.mark.parametrize(
    "output",
    [
        b"Content-Type: text/plain\r\nthis line has no colon\r\n\r\nSECRET-PAGE",
        b"Content-Type: text/plain\r\n: no name\r\n\r\nSECRET-PAGE",
        b"Content-Type text/plain\r\n\r\nSECRET-PAGE",
        b"X-Only: 1\r\n\r\nSECRET-PAGE",
        b"X-Only: 1\r\nSet-Cookie: a=1\r\n\r\nSECRET-PAGE",
        b"SECRET-PAGE without any header",
        b"Content-Type: text/plain\r\nX-Unfinished: yes\r\nSECRET-PAGE",
        b"",
    ],
)
def test_bad_header_block_is_500(serve, tmp_path, output):
    """SPEC §7.1: a malformed line, no Content-Type/Location/Status, or no blank line → 500."""
    root = make_root(tmp_path, "emit.py")
    server = serve(root)
    with Client(server.port) as client:
        resp = client.request("GET", emit_url(output))
        assert resp.status == 500, resp
        assert b"SECRET-PAGE" not in resp.body
        assert client.request("GET", emit_url(b"Status: 204\r\n\r\n")).status == 204


def test_header_without_space_after_colon_and_lf_line_ends(serve, tmp_path):
    """SPEC §7.1: the space after the colon is optional; LF, CRLF and a mix all end lines."""
    root = make_root(tmp_path, "emit.py")
    server = serve(root)
    output = b"Content-Type:text/x-test\nX-One:1\r\nX-Two:  2\n\r\nthe body\r\n\n"
    resp = fetch(server.port, "GET", emit_url(output))
    assert (resp.status, resp.body) == (200, b"the body\r\n\n"), resp
    assert resp.get("Content-Type") == "text/x-test"
    assert (resp.get("X-One"), resp.get("X-Two")) == ("1", "2")


def test_repeated_headers_pass_through_in_order(serve, tmp_path):
    """SPEC §7.4: other headers, repeated ones included (Set-Cookie), pass through in order."""
    root = make_root(tmp_path, "cookies.sh")
    server = serve(root)
    resp = fetch(server.port, "GET", "/cgi-bin/cookies.sh")
    assert (resp.status, resp.body) == (200, b"cookies\n"), resp
    assert resp.all("Set-Cookie") == ["a=1; Path=/", "c=2; Path=/"], resp
    names = [n.lower() for n, _ in resp.headers]
    script_order = ["set-cookie", "x-between", "set-cookie", "content-type"]
    it = iter(names)
    assert all(name in it for name in script_order), resp  # a subsequence, in order


def test_framing_headers_are_replaced_and_keepalive_works(serve, tmp_path):
    """SPEC §7.4: the script's Connection, Keep-Alive, Transfer-Encoding and Content-Length are
    dropped; the server's own Content-Length is right; the connection stays usable."""
    root = make_root(tmp_path, "framing.sh", "hello.sh")
    server = serve(root)
    with Client(server.port) as client:
        for _ in range(2):
            resp = client.request("GET", "/cgi-bin/framing.sh")
            assert (resp.status, resp.body) == (200, b"framed body\n"), resp
            assert resp.get("Content-Length") == "12"
            assert resp.get("Transfer-Encoding") is None and resp.get("Keep-Alive") is None
            assert (resp.get("Connection") or "").lower() != "close", resp
            assert resp.get("X-Kept") == "yes"
        resp = client.request("GET", "/cgi-bin/hello.sh")
        assert (resp.status, resp.body) == (200, HELLO), resp


def test_pipelined_requests_after_a_script(serve, tmp_path):
    """SPEC §3/§7.4: requests pipelined behind a script request are answered, in order."""
    root = make_root(tmp_path, "hello.sh", "clen.sh")
    (root / "static.txt").write_text("static\n")
    server = serve(root)
    with Client(server.port) as client:
        client.send(
            build_request(server.port, "GET", "/cgi-bin/clen.sh")
            + build_request(server.port, "GET", "/static.txt")
            + build_request(server.port, "GET", "/cgi-bin/hello.sh")
        )
        bodies = [client.read_response().body for _ in range(3)]
    assert bodies == [b"hello world\n", b"static\n", HELLO]


# --- SPEC §7.3: Location ----------------------------------------------------------------------


def test_local_location_is_served_by_the_server(serve, tmp_path):
    """SPEC §7.3: a local Location without Status → the server serves that path as a GET."""
    root = make_root(tmp_path, "loc.sh", "hello.sh")
    server = serve(root)
    with Client(server.port) as client:
        resp = client.request("GET", "/cgi-bin/loc.sh")
        assert (resp.status, resp.body) == (200, HELLO), resp
        assert resp.get("Location") is None
        assert client.request("GET", "/cgi-bin/hello.sh").body == HELLO


def test_local_redirect_is_a_fresh_get(serve, tmp_path):
    """SPEC §7.3: the redirect target runs as a fresh GET: no body, the Location's query."""
    root = make_root(tmp_path, "dump_env.py")
    redirect = "#!/bin/sh\nprintf 'Location: %s\\r\\n\\r\\n'\n"
    install(root, "", "cgi-bin/redir.sh", text=redirect % "/cgi-bin/dump_env.py?from=redirect")
    install(root, "", "cgi-bin/tostatic.sh", text=redirect % "/static.txt")
    (root / "static.txt").write_text("static target\n")
    server = serve(root)
    resp = fetch(server.port, "POST", "/cgi-bin/redir.sh?orig=1", body=b"a=1&b=2")
    assert resp.status == 200, resp
    env, extra = parse_dump(resp.body)
    assert env["REQUEST_METHOD"] == "GET"
    assert env["QUERY_STRING"] == "from=redirect"
    assert "CONTENT_LENGTH" not in env and extra["stdin"] == ""
    resp = fetch(server.port, "GET", "/cgi-bin/tostatic.sh")
    assert (resp.status, resp.body) == (200, b"static target\n"), resp


def test_local_redirects_stop_after_five_hops(serve, tmp_path):
    """SPEC §7.3: at most 5 local-redirect hops, then 500 (a loop cannot hang the server)."""
    root = make_root(tmp_path, "hop.sh", "loop.sh", "hello.sh")
    server = serve(root)
    with Client(server.port) as client:
        for hops in (1, 5):
            resp = client.request("GET", "/cgi-bin/hop.sh?%d" % hops)
            assert (resp.status, resp.body) == (200, b"arrived\n"), (hops, resp)
        assert client.request("GET", "/cgi-bin/hop.sh?6").status == 500
        assert client.request("GET", "/cgi-bin/loop.sh").status == 500
        assert client.request("GET", "/cgi-bin/hello.sh").body == HELLO


def test_absolute_location_is_302(serve, tmp_path):
    """SPEC §7.3: an absolute Location with no Status → 302 with that Location."""
    root = make_root(tmp_path, "locabs.sh")
    server = serve(root)
    resp = fetch(server.port, "GET", "/cgi-bin/locabs.sh")
    assert resp.status == 302, resp
    assert resp.get("Location") == "http://example.invalid/elsewhere"


def test_location_with_status_is_passed_as_given(serve, tmp_path):
    """SPEC §7.3: with a Status, Location and body pass as given (no local redirect)."""
    root = make_root(tmp_path, "loc303.sh", "hello.sh")
    server = serve(root)
    resp = fetch(server.port, "GET", "/cgi-bin/loc303.sh")
    assert (resp.status, resp.reason, resp.body) == (303, "See Over There", b"go\n"), resp
    assert resp.get("Location") == "/cgi-bin/hello.sh"


# --- SPEC §7.7, §7.8 --------------------------------------------------------------------------


def test_nph_script_output_is_passed_through(serve, tmp_path):
    """SPEC §7.8: an nph- script writes the whole response; the server passes its bytes on."""
    root = make_root(tmp_path, "nph-raw.sh")
    server = serve(root)
    expected = (
        b"HTTP/1.1 299 Raw Thing\r\nX-Nph: yes\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 9\r\nConnection: close\r\n\r\nraw bytes"
    )
    with Client(server.port) as client:
        client.send(
            build_request(server.port, "GET", "/cgi-bin/nph-raw.sh", [("Connection", "close")])
        )
        assert client.read_until_close() == expected


def test_nonzero_exit_status_keeps_the_page_and_is_logged(serve, tmp_path):
    """SPEC §7.7: exit status does not change a valid response; a non-zero one is logged."""
    root = make_root(tmp_path, "exit3.sh")
    server = serve(root)
    resp = fetch(server.port, "GET", "/cgi-bin/exit3.sh")
    assert (resp.status, resp.body) == (200, b"exit three\n"), resp
    lines = log_lines(server, "exit3.sh")
    assert [line for line in lines if re.search(r"\b3\b", line)], server.stderr_text()


# --- SPEC §7.5: streaming mode ----------------------------------------------------------------

PATTERN = b"PAGE-DATA-0123.\n"
BIG = 3_000_000


def test_stream_output_is_chunked_on_http11_without_cap(serve, tmp_path):
    """SPEC §7.5: with --stream-output the body is sent chunked on HTTP/1.1, with no cap."""
    root = make_root(tmp_path, "big.py", "hello.sh")
    server = serve(root, "--stream-output")
    with Client(server.port, timeout=20) as client:
        resp = client.request("GET", "/cgi-bin/big.py?%d" % BIG)
        assert resp.status == 200 and resp.chunked, resp
        assert resp.get("Content-Length") is None
        assert len(resp.body) == BIG
        assert resp.body == (PATTERN * (BIG // len(PATTERN) + 1))[:BIG]
        assert client.request("GET", "/cgi-bin/hello.sh").body == HELLO  # still alive


def test_stream_output_is_close_delimited_on_http10(serve, tmp_path):
    """SPEC §7.5: on HTTP/1.0 the streamed body ends when the connection closes."""
    root = make_root(tmp_path, "big.py")
    server = serve(root, "--stream-output")
    with Client(server.port, timeout=20) as client:
        resp = client.request("GET", "/cgi-bin/big.py?%d" % BIG, version="HTTP/1.0")
    assert resp.status == 200 and not resp.chunked, resp
    assert resp.get("Content-Length") is None and resp.get("Transfer-Encoding") is None
    assert resp.body == (PATTERN * (BIG // len(PATTERN) + 1))[:BIG]
