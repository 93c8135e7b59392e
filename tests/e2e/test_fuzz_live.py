"""A live server under a few thousand mutated requests (issue 9, SPEC section 3).

Seeded random mutations of valid requests (byte flips, truncations, duplicated headers,
huge values, bad chunk sizes, stray CR/LF/NUL, deep pipelines, half-closes, resets) go to
one real `microcgi serve` process, from a few client threads. Every answer must parse as
valid HTTP/1.1: a status line, well-formed header lines with `Server`, body framing that
agrees with Content-Length / chunked / close, nothing after a response that says
`Connection: close`, no bytes after the last response. At the end the server still
answers a plain GET, and has released every descriptor and child process.

The seed is fixed, so a run is reproducible; FUZZ_SEED=N picks another. A failure lists
the case numbers, what was sent and what came back.
"""

import os
import random
import re
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import request

SEED = int(os.environ.get("FUZZ_SEED", "20261204"))
CASES = 3000  # connections with mutated requests (deep pipelines count as one case)
PIPELINES = 12  # of which deep pipelines, 50 to 5,000 requests in one write
WORKERS = 6  # client threads
BUDGET = 90.0  # seconds: no new case starts after this (a loaded machine runs fewer)
READ_TIMEOUT = 30.0  # a connection that neither answers nor closes for this long fails
SETTLE = 10.0  # seconds the server gets to release what the clients held

# A known server bug (test_answers_before_an_error_survive_a_half_close below): after an
# error answer the server shuts down its sending side to linger, but a client that has
# half-closed already then makes poll() report POLLHUP, and the server closes at once with
# the client's input unread: the kernel resets the connection and drops the answers still
# in the server's send buffer. Until it is fixed, a pipeline that was reset may come up
# short of answers in the fuzz test; set True with the fix (the xfail test then passes
# and must lose its mark).
LINGER_AFTER_HALF_CLOSE_FIXED = True

HELLO = b"hello, fuzz\n"
BIG = bytes(range(256)) * 80  # 20 KiB
HI_SH = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nhi %s\\n' \"$QUERY_STRING\"\n"
ECHO_SH = (
    "#!/bin/sh\nprintf 'Content-Type: application/octet-stream\\r\\nX-Len: %s\\r\\n\\r\\n'"
    ' "$CONTENT_LENGTH"\nexec cat\n'
)


def make_site(root):
    (root / "cgi-bin").mkdir(parents=True)
    (root / "sub").mkdir()
    (root / "x").write_bytes(HELLO)
    (root / "big.bin").write_bytes(BIG)
    (root / "sub" / "page.html").write_bytes(b"<p>page</p>\n")
    for name, text in (("hi.sh", HI_SH), ("echo.sh", ECHO_SH)):
        (root / "cgi-bin" / name).write_text(text)
        (root / "cgi-bin" / name).chmod(0o755)
    return root


def start(serve, tmp_path):
    root = make_site(tmp_path / "www")
    return serve(
        root,
        "--header-timeout",
        "1",
        "--keepalive-timeout",
        "1",
        "--script-timeout",
        "20",
        "--max-body",
        "65536",
    )


# -- valid requests, then their mutations ----------------------------------------------------


def chunked(body, rng):
    out = b""
    while body:
        n = rng.randint(1, len(body))
        out += b"%x\r\n" % n + body[:n] + b"\r\n"
        body = body[n:]
    return out + b"0\r\n\r\n"


