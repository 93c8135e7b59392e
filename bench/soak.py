"""Soak: 100,000 mixed requests against one microcgi server, and what it holds before and
after (issue 9: "never down, never unbounded").

    make bench          .venv/bin/python bench/soak.py           100,000 requests, updates the docs
    make bench-quick    .venv/bin/python bench/soak.py --quick   10,000 requests

Two servers run side by side on 127.0.0.1: `microcgi serve` with the subprocess runner
(static files, shell and Python CGI, errors, aborts, pipelining, slow readers,
keep-alive), and a second one with `--runner inprocess` for the in-process scripts
(SPEC 8); the in-process share of the requests goes to the second. Several client
processes send the mix; the main process samples each server's open descriptors
(/proc/PID/fd), child processes and zombies (/proc/*/stat), and RSS (VmRSS of
/proc/PID/status) every 0.2 s.

"before" is taken after a warm-up (1% of the requests, at least 500, the same mix) once
the server is quiet; "after" once the load has ended and the server has had up to 10 s
to finish and reap what it started. The verdict is "no growth" when descriptors,
children and zombies are back to their before values and RSS is within --rss-slack
(2 MiB) of before, and every answer was the one expected; otherwise it says what grew.

Prints a markdown table on stdout (progress on stderr), writes bench/results/soak.json,
and with --write-docs (the default of a full run) replaces the soak block of
docs/performance.md. Exit status 1 when the verdict is not "no growth".
"""

import argparse
import datetime
import json
import multiprocessing
import os
import platform
import queue
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "soak.json"
DOCS = REPO / "docs" / "performance.md"
DOCS_BEGIN = "<!-- soak:begin -->"
DOCS_END = "<!-- soak:end -->"
HOST = "127.0.0.1"
LISTENING_RE = re.compile(r"microcgi (\S+) listening on http://([^\s/]+):(\d+)/")
MiB = 1024 * 1024

SMALL = bytes((i * 7 + 13) % 95 + 32 for i in range(1023)) + b"\n"  # 1 KiB
LARGE = bytes(range(256)) * 4096  # 1 MiB
PAGE = b"<!doctype html><title>soak</title><p>soak</p>\n"
HELLO_SH = (
    "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nhello %s\\n' \"$QUERY_STRING\"\n"
)
ECHO_SH = "#!/bin/sh\nprintf 'Content-Type: application/octet-stream\\r\\n\\r\\n'\nexec cat\n"
NOHEAD_SH = "#!/bin/sh\necho no header here\n"  # 500: no header block
SLOW_SH = "#!/bin/sh\nsleep 0.3\nprintf 'Content-Type: text/plain\\r\\n\\r\\nlate\\n'\n"
STUCK_SH = "#!/bin/sh\nexec sleep 60\n"  # 504 after --script-timeout
HELLO_PY = (
    "import os, sys\n"
    'sys.stdout.buffer.write(b"Content-Type: text/plain\\r\\n\\r\\npy "'
    ' + os.environ["QUERY_STRING"].encode() + b"\\n")\n'
)
APP_HELLO = (
    "def main(environ, stdin, stdout):\n"
    '    q = environ["QUERY_STRING"].encode()\n'
    '    stdout.write(b"Content-Type: text/plain\\r\\n\\r\\nin " + q + b"\\n")\n'
)
APP_ECHO = (
    "def main(environ, stdin, stdout):\n"
    '    n = int(environ.get("CONTENT_LENGTH") or 0)\n'
    '    stdout.write(b"Content-Type: application/octet-stream\\r\\n\\r\\n")\n'
    "    stdout.write(stdin.read(n))\n"
)
APP_BOOM = "def main(environ, stdin, stdout):\n    raise ValueError('soak: boom')\n"
APP_GEN = (
    "def main(environ, stdin, stdout):\n"
    '    yield b"Content-Type: text/plain\\r\\n\\r\\n"\n'
    "    for i in range(20):\n"
    '        yield b"%d\\n" % i\n'
)
GEN_BODY = b"".join(b"%d\n" % i for i in range(20))
SCRIPT_TIMEOUT = 3  # seconds: the stuck script's 504


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# -- the site and the servers ----------------------------------------------------------------


