"""The black-box CGI conformance battery, run the way the independent check runs it.

One server, started exactly like this (SPEC §2):

    microcgi serve ROOT --host 127.0.0.1 --port P --script-timeout T --max-output N \
        --cgi .py=/usr/bin/python3 --cgi .sh=/bin/sh --cgi .php=/usr/bin/php-cgi

with every script in ROOT/cgi-bin/ carrying a shebang and an exec bit, and the request
matrix of weborf's lab (research/weborf-behaviour.md §2) — expecting the SPEC's answers
(§2, §5, §6, §7), not weborf's bugs. The lab's numbers are cited as "weborf #N".
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import HOST
from test_cgi import (
    CGI_BIN,
    HELLO,
    Client,
    build_request,
    emit_url,
    install,
    log_lines,
    parse_dump,
)

PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
PHP = "/usr/bin/php-cgi" if os.access("/usr/bin/php-cgi", os.X_OK) else shutil.which("php-cgi")
SCRIPT_TIMEOUT = 3
MAX_OUTPUT = 1024 * 1024


def microcgi_command():
    """The installed `microcgi` command next to this Python, else `python -m microcgi`."""
    exe = Path(sys.executable).parent / "microcgi"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "microcgi"]


def free_port():
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class ConformanceServer:
    """`microcgi serve` with the conformance check's exact flags and a port chosen up front."""

    def __init__(self, root, workdir):
        self.root = root
        self.port = free_port()
        self.argv = [
            *microcgi_command(),
            "serve",
            str(root),
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--script-timeout",
            str(SCRIPT_TIMEOUT),
            "--max-output",
            str(MAX_OUTPUT),
            "--cgi",
            ".py=" + PYTHON,
            "--cgi",
            ".sh=/bin/sh",
        ]
        if PHP:
            self.argv += ["--cgi", ".php=" + PHP]
        self.stdout_path = Path(workdir) / "conformance.stdout"
        self.stderr_path = Path(workdir) / "conformance.stderr"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err
            )

    def wait_accepting(self, timeout=10.0):
        """Like the black-box check: ready when the port accepts a connection."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()
                return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(
                    "%s did not accept connections\n--- stdout ---\n%s\n--- stderr ---\n%s"
                    % (" ".join(self.argv), self.stdout_text(), self.stderr_text())
                )
            time.sleep(0.05)

    def stdout_text(self):
        return self.stdout_path.read_text(errors="replace")

    def stderr_text(self):
        return self.stderr_path.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("conformance")
    root = workdir / "www"
    for script in sorted(CGI_BIN.iterdir()):
        if script.name != "README.md":
            install(root, script.name)
    install(root, "noexec.cgi", mode=0o644)
    install(root, "dump_env.py", "cgi-bin/env.py")
    install(root, "dump_env.py", "cgi-bin/sub/env.py")
    (root / "static.txt").write_text("static file\n")
    srv = ConformanceServer(root, workdir)
    try:
        yield srv.wait_accepting()
    finally:
        srv.stop()


def get(server, path, **kw):
    with Client(server.port) as client:
        return client.request("GET", path, **kw)


def env_of(resp):
    assert resp.status == 200, resp
    return parse_dump(resp.body)


def test_hello(server):
    """weborf #1; SPEC §7.4: 200, the server's Content-Length, and keep-alive afterwards."""
    with Client(server.port) as client:
        for _ in range(3):
            resp = client.request("GET", "/cgi-bin/hello.sh")
            assert (resp.status, resp.body) == (200, HELLO), resp
            assert resp.get("Content-Length") == "6" and resp.get("Content-Type") == "text/plain"
            assert (resp.get("Connection") or "").lower() != "close"
            assert (resp.get("Server") or "").startswith("microcgi/")


def test_env_dump(server):
    """weborf #2; SPEC §6: the core variables, with the real port and a plain IPv4 address."""
    with Client(server.port) as client:
        env, extra = env_of(client.request("GET", "/cgi-bin/env.py?a=1"))
        port = client.local_port
    assert env["GATEWAY_INTERFACE"] == "CGI/1.1"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1" and env["REQUEST_METHOD"] == "GET"
    assert env["SERVER_PORT"] == str(server.port) and env["SERVER_NAME"] == HOST
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("127.0.0.1", str(port))
    assert env["SCRIPT_NAME"] == "/cgi-bin/env.py"
    assert env["SCRIPT_FILENAME"] == str(server.root / "cgi-bin" / "env.py")
    assert env["DOCUMENT_ROOT"] == str(server.root)
    assert env["QUERY_STRING"] == "a=1" and env["REQUEST_URI"] == "/cgi-bin/env.py?a=1"
    assert env["REDIRECT_STATUS"] == "200"
    assert env["SERVER_SOFTWARE"].startswith("microcgi/")
    assert "PATH_INFO" not in env and "CONTENT_LENGTH" not in env
    assert extra["argv"].endswith("'env.py']")