def valid_request(rng, cgi=True, keep=False):
    """One valid request (never HEAD: a mutated stream is parsed without knowing methods).

    cgi: scripts may be among them; keep: only requests that keep the connection open.
    """
    kind = rng.choice(
        ["static", "static", "404", "big", "range", "dir", "cond"]
        + ([] if keep else ["http10"])
        + (["cgi", "post", "chunked"] if cgi else [])
    )
    extra = b""
    for _ in range(rng.randint(0, 3)):
        extra += rng.choice(
            [b"Accept: */*\r\n", b"User-Agent: fuzz/1\r\n", b"X-A: b\r\n", b"Cookie: a=b\r\n"]
        )
    host = b"Host: fuzz\r\n"
    if kind == "static":
        return b"GET /x HTTP/1.1\r\n" + host + extra + b"\r\n"
    if kind == "404":
        return b"GET /missing/%d HTTP/1.1\r\n" % rng.randint(0, 99) + host + extra + b"\r\n"
    if kind == "big":
        return b"GET /big.bin HTTP/1.1\r\n" + host + extra + b"\r\n"
    if kind == "range":
        a = rng.randint(0, len(BIG) + 10)
        return b"GET /big.bin HTTP/1.1\r\n" + host + b"Range: bytes=%d-%d\r\n\r\n" % (a, a + 99)
    if kind == "dir":
        return b"GET /sub HTTP/1.1\r\n" + host + extra + b"\r\n"
    if kind == "cond":
        return b"GET /x HTTP/1.1\r\n" + host + b'If-None-Match: "nope", *\r\n\r\n'
    if kind == "http10":
        return b"GET /sub/page.html HTTP/1.0\r\n" + extra + b"\r\n"
    if kind == "cgi":
        return b"GET /cgi-bin/hi.sh?q=%d HTTP/1.1\r\n" % rng.randint(0, 999) + host + b"\r\n"
    body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
    if kind == "post":
        return (
            b"POST /cgi-bin/echo.sh HTTP/1.1\r\n"
            + host
            + b"Content-Length: %d\r\n\r\n" % len(body)
            + body
        )
    return (
        b"POST /cgi-bin/echo.sh HTTP/1.1\r\n"
        + host
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + chunked(body, rng)
    )


def flip(raw, rng):
    raw = bytearray(raw)
    for _ in range(rng.randint(1, 5)):
        raw[rng.randrange(len(raw))] = rng.randrange(256)
    return bytes(raw)


def truncate(raw, rng):
    return raw[: rng.randrange(len(raw))]


def duplicate_header(raw, rng):
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if len(lines) < 2:
        return raw
    i = rng.randrange(1, len(lines))
    lines.insert(i, rng.choice([lines[i], b"Content-Length: 3", b"Transfer-Encoding: chunked"]))
    return b"\r\n".join(lines) + sep + body


def huge_value(raw, rng):
    size = rng.choice([4000, 9000, 70000, 300000])
    where = rng.choice(["header", "target", "name", "many"])
    if where == "target":
        return raw.replace(b" HTTP/1.", b"/" + b"a" * size + b" HTTP/1.", 1)
    if where == "name":
        line = b"X-" + b"n" * size + b": v\r\n"
    elif where == "many":
        line = b"".join(b"X-%d: v\r\n" % i for i in range(rng.choice([65, 300, 3000])))
    else:
        line = b"X-Huge: " + b"v" * size + b"\r\n"
    return raw.replace(b"\r\n", b"\r\n" + line, 1)


def bad_chunk(raw, rng):
    size = rng.choice(
        [b"zz", b"-1", b"0x10", b" 5", b"fffffffffffffffffffff", b"", b"5;" + b"e" * 2000, b"+5"]
    )
    body = b"abcde" * rng.randint(0, 3)
    head = b"POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: fuzz\r\nTransfer-Encoding: chunked\r\n\r\n"
    return head + size + b"\r\n" + body + b"\r\n0\r\n\r\n"


def stray_bytes(raw, rng):
    raw = bytearray(raw)
    for _ in range(rng.randint(1, 3)):
        raw.insert(rng.randrange(len(raw) + 1), rng.choice(b"\r\n\x00\t \x7f\xff:"))
    return bytes(raw)


def bare_lf(raw, rng):
    return raw.replace(b"\r\n", b"\n", rng.randint(1, 4))


def bad_length(raw, rng):
    value = rng.choice([b"-1", b"1e3", b"99999999999999999999", b"5, 6", b" ", b"0x10", b"70000"])
    return (
        b"POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: fuzz\r\nContent-Length: " + value + b"\r\n\r\n"
    )


MUTATIONS = [
    flip,
    flip,
    truncate,
    duplicate_header,
    huge_value,
    bad_chunk,
    stray_bytes,
    bare_lf,
    bad_length,
]


def mutated(rng, cgi=True):
    raw = valid_request(rng, cgi)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        raw = rng.choice(MUTATIONS)(raw, rng) or raw[:1]
    return raw