def make_site(base):
    root = Path(base) / "www"
    for folder in ("cgi-bin", "app", "dir"):
        (root / folder).mkdir(parents=True)
    (root / "small.txt").write_bytes(SMALL)
    (root / "large.bin").write_bytes(LARGE)
    (root / "index.html").write_bytes(PAGE)
    for i in range(20):
        (root / "dir" / ("f%02d.txt" % i)).write_bytes(b"%d\n" % i)
    scripts = {
        "hello.sh": HELLO_SH,
        "echo.sh": ECHO_SH,
        "nohead.sh": NOHEAD_SH,
        "slow.sh": SLOW_SH,
        "stuck.sh": STUCK_SH,
        "hello.py": HELLO_PY,
    }
    for name, text in scripts.items():
        (root / "cgi-bin" / name).write_text(text)
        (root / "cgi-bin" / name).chmod(0o755)
    for name, text in (("hello.py", APP_HELLO), ("echo.py", APP_ECHO), ("boom.py", APP_BOOM)):
        (root / "app" / name).write_text(text)
    (root / "app" / "gen.py").write_text(APP_GEN)
    return root


class Server:
    """A `python -m microcgi serve` process in its own process group; logs go to files."""

    def __init__(self, name, root, args, workdir):
        self.name = name
        self.argv = [sys.executable, "-m", "microcgi", "serve", str(root)]
        self.argv += ["--host", HOST, "--port", "0", *args]
        self.out_path = Path(workdir) / (name + ".out")
        self.err_path = Path(workdir) / (name + ".err")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=env,
                start_new_session=True,
            )
        self.pid = self.proc.pid
        deadline = time.monotonic() + 15
        while True:
            m = LISTENING_RE.search(self.out_path.read_text(errors="replace"))
            if m:
                self.port = int(m.group(3))
                self.version = m.group(1)
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    "%s did not start: %s" % (name, self.err_path.read_text(errors="replace"))
                )
            time.sleep(0.02)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
                self.proc.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()

    def log_lines(self):
        return self.err_path.read_text(errors="replace").splitlines()


# -- what a server holds ---------------------------------------------------------------------


def children(pid):
    """[(pid, state)] of the processes whose parent is pid (zombies included)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append((int(entry), fields[0].decode()))
    return found


def snapshot(pid):
    """{fds, children, zombies, rss_kib} of a server process now."""
    kids = children(pid)
    rss = 0
    with open("/proc/%d/status" % pid, "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                rss = int(line.split()[1])
    return {
        "fds": len(os.listdir("/proc/%d/fd" % pid)),
        "children": sum(1 for _, state in kids if state != "Z"),
        "zombies": sum(1 for _, state in kids if state == "Z"),
        "rss_kib": rss,
    }


def settle(pid, want_fds=None, seconds=10.0):
    """Wait (at most `seconds`) until the server has no children and, when given, no more
    than want_fds descriptors, and its descriptor count holds still for 0.3 s; returns
    the snapshot then."""
    deadline = time.monotonic() + seconds
    last = None
    steady_since = time.monotonic()
    while True:
        snap = snapshot(pid)
        if last is None or snap["fds"] != last["fds"]:
            steady_since = time.monotonic()
        last = snap
        quiet = not snap["children"] and not snap["zombies"]
        low = want_fds is None or snap["fds"] <= want_fds
        if quiet and low and time.monotonic() - steady_since >= 0.3:
            return snap
        if time.monotonic() > deadline:
            return snap
        time.sleep(0.05)


# -- a small HTTP/1.1 client on a raw socket -------------------------------------------------


class BadAnswer(Exception):
    pass


class Conn:
    """One connection: send bytes, read responses by their framing."""

    def __init__(self, port, timeout=30.0, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((HOST, port))
        self.buf = bytearray()

    def send(self, data):
        self.sock.sendall(data)

    def _more(self, size=65536):
        data = self.sock.recv(size)
        if not data:
            raise BadAnswer("connection closed mid-response")
        self.buf += data

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[: i + 2]
                return line
            self._more()

    def _exact(self, n):
        while len(self.buf) < n:
            self._more(max(65536, n - len(self.buf)))
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def response(self, head_only=False):
        """(status, headers dict lower-case -> value, body, closes); 100 Continue skipped."""
        while True:
            line = self._line()
            m = re.fullmatch(rb"HTTP/1\.1 (\d\d\d) [^\r\n]*", line)
            if not m:
                raise BadAnswer("bad status line %r" % line[:80])
            status = int(m.group(1))
            headers = {}
            while True:
                line = self._line()
                if not line:
                    break
                name, _, value = line.partition(b":")
                headers[name.strip().lower().decode()] = value.strip()
            if status != 100:
                break
        closes = headers.get("connection", b"").lower() == b"close"
        if head_only or status in (204, 304):
            body = b""
        elif headers.get("transfer-encoding", b"").lower() == b"chunked":
            parts = []
            while True:
                size = int(self._line().split(b";")[0], 16)
                parts.append(self._exact(size))
                if self._exact(2) != b"\r\n":
                    raise BadAnswer("chunk without CRLF")
                if not size:
                    while self._line():  # trailers
                        pass
                    break
            body = b"".join(parts)
        elif "content-length" in headers:
            body = self._exact(int(headers["content-length"]))
        else:
            if not closes:
                raise BadAnswer("no framing on a kept-alive connection")
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                self.buf += data
            body = bytes(self.buf)
            self.buf.clear()
        return status, headers, body, closes

    def reset(self):
        """Close with a TCP reset (SO_LINGER 0), the rudest way to leave."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.sock.close()

    def close(self):
        self.sock.close()


