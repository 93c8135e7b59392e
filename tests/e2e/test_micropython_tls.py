"""HTTPS on the real MicroPython interpreter (issue 14), at the esp32 profile's heap.

A board's flash is built as tools/deploy.py builds it (bench.heap.build_board), with
tls_cert and tls_key in its config.json and the certificate `microcgi tls-selfsigned`
made next to it, and run as `micropython -X heapsize=111936 -m main` (see
test_micropython.py). Clients are Python's ssl module and curl, trusting that
certificate. One board serves every test of this module in turn.
"""

import os
import shutil
import socket
import ssl
import subprocess
import sys
import time

import pytest
from test_tls import read_all, responses

from bench.heap import MICROPYTHON, MPY_CROSS, BoardServer, build_board, free_port

pytestmark = pytest.mark.skipif(
    not (MICROPYTHON and MPY_CROSS),
    reason="needs micropython and mpy-cross in the venv (see test_micropython.py)",
)

ESP32_HEAP = 111936  # boards/esp32.json heap_bytes
HEADER_TIMEOUT = 2  # seconds (config.json)
CURL = shutil.which("curl")
SMALL = bytes((i * 7 + 13) % 95 + 32 for i in range(1023)) + b"\n"
BIG = bytes((i * 131 + 7) % 251 for i in range(200 * 1024 + 5))  # a file, not cached
# a whole TLS connection may cost the board's heap this much, idle (docs/boards.md)
SESSION_BOUND = 4 * 1024

SCRIPTS = {
    "echo.py": """
def main(environ, stdin, stdout):
    body = stdin.read()
    stdout.write(b"Content-Type: text/plain\\r\\n\\r\\n")
    stdout.write(("%s %s %d\\n" % (environ.get("HTTPS", "-"), environ["REQUEST_SCHEME"],
                                    len(body))).encode())
    stdout.write(body)
""",
    # more than buffer_output (16 KiB on a board): streamed, chunked, as it comes
    "stream.py": """
def main(environ, stdin, stdout):
    stdout.write(b"Content-Type: text/plain\\r\\n\\r\\n")
    for i in range(64):
        yield (b"%04d" % i) * 256
""",
    "heap.py": """
import gc

def main(environ, stdin, stdout):
    gc.collect()
    stdout.write(b"Content-Type: text/plain\\r\\n\\r\\n")
    stdout.write(b"free=%d used=%d\\n" % (gc.mem_free(), gc.mem_alloc()))
""",
}