def test_status_404_keeps_its_reason(server):
    """weborf #3; SPEC §7.2: the script's reason phrase is kept; Status is not forwarded."""
    resp = get(server, "/cgi-bin/s404.sh")
    assert (resp.status, resp.reason, resp.body) == (404, "Not Found Here", b"nope\n"), resp
    assert resp.all("Status") == []


def test_body_only_is_500(server):
    """weborf #4; SPEC §7.1: output without a header block → 500, and keep-alive holds."""
    with Client(server.port) as client:
        resp = client.request("GET", "/cgi-bin/nohdr.sh")
        assert resp.status == 500 and b"just a body" not in resp.body, resp
        assert client.request("GET", "/cgi-bin/hello.sh").body == HELLO


def test_lf_separators_are_accepted(server):
    """weborf #5, #6; SPEC §7.1: LF line ends and mixed LF/CRLF end the header block."""
    resp = get(server, "/cgi-bin/lf.sh")
    assert (resp.status, resp.body, resp.get("X-Line-Ends")) == (200, b"lf body\n", "lf"), resp
    resp = get(server, "/cgi-bin/mixed.sh")
    assert (resp.status, resp.body, resp.get("X-Line-Ends")) == (200, b"mixed body\n", "mixed")


def test_header_block_split_across_writes(server):
    """weborf #7; SPEC §7.1: the header block may arrive in any number of reads."""
    resp = get(server, "/cgi-bin/split.sh")
    assert (resp.status, resp.body) == (200, b"split body\n"), resp
    assert resp.get("X-Late") == "yes"


def test_local_location_is_an_internal_redirect(server):
    """weborf #8; SPEC §7.3: `Location: /cgi-bin/hello.sh` alone → the server serves it."""
    resp = get(server, "/cgi-bin/loc.sh")
    assert (resp.status, resp.body) == (200, HELLO), resp
    assert resp.get("Location") is None


def test_absolute_location_is_302(server):
    """SPEC §7.3: an absolute Location with no Status → 302."""
    resp = get(server, "/cgi-bin/locabs.sh")
    assert resp.status == 302, resp
    assert resp.get("Location") == "http://example.invalid/elsewhere"


def test_location_with_status(server):
    """weborf #9; SPEC §7.3: with a Status, everything is passed as given."""
    resp = get(server, "/cgi-bin/loc303.sh")
    assert (resp.status, resp.reason, resp.get("Location")) == (
        303,
        "See Over There",
        "/cgi-bin/hello.sh",
    ), resp


def test_bad_status_values(server):
    """weborf #10; SPEC §7.2: `0x1F4` and `banana` → 500; `status:` in lower case works."""
    with Client(server.port) as client:
        for value, expected in (("0x1F4", 500), ("banana", 500), ("010", 500), ("404", 404)):
            output = b"status: %s\r\nContent-Type: text/plain\r\n\r\nx" % value.encode()
            assert client.request("GET", emit_url(output)).status == expected, value


def test_wrong_content_length_is_replaced(server):
    """weborf #11; SPEC §7.4: the script's Content-Length is dropped, the right one sent."""
    with Client(server.port) as client:
        resp = client.request("GET", "/cgi-bin/clen.sh")
        assert (resp.status, resp.body) == (200, b"hello world\n"), resp
        assert resp.all("Content-Length") == ["12"]
        assert client.request("GET", "/cgi-bin/hello.sh").body == HELLO


def test_exit_status_after_output(server):
    """weborf #12; SPEC §7.7: `exit 3` after a valid page → still 200; logged."""
    resp = get(server, "/cgi-bin/exit3.sh")
    assert (resp.status, resp.body) == (200, b"exit three\n"), resp
    assert log_lines(server, "exit3.sh"), server.stderr_text()


def test_headers_only(server):
    """weborf #13: a header block and no body → 200, Content-Length: 0."""
    resp = get(server, "/cgi-bin/empty.sh")
    assert (resp.status, resp.body, resp.get("Content-Length")) == (200, b"", "0"), resp