# -- the requests: (raw bytes, HEAD?, expected status, expected body or None) ---------------


def get(path, extra=b""):
    return b"GET " + path + b" HTTP/1.1\r\nHost: soak\r\n" + extra + b"\r\n"


def post(path, body, chunked=False, expect=False):
    head = b"POST " + path + b" HTTP/1.1\r\nHost: soak\r\n"
    if expect:
        head += b"Expect: 100-continue\r\n"
    if chunked:
        coded = b"".join(
            b"%x\r\n%s\r\n" % (len(body[i : i + 97]), body[i : i + 97])
            for i in range(0, len(body), 97)
        )
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + coded + b"0\r\n\r\n"
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


def keepalive_request(rng, cgi=True):
    """One request a kept-alive connection may carry, with the answer it must get."""
    kinds = ["small", "index", "404", "head", "304", "range", "dir"]
    weights = [40, 8, 10, 6, 5, 5, 3]
    if cgi:
        kinds += ["sh", "post", "chunked", "py"]
        weights += [12, 5, 3, 1]
    kind = rng.choices(kinds, weights)[0]
    q = b"%d" % rng.randrange(100000)
    if kind == "small":
        return get(b"/small.txt"), False, 200, SMALL
    if kind == "index":
        return get(b"/"), False, 200, PAGE
    if kind == "404":
        return get(b"/missing/" + q), False, 404, None
    if kind == "head":
        return b"HEAD /large.bin HTTP/1.1\r\nHost: soak\r\n\r\n", True, 200, b""
    if kind == "304":
        return get(b"/small.txt", b"If-None-Match: *\r\n"), False, 304, b""
    if kind == "range":
        a = rng.randrange(len(LARGE) - 1000)
        return (
            get(b"/large.bin", b"Range: bytes=%d-%d\r\n" % (a, a + 999)),
            False,
            206,
            LARGE[a : a + 1000],
        )
    if kind == "dir":
        return get(b"/dir/"), False, 200, None
    if kind == "sh":
        return get(b"/cgi-bin/hello.sh?" + q), False, 200, b"hello " + q + b"\n"
    if kind == "py":
        return get(b"/cgi-bin/hello.py?" + q), False, 200, b"py " + q + b"\n"
    body = rng.randbytes(rng.randrange(1, 3000))
    return post(b"/cgi-bin/echo.sh", body, chunked=kind == "chunked"), False, 200, body