def make_case(i, rng):
    """(description, bytes to send, how to end, answers due).

    The end is "half-close", "wait" (for the server's timeouts), "reset" or "slow" (a few
    bytes at a time). Answers due: how many answers must come at least: a pipeline of
    keep-alive requests is answered up to its mutated request, in one write, whatever
    its depth.
    """
    if i % (CASES // PIPELINES) == 0:
        n = rng.choice([50, 200, 1000, 5000]) if i else 5000
        reqs = [valid_request(rng, cgi=rng.random() < 0.02, keep=True) for _ in range(n)]
        due = n
        if rng.random() < 0.5:  # one bad request in the second half of the pipeline
            due = rng.randrange(n // 2, n)
            reqs[due] = mutated(rng, cgi=False)
        return "pipeline of %d" % n, b"".join(reqs), "half-close", due
    pieces = [
        mutated(rng) if rng.random() < 0.8 else valid_request(rng)
        for _ in range(rng.choice([1, 1, 1, 2, 5]))
    ]
    ending = rng.choices(["half-close", "wait", "reset", "slow"], [88, 2, 5, 5])[0]
    return "%d request(s)" % len(pieces), b"".join(pieces), ending, 0


# -- the client side ---------------------------------------------------------------------------


def exchange(port, data, ending):
    """Send data, end as told, read until the server closes.

    Returns (bytes received, whether the connection was reset), or (None, True) when this
    side resets it (ending "reset": nothing is read then).
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT)
    try:
        if ending == "reset":
            try:
                sock.sendall(data)
            except OSError:
                pass
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return None, True

        def send():
            try:
                rest = data
                if ending == "slow":  # the first bytes a few at a time, then the rest
                    for k in range(0, min(len(data), 280), 7):
                        sock.sendall(data[k : k + 7])
                        time.sleep(0.002)
                    rest = data[280:]
                sock.sendall(rest)
                if ending != "wait":  # "wait": the server's timeouts end the connection
                    sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the server answered (413, 431, ...) and closed before taking it all

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        got = bytearray()
        reset = False
        try:
            while True:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            # the server closed with request bytes unread (after an error answer): the
            # kernel resets, and the end of the answer may be lost; what came is checked
            reset = True
        sender.join(READ_TIMEOUT)
        return bytes(got), reset
    finally:
        sock.close()


class Invalid(AssertionError):
    pass


STATUS_LINE = re.compile(rb"HTTP/1\.1 ([1-5][0-9][0-9]) ([\t\x20-\x7e]*)\r\n")
TCHAR = set(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# Statuses after which the server must close: the request could not be read to its end
# (SPEC 3). A 400 may keep the connection when the request was framed well (a bad
# %-escape in the path), so it is not among them.
CLOSING = {408, 413, 414, 431, 505}


def parse_responses(data, methods=None, reset=False):
    """Split a server's byte stream into responses, checking HTTP/1.1 as it goes.

    methods: the request methods in order when known (a HEAD answer has no body); else
    every response is read as the answer to a GET. reset: the stream may stop anywhere
    (the server's close reset the connection and lost what was in flight).
    Returns a list of (status, {lower-case name: [values]}, body); raises Invalid.
    """
    out = []
    pos = 0
    n = len(data)
    while pos < n:
        m = STATUS_LINE.match(data, pos)
        if not m:
            if reset and data.find(b"\r\n", pos) < 0:
                break
            raise Invalid("bad status line at %d: %r" % (pos, data[pos : pos + 80]))
        status = int(m.group(1))
        end = data.find(b"\r\n\r\n", m.end() - 2)
        if end < 0:
            if reset:
                break
            raise Invalid("head not complete: %r" % data[pos : pos + 200])
        headers = {}
        for line in data[m.end() : end].split(b"\r\n") if end > m.end() - 2 else ():
            if not line:
                continue
            name, colon, value = line.partition(b":")
            if not colon or not name or not set(name) <= TCHAR:
                raise Invalid("bad header line %r" % line)
            value = value.strip(b" \t")
            if any((c < 0x20 and c != 9) or c == 0x7F for c in value):
                raise Invalid("control byte in header %r" % line)
            headers.setdefault(name.lower().decode(), []).append(value)
        pos = end + 4
        if status < 200:
            if headers or status != 100:
                raise Invalid("interim response %d with headers %r" % (status, headers))
            continue  # 100 Continue, then the real answer
        if "server" not in headers:
            raise Invalid("no Server header: %r" % data[m.start() : end])
        lengths = headers.get("content-length", [])
        te = headers.get("transfer-encoding", [])
        if len(lengths) > 1 or (lengths and te) or (te and te != [b"chunked"]):
            raise Invalid("framing headers %r %r" % (lengths, te))
        method = methods[len(out)] if methods and len(out) < len(methods) else "GET"
        close = b"close" in b",".join(headers.get("connection", [])).lower()
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif te:
            body = bytearray()
            while True:
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    if reset:
                        return out
                    raise Invalid("chunked body cut short: %r" % data[pos : pos + 40])
                size = data[pos:eol]
                if not size or not re.fullmatch(rb"[0-9a-fA-F]+", size):
                    raise Invalid("bad chunk size %r" % size)
                size = int(size, 16)
                if data[eol + 2 + size : eol + 4 + size] != b"\r\n":
                    if reset and eol + 4 + size > n:
                        return out
                    raise Invalid("chunk not followed by CRLF")
                body += data[eol + 2 : eol + 2 + size]
                pos = eol + 4 + size
                if not size:
                    break
            body = bytes(body)
        elif lengths:
            if not lengths[0].isdigit():
                raise Invalid("bad Content-Length %r" % lengths[0])
            length = int(lengths[0])
            if pos + length > n:
                if reset:
                    return out
                raise Invalid("body shorter than Content-Length %d" % length)
            body = data[pos : pos + length]
            pos += length
        else:
            if not close:
                raise Invalid("no framing and no Connection: close (status %d)" % status)
            body = data[pos:]
            pos = n
        out.append((status, headers, body))
        if (close or status in CLOSING) and pos < n:
            raise Invalid("%d bytes after a closing %d response" % (n - pos, status))
        if status in CLOSING and not close:
            raise Invalid("%d without Connection: close" % status)
    return out


# -- server state ----------------------------------------------------------------------------


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry, "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat[stat.rfind(b")") + 2 :].split()[1]) == pid:
                found.append(int(entry))
    return found


def settle(pid, fds):
    """Wait (SETTLE s at most) for the descriptor count to fall to fds and the children
    to go; returns (fd count, children) as they are then."""
    deadline = time.monotonic() + SETTLE
    while (fd_count(pid) > fds or children(pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return fd_count(pid), children(pid)


def assert_serving(srv):
    assert srv.proc.poll() is None, "server died:\n" + srv.stderr_text()[-3000:]
    status, _, body = request(srv.port, "GET", "/x", timeout=10)
    assert (status, body) == (200, HELLO)


def baseline(srv):
    assert_serving(srv)
    status, _, body = request(srv.port, "GET", "/cgi-bin/hi.sh?warm", timeout=10)
    assert (status, body) == (200, b"hi warm\n")
    settle(srv.proc.pid, 0)
    return min(fd_count(srv.proc.pid) for _ in range(10))


# -- the tests -------------------------------------------------------------------------------


def run_case(port, i):
    rng = random.Random(SEED * 100003 + i)
    what, data, ending, due = make_case(i, rng)
    got = None
    try:
        got, reset = exchange(port, data, ending)
        if got is not None:
            answers = parse_responses(got, reset=reset)
            short_by_known_bug = reset and not LINGER_AFTER_HALF_CLOSE_FIXED
            if len(answers) < due and not short_by_known_bug:
                raise Invalid("%d answers, %d due (reset: %s)" % (len(answers), due, reset))
    except Invalid as e:
        return "case %d (%s, %s, seed %d): %s\n  sent %r...\n  got %r..." % (
            i,
            what,
            ending,
            SEED,
            e,
            data[:300],
            (got or b"")[:300],
        )
    except OSError as e:
        return "case %d (%s, %s): %s: %s" % (i, what, ending, type(e).__name__, e)
    return None


def test_mutated_requests_get_valid_answers_and_the_server_lives(serve, tmp_path):
    srv = start(serve, tmp_path)
    fds = baseline(srv)
    stop_at = time.monotonic() + BUDGET
    failures = []
    done = 0

    def one(i):
        if time.monotonic() > stop_at:
            return "skipped"
        return run_case(srv.port, i)

    with ThreadPoolExecutor(WORKERS) as pool:
        for result in pool.map(one, range(CASES)):
            if result == "skipped":
                continue
            done += 1
            if result:
                failures.append(result)
    print("fuzz: %d of %d cases run (seed %d)" % (done, CASES, SEED))
    assert not failures, "%d of %d cases failed:\n%s" % (
        len(failures),
        done,
        "\n".join(failures[:8]),
    )
    assert_serving(srv)
    left_fds, left_children = settle(srv.proc.pid, fds)
    assert (left_fds, left_children) == (fds, []), srv.stderr_text()[-2000:]
    log = srv.stderr_text()
    # an exception while serving is logged as one "internal error" line (SPEC 3): a bug
    assert "internal error" not in log and "Traceback" not in log, log[-3000:]


def mixed_pipeline(n, rng):
    """n valid requests (HEAD included) and, for each, what its answer must be."""
    raw, methods, want = [], [], []
    for i in range(n):
        kind = rng.choices(["get", "head", "404", "cgi", "post"], [50, 15, 25, 5, 5])[0]
        if kind == "get":
            raw.append(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
            methods.append("GET")
            want.append((200, HELLO))
        elif kind == "head":
            raw.append(b"HEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            methods.append("HEAD")
            want.append((200, b""))
        elif kind == "404":
            raw.append(b"GET /nothing/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
            methods.append("GET")
            want.append((404, None))
        elif kind == "cgi":
            raw.append(b"GET /cgi-bin/hi.sh?%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
            methods.append("GET")
            want.append((200, b"hi %d\n" % i))
        else:
            body = b"body %d" % i
            raw.append(
                b"POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                % len(body)
                + body
            )
            methods.append("POST")
            want.append((200, body))
    return b"".join(raw), methods, want


def test_deep_mixed_pipeline_answered_in_order(serve, tmp_path):
    """5,000 pipelined requests in one write, static, HEAD, 404, scripts and bodies mixed:
    5,000 valid answers, each the right one, in order (issue 9)."""
    srv = start(serve, tmp_path)
    rng = random.Random(SEED)
    for n in (5000, 700):
        data, methods, want = mixed_pipeline(n, rng)
        got, reset = exchange(srv.port, data, "half-close")
        assert not reset
        answers = parse_responses(got, methods)
        assert len(answers) == n, "%d answers to %d requests" % (len(answers), n)
        for i, ((status, headers, body), (want_status, want_body)) in enumerate(
            zip(answers, want, strict=True)
        ):
            assert status == want_status, (i, status, body[:100])
            if want_body is not None:
                assert body == want_body, (i, body[:100])
            if methods[i] == "HEAD":
                assert headers["content-length"] == [b"%d" % len(BIG)]
    assert_serving(srv)


def test_5000_identical_pipelined_gets_in_one_write(serve, tmp_path):
    """Issue 9's reproducer: 5,000 × `GET /x` in one write → 5,000 answers, in order."""
    srv = start(serve, tmp_path)
    data = b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n" * 5000
    got, reset = exchange(srv.port, data, "half-close")
    assert not reset
    answers = parse_responses(got)
    assert [(s, b) for s, _, b in answers] == [(200, HELLO)] * 5000
    assert_serving(srv)


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /missing HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;" + b"e" * 2000,
        b"GET /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["static", "404", "http10"],
)
def test_one_answer_when_the_body_breaks_after_the_answer(serve, tmp_path, raw):
    """One request, one answer: a request the server answers without waiting for its
    chunked body (a static file, a 404) must not get a second answer when the body then
    turns out malformed. A client would take that 400 as the answer to its next
    request; after a response that said Connection: close, nothing may follow at all.
    (Found by the fuzz test above: main at 9e99922 sent 200, then 400.)"""
    srv = start(serve, tmp_path)
    got, reset = exchange(srv.port, raw, "half-close")
    answers = parse_responses(got, reset=reset)
    assert len(answers) == 1, [status for status, _, _ in answers]
    assert_serving(srv)


@pytest.mark.xfail(
    not LINGER_AFTER_HALF_CLOSE_FIXED,
    strict=True,
    reason="server bug: lingering after an error, the server takes POLLHUP (the client had "
    "half-closed) for a gone client and closes with input unread: the reset drops answers",
)
def test_answers_before_an_error_survive_a_half_close(serve, tmp_path):
    """Two large files, a malformed request, more requests after it, then the client shuts
    down its sending side and reads only a moment later: both files and the 400 arrive
    whole, then the close. (RFC 9112 9.6: a server that closes with input unread resets
    the connection, and the client loses what was still on its way; the server must
    drain the input first. Found by the fuzz test's deep pipelines.)"""
    srv = start(serve, tmp_path)
    large = bytes(range(256)) * 16384  # 4 MiB: more than the socket buffers hold
    (Path(srv.root) / "large.bin").write_bytes(large)
    data = b"GET /large.bin HTTP/1.1\r\nHost: a\r\n\r\n" * 2 + b"BAD\r\n\r\n"
    data += b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n" * 4000
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=READ_TIMEOUT)

    def send():
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    time.sleep(0.5)  # the server answers and closes meanwhile; nothing is read yet
    got = bytearray()
    reset = False
    try:
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            got += chunk
    except ConnectionResetError:
        reset = True
    sender.join(READ_TIMEOUT)
    sock.close()
    answers = parse_responses(bytes(got), reset=reset)
    assert [(status, len(body)) for status, _, body in answers][:2] == [(200, len(large))] * 2
    assert [status for status, _, _ in answers] == [200, 200, 400], "reset: %s" % reset
    assert not reset
    assert_serving(srv)
