"""Memory bounded per connection in both directions (issues 9 and 10), half-closed
clients, responses cut short, and a loop that no request can take down.

Memory bounds are measured: the server's RSS (/proc/PID/status) sampled while the load
runs, against its RSS when idle. Nothing here asserts a duration.
"""

import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from test_cgi import Client, CutShort

MiB = 1024 * 1024
ROOM = 12 * MiB  # RSS growth allowed over idle: a few buffers, never the payload


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class PeakRSS:
    """Samples a process's RSS every 20 ms in a thread; .peak is the highest seen."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = rss(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.02):
            try:
                self.peak = max(self.peak, rss(self.pid))
            except (OSError, AssertionError):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def script(root, name, text):
    path = root / "cgi-bin" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def py(body):
    return "#!%s\n%s" % (sys.executable, body)


BIG_OUT = py(
    """import os, sys
n = int(os.environ["QUERY_STRING"])
out = sys.stdout.buffer
out.write(b"Content-Type: application/octet-stream\\r\\n\\r\\n")
block = bytes(range(256)) * 256
while n > 0:
    out.write(block[:n])
    n -= len(block)
"""
)

NPH_FLOOD = py(
    """import sys
out = sys.stdout.buffer
out.write(b"HTTP/1.1 200 OK\\r\\nContent-Type: application/octet-stream\\r\\n\\r\\n")
block = b"x" * 65536
while True:
    out.write(block)
"""
)

IGNORES_BODY = py(
    """import sys, time
time.sleep(float(__import__("os").environ["QUERY_STRING"] or "2"))
sys.stdout.write("Content-Type: text/plain\\r\\n\\r\\nignored\\n")
"""
)

BODY_SIZE = py(
    """import sys
n = len(sys.stdin.buffer.read())
sys.stdout.write("Content-Type: text/plain\\r\\n\\r\\n%d\\n" % n)
"""
)

GEN_OUT = """
def main(environ, stdin, stdout):
    n = int(environ["QUERY_STRING"])
    stdout.write(b"Content-Type: application/octet-stream\\r\\n\\r\\n")
    block = bytes(range(256)) * 256
    while n > 0:
        yield block[:n]
        n -= len(block)
"""


def read_to_close(sock):
    """Everything the server sends until it closes (or resets) the connection."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except OSError:
            return data
        if not chunk:
            return data
        data += chunk


def settle_rss(pid):
    time.sleep(0.3)
    return rss(pid)


def read_slowly_then_all(sock, slow_bytes, rate):
    """Read slow_bytes at about rate bytes/s, then everything until the close."""
    got = 0
    started = time.monotonic()
    while got < slow_bytes:
        data = sock.recv(16384)
        if not data:
            return got, True
        got += len(data)
        ahead = got / rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)
    while True:
        data = sock.recv(1 << 20)
        if not data:
            return got, True
        got += len(data)


def test_large_streamed_response_to_a_slow_reader_keeps_memory_flat(serve, tmp_path):
    """Issue 10: 100 MB of script output to a client that first reads at about 1 MB/s:
    the script is paused while the client is behind, so the server's RSS stays within a
    few MiB of idle; then the whole body arrives, chunked, complete."""
    root = tmp_path / "www"
    script(root, "big.py", BIG_OUT)
    srv = serve(root)
    idle = settle_rss(srv.proc.pid)
    size = 100 * MiB
    with PeakRSS(srv.proc.pid) as mem:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=60)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"GET /cgi-bin/big.py?%d HTTP/1.0\r\n\r\n" % size)
        got, closed = read_slowly_then_all(sock, 4 * MiB, 1 * MiB)
        sock.close()
    assert closed
    assert got > size  # the head, and every byte of the body (close-delimited)
    print(
        "100 MB to a slow reader: RSS idle %.1f MiB, peak %.1f MiB" % (idle / MiB, mem.peak / MiB)
    )
    assert mem.peak - idle < ROOM, (idle, mem.peak)


def test_large_generator_response_inprocess_keeps_memory_flat(serve, tmp_path):
    """Issue 10: the same through the in-process runner: the generator is not resumed
    while its client is behind."""
    root = tmp_path / "www"
    (root / "gen.py").parent.mkdir(parents=True, exist_ok=True)
    (root / "gen.py").write_text(GEN_OUT)
    srv = serve(root, "--runner", "inprocess", "--cgi", ".py=")
    idle = settle_rss(srv.proc.pid)
    size = 100 * MiB
    with PeakRSS(srv.proc.pid) as mem:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=60)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"GET /gen.py?%d HTTP/1.0\r\n\r\n" % size)
        got, closed = read_slowly_then_all(sock, 4 * MiB, 1 * MiB)
        sock.close()
    assert closed and got > size
    assert mem.peak - idle < ROOM, (idle, mem.peak)