def inprocess_request(rng):
    kind = rng.choices(["hello", "echo", "gen", "boom", "small"], [60, 15, 10, 5, 10])[0]
    q = b"%d" % rng.randrange(100000)
    if kind == "hello":
        return get(b"/app/hello.py?" + q), False, 200, b"in " + q + b"\n"
    if kind == "echo":
        body = rng.randbytes(rng.randrange(1, 2000))
        return post(b"/app/echo.py", body, expect=rng.random() < 0.2), False, 200, body
    if kind == "gen":
        return get(b"/app/gen.py"), False, 200, GEN_BODY
    if kind == "boom":
        return get(b"/app/boom.py"), False, 500, None
    return get(b"/small.txt"), False, 200, SMALL


# Requests the server must refuse, on a fresh connection each (it closes after most).
BAD_REQUESTS = [
    (b"GET /small.txt HTTP/1.1\r\n\r\n", 400),  # no Host
    (b"GET /small.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: soak\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: soak\r\nX-Big: " + b"v" * 9000 + b"\r\n\r\n", 431),
    (b"BREW /pot HTTP/1.1\r\nHost: soak\r\n\r\n", 501),
    (b"GET / HTTP/2.0\r\nHost: soak\r\n\r\n", 505),
    (b"GET /%2e%2e/etc/passwd HTTP/1.1\r\nHost: soak\r\n\r\n", 403),
    (b"GET / HTTP/1.1\r\nHost: soak\r\nBad Header: x\r\n\r\n", 400),
    (
        b"POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: soak\r\nContent-Length: 1\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n",
        400,
    ),
    (
        b"POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: soak\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\n",
        400,
    ),
    (b"GET /cgi-bin/nohead.sh HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n", 500),
    (b"GET /cgi-bin/absent.sh HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n", 404),
]


# -- the operations: each returns how many requests it made ----------------------------------


class Tally:
    """Requests per kind of operation, and wrong answers per server."""

    def __init__(self):
        self.counts = {}
        self.errors = {"subprocess": 0, "inprocess": 0}
        self.first_errors = []
        self.op = ""  # the operation running now
        self.server = "subprocess"  # the server it talks to

    def add(self, op, n=1):
        self.counts[op] = self.counts.get(op, 0) + n

    def error(self, msg):
        self.errors[self.server] += 1
        if len(self.first_errors) < 5:
            self.first_errors.append("%s: %s" % (self.op, msg))


def check(tally, got, want_status, want_body):
    status, _, body, _ = got
    if status != want_status or (want_body is not None and body != want_body):
        tally.error("status %d (want %d), body %r" % (status, want_status, body[:60]))


def op_keepalive(port, rng, tally, inprocess=False):
    """1-20 requests one after the other on one connection."""
    n = rng.randint(1, 20)
    conn = Conn(port)
    try:
        for _ in range(n):
            raw, head, want, body = inprocess_request(rng) if inprocess else keepalive_request(rng)
            conn.send(raw)
            check(tally, conn.response(head), want, body)
    finally:
        conn.close()
    return n


def op_pipeline(port, rng, tally, inprocess=False):
    """10-100 requests in one write, then their answers, in order."""
    n = rng.randint(10, 100)
    reqs = [
        inprocess_request(rng) if inprocess else keepalive_request(rng, cgi=rng.random() < 0.3)
        for _ in range(n)
    ]
    conn = Conn(port)
    try:
        conn.send(b"".join(r[0] for r in reqs))
        for _, head, want, body in reqs:
            check(tally, conn.response(head), want, body)
    finally:
        conn.close()
    return n


def op_error(port, rng, tally):
    raw, want = rng.choice(BAD_REQUESTS)
    conn = Conn(port)
    try:
        conn.send(raw)
        check(tally, conn.response(), want, None)
    finally:
        conn.close()
    return 1


def op_abort(port, rng, tally):
    """A client that leaves rudely: mid-download, while its script runs, mid-request, or
    mid-body."""
    how = rng.choice(["download", "script", "head", "body"])
    conn = Conn(port)
    try:
        if how == "download":
            conn.send(get(b"/large.bin"))
            conn.sock.recv(rng.choice([1, 1000, 60000]))
        elif how == "script":
            conn.send(get(b"/cgi-bin/slow.sh"))
            time.sleep(rng.choice([0, 0.01, 0.05]))
        elif how == "head":
            conn.send(get(b"/small.txt")[: rng.randrange(1, 20)])
        else:
            conn.send(
                b"POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: soak\r\n"
                b"Content-Length: 100000\r\n\r\n" + b"x" * rng.randrange(0, 5000)
            )
    finally:
        conn.reset()
    return 1