def test_stderr_goes_to_the_log(server):
    """weborf #14; SPEC §5: stderr lines go to the server's log, prefixed with the script's
    name, never into the body."""
    resp = get(server, "/cgi-bin/stderr.py")
    assert (resp.status, resp.body) == (200, b"stdout line 1\nstdout line 2\n"), resp
    lines = log_lines(server, "stderr.py", "THIS-WENT-TO-STDERR")
    assert lines, server.stderr_text()
    assert lines[0].index("stderr.py") < lines[0].index("THIS-WENT-TO-STDERR"), lines


def test_big_header_block_is_500(server):
    """weborf #15; SPEC §7.1: a header block past 8 KiB → 500 (7,000 bytes is fine)."""
    with Client(server.port) as client:
        resp = client.request("GET", "/cgi-bin/bighdr.py?7000")
        assert (resp.status, resp.body) == (200, b"ok\n"), resp
        resp = client.request("GET", "/cgi-bin/bighdr.py?9000")
        assert resp.status == 500 and b"X-Filler" not in resp.body, resp
        resp = client.request("GET", "/cgi-bin/bighdr.py?100000")
        assert resp.status == 500, resp


def test_missing_script_is_404(server):
    """weborf #16; SPEC §7.9: a mapped file that does not exist → 404."""
    with Client(server.port) as client:
        for path in ("/cgi-bin/nonexistent.py", "/cgi-bin/nonexistent.sh", "/nope/x.php"):
            assert client.request("GET", path).status == 404, path
        body = b"x" * 1000
        assert client.request("POST", "/cgi-bin/nonexistent.py", body=body).status == 404


def test_script_without_exec_bit_is_500_and_logged(server):
    """weborf #17; SPEC §7.9: `.cgi` runs the file itself; no exec bit → 500, a log line."""
    resp = get(server, "/cgi-bin/noexec.cgi")
    assert resp.status == 500, resp
    assert b"should not run" not in resp.body and b"printf" not in resp.body
    assert log_lines(server, "noexec.cgi"), server.stderr_text()


def test_cwd_is_the_scripts_folder(server):
    """weborf #18; SPEC §5: the script's working directory is its own folder."""
    env, extra = env_of(get(server, "/cgi-bin/sub/env.py"))
    assert extra["cwd"] == os.path.realpath(server.root / "cgi-bin" / "sub")
    assert env["SCRIPT_NAME"] == "/cgi-bin/sub/env.py"


def test_query_specials_stay_raw(server):
    """weborf #23; SPEC §6: QUERY_STRING is the raw query (weborf decoded it, cut at %00)."""
    query = "a=%20+b&c=%26amp%3D&d=%23%25&e=%C3%A9&nul=a%00b&q=?&s=%2F&end=1"
    env, _ = env_of(get(server, "/cgi-bin/env.py?" + query))
    assert env["QUERY_STRING"] == query
    assert env["REQUEST_URI"] == "/cgi-bin/env.py?" + query


@pytest.mark.parametrize("path", ["/cgi-bin/env.p%79", "/cgi-bin/%65nv.py", "/cgi-bin/env%2Epy"])
def test_encoded_script_name_runs_the_script(server, path):
    """weborf #24; SPEC §2: `/env.p%79` names the script: it runs, its source never shows."""
    resp = get(server, path)
    assert resp.status == 200, resp
    assert b"import" not in resp.body
    env, _ = parse_dump(resp.body)
    assert env["SCRIPT_NAME"] == "/cgi-bin/env.py"
    assert env["REQUEST_URI"] == path


def test_path_info(server):
    """weborf #25; SPEC §5/§6: `/cgi-bin/env.py/extra/path` → PATH_INFO, PATH_TRANSLATED."""
    env, _ = env_of(get(server, "/cgi-bin/env.py/extra/path"))
    assert env["SCRIPT_NAME"] == "/cgi-bin/env.py"
    assert env["PATH_INFO"] == "/extra/path"
    assert env["PATH_TRANSLATED"] == str(server.root) + "/extra/path"


def test_head_runs_the_script_and_drops_the_body(server):
    """weborf #19; SPEC §3: HEAD runs the script, sends GET's head, no body."""
    ran = server.root / "cgi-bin" / "ran.txt"
    ran.unlink(missing_ok=True)
    with Client(server.port) as client:
        head = client.request("HEAD", "/cgi-bin/mark.sh")
        assert head.status == 200 and head.get("Content-Length") == "7", head
        assert head.get("X-Marked") == "yes"
        assert client.request("HEAD", "/static.txt").get("Content-Length") == "12"
        assert client.request("GET", "/cgi-bin/hello.sh").body == HELLO
    assert ran.read_text() == "HEAD\n"