def make_cert(folder):
    done = subprocess.run(
        [sys.executable, "-m", "microcgi", "tls-selfsigned", str(folder), "--name", "localhost"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return folder / "cert.pem", folder / "key.pem"


def start_board(tmp_path_factory, config, certs=True):
    site = tmp_path_factory.mktemp("tls-site")
    (site / "small.txt").write_bytes(SMALL)
    (site / "big.bin").write_bytes(BIG)
    for name, text in SCRIPTS.items():
        (site / name).write_text(text)
    folder = build_board(tmp_path_factory.mktemp("tls-board"), site, config)
    cert, key = make_cert(tmp_path_factory.mktemp("tls-certs"))
    if certs:
        shutil.copy(cert, folder / "cert.pem")
        shutil.copy(key, folder / "key.pem")
    return BoardServer(folder, ESP32_HEAP), str(cert)


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    redirect = free_port()
    config = {
        "tls_cert": "cert.pem",
        "tls_key": "key.pem",
        "header_timeout": HEADER_TIMEOUT,
        "max_output": None,
        "redirect_http": redirect,
    }
    server, cafile = start_board(tmp_path_factory, config)
    server.cafile = cafile
    server.redirect = redirect
    try:
        assert server.wait_ready(), server.output()
        yield server
    finally:
        server.stop()


def client(board, timeout=20.0):
    ctx = ssl.create_default_context(cafile=board.cafile)
    raw = socket.create_connection(("127.0.0.1", board.port), timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def ask(board, raw):
    with client(board) as s:
        s.sendall(raw)
        return responses(read_all(s))


def assert_alive(board):
    assert board.alive(), board.output()
    got = ask(board, b"GET /small.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert got == [(200, SMALL)], board.output()[-1500:]


def heap(board):
    got = ask(board, b"GET /heap.py HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    fields = dict(item.split(b"=") for item in got[0][1].split())
    return int(fields[b"free"])


def test_listening_line_says_https(board):
    assert "listening on https://127.0.0.1:%d/" % board.port in board.output()


def test_keep_alive_and_pipelining(board):
    # 41 requests in one write: one TLS record, larger than the board's 1 KiB buffer
    got = ask(
        board,
        b"GET /small.txt HTTP/1.1\r\nHost: localhost\r\n\r\n" * 40
        + b"GET /small.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    assert got == [(200, SMALL)] * 41
    if CURL is not None:
        url = "https://localhost:%d/small.txt" % board.port
        done = subprocess.run(
            [CURL, "-sS", "-v", "--cacert", board.cafile, url, url],
            capture_output=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == SMALL * 2
        assert b"Re-using existing connection" in done.stderr or b"Reusing" in done.stderr


def test_post_body_and_https_environ(board):
    body = os.urandom(8000)
    got = ask(
        board,
        b"POST /echo.py HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n"
        b"Connection: close\r\n\r\n" % len(body) + body,
    )
    assert got == [(200, b"on https 8000\n" + body)]


def test_streamed_script_and_large_file(board):
    got = ask(
        board,
        b"GET /stream.py HTTP/1.1\r\nHost: localhost\r\n\r\n"
        b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    assert got[0] == (200, b"".join((b"%04d" % i) * 256 for i in range(64)))
    assert got[1] == (200, BIG)


def test_stalled_clients_are_closed_while_others_are_served(board):
    silent = client(board)  # handshake done, no request
    partial = client(board)
    partial.sendall(b"GET /small.txt HTTP/1.1\r\nHost: loc")
    stalled = socket.create_connection(("127.0.0.1", board.port), timeout=20)  # no handshake
    plain = socket.create_connection(("127.0.0.1", board.port), timeout=20)
    plain.sendall(b"GET /small.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")  # not TLS
    try:
        assert_alive(board)  # while the four wait
        assert read_all(silent) == b""
        assert read_all(partial).startswith(b"HTTP/1.1 408")
        for sock in (stalled, plain):
            try:
                got = sock.recv(1000)
            except ConnectionResetError:
                got = b""
            assert b"200 OK" not in got and SMALL not in got
        assert_alive(board)
    finally:
        for sock in (silent, partial, stalled, plain):
            sock.close()


def test_redirect_http_on_a_board(board):
    assert "redirecting http://127.0.0.1:%d/ to https" % board.redirect in board.output()
    with socket.create_connection(("127.0.0.1", board.redirect), timeout=20) as s:
        s.sendall(b"GET /small.txt?a=1 HTTP/1.1\r\nHost: board.local\r\n\r\n")
        got = read_all(s)
    assert got.startswith(b"HTTP/1.1 301 ")
    assert b"\r\nLocation: https://board.local:%d/small.txt?a=1\r\n" % board.port in got
    assert_alive(board)


def test_tls_costs_on_the_board_heap(board):
    """What a TLS connection costs the MicroPython heap (docs/boards.md): the board's
    free heap with four more handshaken, idle connections; then, with them closed, it
    comes back. The handshake time is printed too (this machine's CPU, not an ESP32's)."""
    free = heap(board)
    held, times = [], []
    try:
        for _ in range(4):
            start = time.perf_counter()
            s = client(board)
            times.append(time.perf_counter() - start)
            s.sendall(b"GET /small.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 200")
            held.append(s)
        with_four = heap(board)
    finally:
        for s in held:
            s.close()
    time.sleep(0.5)
    after = heap(board)
    per = (free - with_four) / 4
    print(
        "\nboard heap %d B, free %d; %.0f B per idle TLS connection; handshakes %s ms"
        % (ESP32_HEAP, free, per, [round(t * 1000, 1) for t in times])
    )
    assert per <= SESSION_BOUND, (free, with_four)
    assert free - after <= 1024, (free, after)  # closed connections give it back
    assert_alive(board)


def test_missing_certificate_on_a_board_serves_nothing(tmp_path_factory):
    server, _ = start_board(
        tmp_path_factory, {"tls_cert": "cert.pem", "tls_key": "key.pem"}, certs=False
    )
    try:
        deadline = time.monotonic() + 20
        while server.alive() and time.monotonic() < deadline:
            if "cannot start" in server.output():
                break
            time.sleep(0.05)
        text = server.output()
        assert "microcgi: cannot start: tls: cannot read certificate cert.pem" in text, text
        assert "listening" not in text
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
    finally:
        server.stop()