def op_slow_reader(port, rng, tally):
    """The 1 MiB file through a small receive buffer, read a few KiB at a time."""
    conn = Conn(port, rcvbuf=8192)
    try:
        conn.send(get(b"/large.bin"))
        got = bytearray()
        head_end = -1
        while head_end < 0 or len(got) - head_end - 4 < len(LARGE):
            data = conn.sock.recv(4096)
            if not data:
                break
            got += data
            if head_end < 0:
                head_end = got.find(b"\r\n\r\n")
            time.sleep(0.0005)
        if not got.startswith(b"HTTP/1.1 200 ") or bytes(got[head_end + 4 :]) != LARGE:
            tally.error("%d bytes, %r" % (len(got), bytes(got[:40])))
    finally:
        conn.close()
    return 1


def op_stuck_script(port, rng, tally):
    conn = Conn(port)
    try:
        conn.send(get(b"/cgi-bin/stuck.sh"))
        check(tally, conn.response(), 504, None)
    finally:
        conn.close()
    return 1


# name: (function, weight, goes to the in-process server). An operation makes 1 request,
# or 10.5 (keep-alive) or 55 (pipeline) on average: the weights give about 45% of the
# requests on kept-alive connections, 15% pipelined, 5% refused, 3% aborted, 20% + 7%
# in-process, and a slow reader every 500 operations.
OPS = {
    "keep-alive": (op_keepalive, 430, False),
    "pipeline": (op_pipeline, 27, False),
    "error": (op_error, 500, False),
    "abort": (op_abort, 300, False),
    "slow reader": (op_slow_reader, 3, False),
    "in-process keep-alive": (lambda p, r, t: op_keepalive(p, r, t, True), 190, True),
    "in-process pipeline": (lambda p, r, t: op_pipeline(p, r, t, True), 13, True),
}


def client(index, ports, quota, seed, stuck, progress, results):
    """One client process: operations until `quota` requests are made; puts a dict on the
    results queue."""
    rng = random.Random(seed * 7919 + index)
    tally = Tally()
    names = list(OPS)
    weights = [OPS[name][1] for name in names]
    done = 0
    tally.op = "script timeout"
    for _ in range(stuck):  # scripts that never answer: 504 after SCRIPT_TIMEOUT s each
        try:
            done += op_stuck_script(ports[0], rng, tally)
        except (OSError, BadAnswer, ValueError) as e:
            tally.error("%s: %s" % (type(e).__name__, e))
            done += 1
        tally.add("script timeout")
    while done < quota:
        name = rng.choices(names, weights)[0]
        fn, _, inprocess = OPS[name]
        tally.op = name
        tally.server = "inprocess" if inprocess else "subprocess"
        try:
            n = fn(ports[1] if inprocess else ports[0], rng, tally)
        except (OSError, BadAnswer, ValueError) as e:
            tally.error("%s: %s" % (type(e).__name__, e))
            n = 1
        tally.add(name, n)
        done += n
        with progress.get_lock():
            progress.value += n
    results.put({"counts": tally.counts, "errors": tally.errors, "first": tally.first_errors})


def run_load(servers, total, clients, seed, stuck, sample):
    """`clients` processes share `total` requests; sample(tenth) runs every 0.2 s meanwhile,
    with tenth true once after each tenth of the requests.

    Returns (requests per kind of operation, wrong answers per server, the first ones).
    """
    ctx = multiprocessing.get_context("fork")
    progress = ctx.Value("q", 0)
    results = ctx.Queue()
    ports = (servers[0].port, servers[1].port)
    procs = []
    for i in range(clients):
        quota = total // clients + (1 if i < total % clients else 0)
        args = (i, ports, quota, seed, stuck if i == 0 else 0, progress, results)
        procs.append(ctx.Process(target=client, args=args, daemon=True))
    for proc in procs:
        proc.start()
    got = []
    next_report = total / 10
    while len(got) < clients:
        try:
            got.append(results.get(timeout=0.2))
        except queue.Empty:
            if not any(proc.is_alive() for proc in procs) and results.empty():
                raise RuntimeError("a client process died") from None
        tenth = progress.value >= next_report
        sample(tenth)
        if tenth:
            log("  %d / %d requests" % (progress.value, total))
            next_report += total / 10
    for proc in procs:
        proc.join()
    if progress.value >= next_report:  # the last tenth ended with the last client
        sample(True)
    counts, errors, first = {}, {"subprocess": 0, "inprocess": 0}, []
    for r in got:
        for k, v in r["counts"].items():
            counts[k] = counts.get(k, 0) + v
        for k, v in r["errors"].items():
            errors[k] += v
        first += r["first"]
    return counts, errors, first[:5]