def test_post_body_reaches_stdin_then_eof(server):
    """weborf #20; SPEC §5: the body on stdin, then EOF (`cat` finishes; weborf hung)."""
    body = b"hello world, posted\n"
    with Client(server.port) as client:
        resp = client.request("POST", "/cgi-bin/cat.sh", body=body)
        assert (resp.status, resp.body) == (200, body), resp
        resp = client.request("POST", "/cgi-bin/env.py", [("Content-Type", "text/x-a")], b"a=1")
        env, extra = env_of(resp)
        assert (env["CONTENT_LENGTH"], env["CONTENT_TYPE"]) == ("3", "text/x-a")
        assert extra["stdin"] == b"a=1".hex()
        resp = client.request("GET", "/cgi-bin/cat.sh")  # no body: EOF at once
        assert (resp.status, resp.body) == (200, b""), resp


def test_1mb_post_to_a_script_that_never_reads_it(server):
    """weborf #30; SPEC §5: a 1 MB body to a script ignoring stdin completes (weborf hung)."""
    with Client(server.port, timeout=20) as client:
        resp = client.request("POST", "/cgi-bin/hello.sh", body=b"z" * 1_000_000)
        assert (resp.status, resp.body) == (200, HELLO), resp
        assert client.request("GET", "/cgi-bin/hello.sh").body == HELLO


def test_http10_without_host(server):
    """weborf #22; SPEC §6: no Host on HTTP/1.0 → SERVER_NAME is the bound address (not 500)."""
    with Client(server.port) as client:
        client.send(build_request(server.port, "GET", "/cgi-bin/env.py", version="HTTP/1.0"))
        env, _ = env_of(client.read_response())
    assert env["SERVER_NAME"] == HOST and env["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert "HTTP_HOST" not in env


def test_content_length_without_content_type(server):
    """weborf #21; SPEC §6: CONTENT_LENGTH set, no CONTENT_TYPE (weborf 0.19: 500)."""
    with Client(server.port) as client:
        env, extra = env_of(client.request("POST", "/cgi-bin/env.py", body=b"12345"))
    assert env["CONTENT_LENGTH"] == "5" and "CONTENT_TYPE" not in env
    assert "HTTP_CONTENT_LENGTH" not in env and extra["stdin"] == b"12345".hex()


def test_chunked_post(server):
    """weborf #33; SPEC §3/§6: a chunked body is de-chunked; CONTENT_LENGTH is its length."""
    chunked = b"4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n"
    with Client(server.port) as client:
        resp = client.request(
            "POST", "/cgi-bin/env.py", [("Transfer-Encoding", "chunked")], chunked
        )
        env, extra = env_of(resp)
        assert env["CONTENT_LENGTH"] == "23"
        assert bytes.fromhex(extra["stdin"]) == b"Wikipedia in\r\n\r\nchunks."
        assert client.request("GET", "/cgi-bin/hello.sh").body == HELLO


def test_php_get_query(server, php_cgi):
    """weborf #37; SPEC §6: php-cgi runs (REDIRECT_STATUS=200) and parses the query."""
    resp = get(server, "/cgi-bin/info.php?x=1&y=%41&z=a+b")
    assert resp.status == 200, resp
    data = json.loads(resp.body)
    assert data["method"] == "GET"
    assert data["get"] == {"x": "1", "y": "A", "z": "a b"}


def test_php_post_form(server, php_cgi):
    """weborf #38: a form body reaches $_POST."""
    with Client(server.port) as client:
        headers = [("Content-Type", "application/x-www-form-urlencoded")]
        resp = client.request("POST", "/cgi-bin/info.php?q=1", headers, b"a=1&b=x+y&c=%C3%A9")
        assert resp.status == 200, resp
        data = json.loads(resp.body)
        assert data["post"] == {"a": "1", "b": "x y", "c": "é"}
        assert data["get"] == {"q": "1"} and data["method"] == "POST"
        assert client.request("GET", "/cgi-bin/hello.sh").body == HELLO


def test_php_response_code(server, php_cgi):
    """weborf #10 (php row); SPEC §7.2: http_response_code(418) → 418 with its phrase."""
    resp = get(server, "/cgi-bin/teapot.php")
    assert (resp.status, resp.body) == (418, b"short and stout\n"), resp
    assert resp.all("Status") == []


def test_server_survived_the_battery(server):
    """SPEC §3: bad scripts never kill the server."""
    assert server.proc.poll() is None
    assert get(server, "/static.txt").body == b"static file\n"
