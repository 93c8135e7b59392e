"""Issue 9: a loop that cannot die of a request.

The server runs in this process (its real loop, real sockets on 127.0.0.1) with a
script runner that fails the way a bug would: the runner is the one part swapped for
a deliberately broken one, as a fault injection, since the real runners have no
known way to raise. Whatever raises while one connection is served, that connection
gets a 500 (or is closed, when its response began), one log line names the cause,
and everyone else is served.
"""

import os
import socket
import threading

import pytest

from microcgi import server as server_module
from microcgi.config import Config


class BrokenRunner:
    """A runner whose start() raises a plain bug (not an HTTPError), and whose tick()
    raises once when asked to."""

    def __init__(self):
        self.tick_bug = False

    def start(self, job, loop):
        raise RuntimeError("bug in start")

    def tick(self, now_ms):
        if self.tick_bug:
            self.tick_bug = False
            raise KeyError("bug in tick")

    def wants_cpu(self):
        return False

    def busy(self):
        return False

    def close(self):
        pass


@pytest.fixture
def running(tmp_path):
    root = tmp_path / "www"
    (root / "cgi-bin").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"A")
    (root / "cgi-bin" / "x.py").write_text("print('never runs')\n")
    cfg = Config(root=str(root), port=0, cgi={".py": ""})
    logs = []
    runner = BrokenRunner()
    srv = server_module.Server(cfg, runner, log=logs.append, realpath=os.path.realpath)
    srv.listen()
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            srv.run_once(20)

    thread = threading.Thread(target=loop)
    thread.start()
    yield srv, runner, logs
    stop.set()
    thread.join(10)
    srv.close()


def ask(port, raw):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk


def test_an_exception_while_serving_is_a_500_and_one_log_line(running):
    srv, _runner, logs = running
    got = ask(srv.port, b"GET /cgi-bin/x.py HTTP/1.1\r\nHost: x\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 500 "), got
    assert b"Connection: close" in got
    lines = [line for line in logs if "internal error" in line]
    assert len(lines) == 1, logs
    assert "RuntimeError: bug in start" in lines[0] and "127.0.0.1" in lines[0]
    # everyone else is served, on new connections and on kept-alive ones
    for _ in range(3):
        got = ask(srv.port, b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert got.startswith(b"HTTP/1.1 200 OK") and got.endswith(b"\r\n\r\nA"), got


def test_an_exception_in_the_runners_tick_is_logged_and_the_loop_goes_on(running):
    srv, runner, logs = running
    runner.tick_bug = True
    got = ask(srv.port, b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert got.endswith(b"\r\n\r\nA"), got
    got = ask(srv.port, b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert got.endswith(b"\r\n\r\nA"), got
    assert any("KeyError" in line and "bug in tick" in line for line in logs), logs