# -- the run ---------------------------------------------------------------------------------


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="bench/soak.py", description=__doc__.split("\n\n")[0].replace("\n", " ")
    )
    parser.add_argument("--quick", action="store_true", help="10,000 requests")
    parser.add_argument("--requests", type=int, help="requests in all (100,000; quick 10,000)")
    parser.add_argument("--clients", type=int, default=4, help="client processes (4)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the request mix (1)")
    parser.add_argument(
        "--rss-slack",
        type=float,
        default=2.0,
        metavar="MIB",
        help="RSS growth still called no growth (2 MiB)",
    )
    parser.add_argument(
        "--write-docs",
        action=argparse.BooleanOptionalAction,
        help="update docs/performance.md (default: yes for a full run, no with --quick)",
    )
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.requests is None:
        args.requests = 10_000 if args.quick else 100_000
    if args.write_docs is None:
        args.write_docs = not args.quick
    if args.requests < 1000 or not 1 <= args.clients <= 64:
        parser.error("--requests must be at least 1000, --clients 1-64")
    return args


def git_commit():
    r = subprocess.run(
        ["git", "-C", str(REPO), "log", "-1", "--format=%h %cs"], capture_output=True, text=True
    )
    text = r.stdout.strip() or "unknown"
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", "firmware", "host"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return text + (" plus uncommitted changes" if dirty else "")


def verdict(before, after, errors, internal, alive, slack_kib):
    """ "no growth", or what grew (and what else went wrong)."""
    grew = []
    for key in ("fds", "children", "zombies"):
        if after[key] > before[key]:
            grew.append("%s %d -> %d" % (key, before[key], after[key]))
    if after["rss_kib"] - before["rss_kib"] > slack_kib:
        grew.append("RSS %.1f -> %.1f MiB" % (before["rss_kib"] / 1024, after["rss_kib"] / 1024))
    if not alive:
        grew.append("server died")
    if errors:
        grew.append("%d wrong answers" % errors)
    if internal:
        grew.append("%d internal errors logged" % internal)
    return "no growth" if not grew else "GREW: " + ", ".join(grew)