def test_nph_flood_to_a_client_that_reads_nothing(serve, tmp_path):
    """Issue 10: an nph- script writing without end to a client that reads nothing:
    server RSS bounded; the client is dropped after the send timeout or when it leaves,
    and the script is stopped with it."""
    root = tmp_path / "www"
    script(root, "nph-flood.py", NPH_FLOOD)
    srv = serve(root)
    idle = settle_rss(srv.proc.pid)
    with PeakRSS(srv.proc.pid) as mem:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"GET /cgi-bin/nph-flood.py HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(3)  # unpaused, the script would have written gigabytes by now
        sock.close()
    assert mem.peak - idle < ROOM, (idle, mem.peak)
    assert srv.proc.poll() is None
    deadline = time.monotonic() + 10
    while children(srv.proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children(srv.proc.pid) == []


def children(pid):
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True
    ).stdout
    return [int(p) for p in out.split()]


def test_fifty_large_uploads_to_a_script_that_reads_nothing(serve, tmp_path):
    """Issue 9: 50 concurrent 15 MB POSTs to a script that reads none of it: the server
    stops reading each socket once body_buffer bytes wait for the script, so its RSS
    stays within a few MiB of idle (was: the bodies, 760 MB); every client gets its
    answer once the script ends (the rest of each body is then read and dropped)."""
    root = tmp_path / "www"
    script(root, "ignore.py", IGNORES_BODY)
    srv = serve(root, "--max-connections", "100")
    idle = settle_rss(srv.proc.pid)
    body = b"u" * (15 * MiB)
    results = []

    def upload():
        with socket.create_connection(("127.0.0.1", srv.port), timeout=60) as s:
            s.sendall(
                b"POST /cgi-bin/ignore.py?2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body)
            )
            try:
                s.sendall(body)
            except OSError:
                pass  # the server may answer and close first
            results.append(read_to_close(s))

    with PeakRSS(srv.proc.pid) as mem:
        threads = [threading.Thread(target=upload) for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert len(results) == 50
    assert all(r.startswith(b"HTTP/1.1 200") and r.endswith(b"ignored\n") for r in results)
    print("50 x 15 MB uploads: RSS idle %.1f MiB, peak %.1f MiB" % (idle / MiB, mem.peak / MiB))
    assert mem.peak - idle < 2 * ROOM, (idle, mem.peak)
    assert srv.proc.poll() is None


def test_chunked_uploads_are_spooled_not_held(serve, tmp_path):
    """Issue 9: a chunked body is complete before its script starts (CONTENT_LENGTH);
    past body_buffer it goes to an unlinked temporary file, not to memory: ten 12.5 MB
    chunked uploads at once leave RSS within a few MiB of idle, and each script reads
    its whole body."""
    root = tmp_path / "www"
    script(root, "size.py", BODY_SIZE)
    srv = serve(root)
    idle = settle_rss(srv.proc.pid)
    piece = b"c" * 65536
    pieces = 200  # 12.5 MiB (max_body is 16 MiB)
    results = []

    def upload():
        with socket.create_connection(("127.0.0.1", srv.port), timeout=60) as s:
            s.sendall(
                b"POST /cgi-bin/size.py HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            for _ in range(pieces):
                s.sendall(b"10000\r\n" + piece + b"\r\n")
            s.sendall(b"0\r\n\r\n")
            results.append(read_to_close(s))

    with PeakRSS(srv.proc.pid) as mem:
        threads = [threading.Thread(target=upload) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    want = b"\r\n\r\n%d\n" % (len(piece) * pieces)
    assert len(results) == 10 and all(r.endswith(want) for r in results), results[:1]
    assert mem.peak - idle < 2 * ROOM, (idle, mem.peak)


def test_echo_of_a_body_larger_than_every_buffer(serve, tmp_path):
    """A client that reads only after sending its whole body (http.client does), and a
    script that echoes as it reads: neither waits for the other (the body the script
    cannot take yet is spooled while its output waits for the client)."""
    root = tmp_path / "www"
    head = "printf 'Content-Type: application/octet-stream\\r\\n\\r\\n'\n"
    script(root, "cat.sh", "#!/bin/sh\n" + head + "exec cat\n")
    srv = serve(root)
    body = os.urandom(8 * MiB)
    with Client(srv.port, timeout=30) as client:
        resp = client.request("POST", "/cgi-bin/cat.sh", body=body)
        assert resp.status == 200 and resp.body == body


def test_half_closed_client_gets_its_response(serve, tmp_path):
    """Issue 10: a client that sends a complete request and then shuts down its sending
    side (nc -N) gets the whole response, then the close."""
    root = tmp_path / "www"
    script(root, "size.py", BODY_SIZE)
    srv = serve(root)
    for expect in (b"", b"Expect: 100-continue\r\n"):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            s.sendall(
                b"POST /cgi-bin/size.py HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                + expect
                + b"\r\nhello"
            )
            s.shutdown(socket.SHUT_WR)
            data = read_to_close(s)
        assert data.endswith(b"\r\n\r\n5\n"), data
        assert b"HTTP/1.1 200" in data


def test_pipelined_then_half_closed_all_answered(serve, tmp_path):
    """Issue 10: EOF after complete requests means no more requests: the ones already
    sent are all answered, in order, then the connection closes."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "a.txt").write_bytes(b"A")
    srv = serve(root)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
        s.shutdown(socket.SHUT_WR)
        data = read_to_close(s)
    assert data.count(b"HTTP/1.1 200 OK") == 3 and data.endswith(b"A"), data


def test_deep_pipeline_in_one_write(serve, tmp_path):
    """Issue 9: 5,000 pipelined requests in one write are all answered, in order (the
    server handled them recursively and died of RecursionError near 500)."""
    root = tmp_path / "www"
    root.mkdir()
    for i in range(10):
        (root / ("%d.txt" % i)).write_bytes(b"<%d>" % i)
    srv = serve(root)
    n = 5000
    raw = b"".join(b"GET /%d.txt HTTP/1.1\r\nHost: x\r\n\r\n" % (i % 10) for i in range(n))
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
        sender = threading.Thread(target=s.sendall, args=(raw,))
        sender.start()
        data = bytearray()
        want = n
        while data.count(b"HTTP/1.1 200 OK") < want or not data.endswith(b">"):
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        sender.join()
    bodies = [int(part[: part.index(b">")]) for part in bytes(data).split(b"\r\n\r\n<")[1:]]
    assert bodies == [i % 10 for i in range(n)]
    assert srv.proc.poll() is None


def test_output_cap_after_output_began_is_cut_short(serve, tmp_path):
    """Issue 10: max_output passed after the response began → cut short (no last chunk);
    curl reports the transfer as incomplete (exit 18)."""
    root = tmp_path / "www"
    script(root, "big.py", BIG_OUT)
    srv = serve(root, "--max-output", "300000", "--buffer-output", "1000")
    with Client(srv.port, timeout=10) as client:
        client.send(b"GET /cgi-bin/big.py?1000000 HTTP/1.1\r\nHost: x\r\n\r\n")
        with pytest.raises(CutShort) as cut:
            client.read_response()
    assert 1000 < len(cut.value.body) <= 300000
    assert "response cut short" in srv.stderr_text()
    curl = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", srv.url("/cgi-bin/big.py?1000000")],
        capture_output=True,
    )
    assert curl.returncode == 18, curl


def test_output_cap_before_anything_was_sent_is_500(serve, tmp_path):
    """SPEC 7.5: max_output passed while the output is still being collected → 500."""
    root = tmp_path / "www"
    script(root, "big.py", BIG_OUT)
    srv = serve(root, "--max-output", "5000")
    with Client(srv.port, timeout=10) as client:
        resp = client.request("GET", "/cgi-bin/big.py?10000")
        assert resp.status == 500


def test_output_past_buffer_output_is_streamed_complete(serve, tmp_path):
    """Issue 10: a response larger than buffer_output goes chunked on HTTP/1.1 with its
    last chunk (complete), close-delimited on HTTP/1.0; a small one keeps its
    Content-Length."""
    root = tmp_path / "www"
    script(root, "big.py", BIG_OUT)
    srv = serve(root, "--buffer-output", "10000")
    with Client(srv.port, timeout=10) as client:
        small = client.request("GET", "/cgi-bin/big.py?9000")
        assert small.get("Content-Length") == "9000" and len(small.body) == 9000
        big = client.request("GET", "/cgi-bin/big.py?300000")
        assert big.chunked and len(big.body) == 300000
        assert big.body[:512] == bytes(range(256)) * 2
    with Client(srv.port, timeout=10) as client:
        old = client.request("GET", "/cgi-bin/big.py?300000", version="HTTP/1.0")
        assert old.get("Content-Length") is None and len(old.body) == 300000