def main(argv=None):
    args = parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="microcgi-soak-")
    root = make_site(workdir)
    common = ["--script-timeout", str(SCRIPT_TIMEOUT), "--keepalive-timeout", "5"]
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "machine": "%s, %d CPUs, Python %s"
        % (platform.machine(), os.cpu_count() or 0, platform.python_version()),
        "requests": args.requests,
        "clients": args.clients,
        "seed": args.seed,
        "load_before": round(os.getloadavg()[0], 2),
        "servers": {},
    }
    servers = []
    try:
        servers.append(Server("subprocess", root, common, workdir))
        servers.append(Server("inprocess", root, [*common, "--runner", "inprocess"], workdir))
        warm = max(500, args.requests // 100)
        log("warm-up: %d requests" % warm)
        run_load(servers, warm, args.clients, args.seed + 1, 0, lambda tenth: None)
        before = {s.name: settle(s.pid) for s in servers}
        peak = {s.name: dict(before[s.name]) for s in servers}
        curve = {s.name: [] for s in servers}  # RSS KiB after each tenth of the run

        def sample(tenth):
            for s in servers:
                if not s.alive():
                    continue
                try:
                    snap = snapshot(s.pid)
                except OSError:
                    continue
                for key, value in snap.items():
                    peak[s.name][key] = max(peak[s.name][key], value)
                if tenth:
                    curve[s.name].append(snap["rss_kib"])

        stuck = max(2, args.requests // 10_000)
        log("soak: %d requests from %d clients" % (args.requests, args.clients))
        started = time.monotonic()
        counts, errors, first = run_load(
            servers, args.requests, args.clients, args.seed, stuck, sample
        )
        seconds = time.monotonic() - started
        log("load done in %.0f s; letting the servers settle" % seconds)
        slack = int(args.rss_slack * 1024)
        for s in servers:
            alive = s.alive()
            after = settle(s.pid, before[s.name]["fds"]) if alive else None
            if alive:  # a plain GET still answered
                conn = Conn(s.port)
                try:
                    conn.send(get(b"/small.txt"))
                    if conn.response()[2] != SMALL:
                        alive = False
                finally:
                    conn.close()
                after = settle(s.pid, before[s.name]["fds"])
            lines = s.log_lines()
            result["servers"][s.name] = {
                "version": s.version,
                "argv": " ".join(s.argv[1:]).replace(str(root), "ROOT"),
                "before": before[s.name],
                "after": after,
                "peak": peak[s.name],
                "rss_curve_kib": curve[s.name],
                "alive": alive,
                "log_lines": len(lines),
                # the loop's one line for an exception while serving (a bug of the server)
                "internal_errors": sum(1 for line in lines if "internal error serving" in line),
            }
        result.update(
            seconds=round(seconds, 1),
            counts=counts,
            errors=errors,
            first_errors=first,
            load_after=round(os.getloadavg()[0], 2),
        )
        for name, info in result["servers"].items():
            info["verdict"] = verdict(
                info["before"],
                info["after"] or info["before"],
                errors[name],
                info["internal_errors"],
                info["alive"],
                slack,
            )
        result["rss_slack_mib"] = args.rss_slack
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    log("wrote %s" % args.json)
    text = report(result)
    print(text)
    if args.write_docs:
        write_docs(text)
        log("updated %s" % DOCS)
    ok = all(info["verdict"] == "no growth" for info in result["servers"].values())
    return 0 if ok else 1


def report(result):
    rows = [
        "Last run: %s, commit %s; %s; %d requests from %d client processes in %.0f s"
        " (load average %.1f before, %.1f after)."
        % (
            result["date"],
            result["commit"],
            result["machine"],
            result["requests"],
            result["clients"],
            result["seconds"],
            result["load_before"],
            result["load_after"],
        ),
        "",
        "| server | | open fds | children | zombies | RSS MiB |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for name, info in result["servers"].items():
        for when in ("before", "peak", "after"):
            snap = info[when]
            if snap is None:
                rows.append("| %s | %s | — | — | — | — |" % (name, when))
                continue
            rows.append(
                "| %s | %s | %d | %d | %d | %.1f |"
                % (
                    name,
                    when,
                    snap["fds"],
                    snap["children"],
                    snap["zombies"],
                    snap["rss_kib"] / 1024,
                )
            )
    rows.append("")
    for name, info in result["servers"].items():
        rows.append(
            "RSS of %s under load after each tenth of the requests (MiB): %s."
            % (name, " ".join("%.1f" % (k / 1024) for k in info["rss_curve_kib"]))
        )
    rows.append("")
    mix = ", ".join("%s %d" % (k, v) for k, v in sorted(result["counts"].items()))
    rows.append("Requests by kind: %s." % mix)
    rows.append("")
    for name, info in result["servers"].items():
        rows.append(
            "- **%s**: %s (%d error-log lines, %d of them internal errors; RSS slack %.0f MiB)."
            % (
                name,
                info["verdict"],
                info["log_lines"],
                info["internal_errors"],
                result["rss_slack_mib"],
            )
        )
    if result["first_errors"]:
        rows.append("- first wrong answers: %s" % "; ".join(result["first_errors"]))
    return "\n".join(rows)


def write_docs(text):
    docs = DOCS.read_text()
    start = docs.find(DOCS_BEGIN)
    end = docs.find(DOCS_END)
    if start < 0 or end < start:
        raise SystemExit("bench/soak.py: no %s ... %s block in %s" % (DOCS_BEGIN, DOCS_END, DOCS))
    DOCS.write_text(docs[: start + len(DOCS_BEGIN)] + "\n" + text + "\n" + docs[end:])


if __name__ == "__main__":
    sys.exit(main())
