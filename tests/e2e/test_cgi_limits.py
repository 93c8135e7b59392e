"""CGI limits end to end: timeouts, the output cap, pipes that fill up, leaks (SPEC §3, §5, §7).

Every test uses a small --script-timeout so the suite stays fast; the only time checks are
generous upper bounds that catch hangs.
"""

import os
import time
from concurrent.futures import ThreadPoolExecutor

from test_cgi import HELLO, Client, CutShort, fetch, log_lines, make_root

PATTERN = b"PAGE-DATA-0123.\n"


def wait_until(check, timeout=5.0):
    """Poll check() until it is true or TIMEOUT passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def process_gone(pid):
    """True when PID no longer exists, or is a zombie (dead, waiting for a reaper)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def children_of(pid):
    """(pid, state) of every process whose parent is PID; unreaped zombies count too."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append((int(entry), fields[0]))
    return found


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def settled_fd_count(pid):
    """PID's open fd count once it holds still for 0.2 s (closing a socket takes a loop turn)."""
    last = fd_count(pid)
    for _ in range(25):
        time.sleep(0.2)
        now = fd_count(pid)
        if now == last:
            break
        last = now
    return last


# --- SPEC §7.6: timeout ----------------------------------------------------------------------


def test_timeout_after_a_header_sends_the_output_so_far_cut_short(serve, tmp_path):
    """SPEC §7.6 (issue 10): timeout after a complete header block → what the script
    produced, visibly cut short: on HTTP/1.1 chunked with no last chunk, then the close;
    on HTTP/1.0 no Content-Length, then the close. Never a length equal to the bytes."""
    root = make_root(tmp_path, "sleepy.sh")
    server = serve(root, "--script-timeout", "1")
    started = time.monotonic()
    with Client(server.port, timeout=15) as client:
        client.send(b"GET /cgi-bin/sleepy.sh HTTP/1.1\r\nHost: t\r\n\r\n")
        try:
            resp = client.read_response()
        except CutShort as e:
            assert e.body == b"before sleep\n"
        else:
            raise AssertionError("a complete response: %r" % resp)
    with Client(server.port, timeout=15) as client:
        resp = client.request("GET", "/cgi-bin/sleepy.sh", version="HTTP/1.0")
        assert (resp.status, resp.body) == (200, b"before sleep\n"), resp
        assert resp.get("Content-Length") is None and not resp.chunked, resp
    assert time.monotonic() - started < 12  # the 30 s sleep was cut short
    assert "timed out; response cut short" in server.stderr_text()


def test_timeout_without_a_header_block_is_504(serve, tmp_path):
    """SPEC §7.6: timeout before a complete header block (none, or half of one) → 504."""
    root = make_root(tmp_path, "silent.sh", "halfhdr.sh", "hello.sh")
    server = serve(root, "--script-timeout", "1")
    for name in ("silent.sh", "halfhdr.sh"):
        resp = fetch(server.port, "GET", "/cgi-bin/" + name)
        assert resp.status == 504, (name, resp)
        assert b"too late" not in resp.body
        assert log_lines(server, name), server.stderr_text()
    assert fetch(server.port, "GET", "/cgi-bin/hello.sh").body == HELLO


def test_timeout_kills_the_scripts_children_too(serve, tmp_path):
    """SPEC §7.6: the script's whole process group is stopped, background children included
    (weborf's alarm killed only the direct child, §1.11)."""
    root = make_root(tmp_path, "forker.sh")
    server = serve(root, "--script-timeout", "1")
    # The script exits, but its background child holds stdout open: the response
    # never completes, so it is cut short at the timeout (HTTP/1.0: no length, close).
    resp = fetch(server.port, "GET", "/cgi-bin/forker.sh", version="HTTP/1.0")
    assert (resp.status, resp.body) == (200, b"forked\n"), resp
    assert resp.get("Content-Length") is None
    child = int((root / "cgi-bin" / "child.pid").read_text())
    try:
        assert wait_until(lambda: process_gone(child)), "background child %d survived" % child
    finally:
        if not process_gone(child):
            os.kill(child, 9)
    assert wait_until(lambda: children_of(server.proc.pid) == [], timeout=5)


# --- SPEC §7.5: output cap --------------------------------------------------------------------


def test_output_over_max_output_is_500_without_the_page(serve, tmp_path):
    """SPEC §7.5: header plus body over max_output → 500 and nothing of the page; logged."""
    root = make_root(tmp_path, "big.py", "hello.sh")
    server = serve(root, "--max-output", "100000")
    with Client(server.port, timeout=15) as client:
        resp = client.request("GET", "/cgi-bin/big.py?50000")
        assert (resp.status, len(resp.body)) == (200, 50000), resp
        assert resp.body.startswith(PATTERN)
        resp = client.request("GET", "/cgi-bin/big.py?200000")
        assert resp.status == 500, resp
        assert b"PAGE-DATA" not in resp.body
    assert log_lines(server, "big.py"), server.stderr_text()
    assert fetch(server.port, "GET", "/cgi-bin/hello.sh").body == HELLO


def test_a_huge_page_is_refused_quickly(serve, tmp_path):
    """SPEC §7.5: the script is stopped at the cap, not left to write 100 MB first."""
    root = make_root(tmp_path, "big.py")
    server = serve(root, "--max-output", "65536", "--script-timeout", "20")
    started = time.monotonic()
    resp = fetch(server.port, "GET", "/cgi-bin/big.py?100000000")
    assert resp.status == 500 and b"PAGE-DATA" not in resp.body, resp
    assert time.monotonic() - started < 15  # generous: only catches "ran to the end/timeout"
    assert wait_until(lambda: children_of(server.proc.pid) == [])


# --- SPEC §5: pipes never deadlock -------------------------------------------------------------


def test_stderr_flood_does_not_block_the_script(serve, tmp_path):
    """SPEC §5: 1 MiB on stderr completes; the lines go to the log, prefixed by the script,
    the first 64 KiB of them, and one line counts the rest (docs/cgi.md)."""
    root = make_root(tmp_path, "stderr_flood.py")
    server = serve(root, "--script-timeout", "20")
    resp = fetch(server.port, "GET", "/cgi-bin/stderr_flood.py")
    assert (resp.status, resp.body) == (200, b"flood done\n"), resp
    assert b"flood line" not in resp.body
    assert log_lines(server, "stderr_flood.py: \u2026 983040 bytes of stderr dropped")
    assert log_lines(server, "stderr_flood.py", "flood line 01023"), server.stderr_text()[-2000:]
    assert not log_lines(server, "flood line 01024", timeout=0)


def test_big_body_to_a_script_that_never_reads_it(serve, tmp_path):
    """SPEC §5: a 1 MB body to a script that ignores stdin deadlocks nothing."""
    root = make_root(tmp_path, "hello.sh")
    server = serve(root, "--script-timeout", "20")
    body = b"b" * 1_000_000
    with Client(server.port, timeout=15) as client:
        resp = client.request("POST", "/cgi-bin/hello.sh", body=body)
        assert (resp.status, resp.body) == (200, HELLO), resp
        assert client.request("GET", "/cgi-bin/hello.sh").body == HELLO


def test_big_body_echoed_back(serve, tmp_path):
    """SPEC §5: stdin and stdout both larger than a pipe buffer, interleaved: no deadlock."""
    root = make_root(tmp_path, "cat.sh")
    server = serve(root, "--script-timeout", "20", "--max-output", "4000000")
    body = bytes(range(256)) * 4096  # 1 MiB, every byte value
    with Client(server.port, timeout=15) as client:
        resp = client.request("POST", "/cgi-bin/cat.sh", body=body)
        assert resp.status == 200, resp
        assert resp.body == body


# --- SPEC §3: no leaks, concurrency -----------------------------------------------------------


def test_a_thousand_requests_leak_no_fd_and_no_process(serve, tmp_path):
    """SPEC §3: no socket, pipe or process leaks after 1,000 script runs."""
    root = make_root(tmp_path, "hello.sh")
    server = serve(root)
    pid = server.proc.pid
    assert fetch(server.port, "GET", "/cgi-bin/hello.sh").body == HELLO  # warm up
    assert wait_until(lambda: children_of(pid) == [])
    start_fds = settled_fd_count(pid)
    with Client(server.port, timeout=10) as client:
        for i in range(1000):
            resp = client.request("GET", "/cgi-bin/hello.sh")
            assert (resp.status, resp.body) == (200, HELLO), (i, resp)
    assert wait_until(lambda: fd_count(pid) <= start_fds), (start_fds, fd_count(pid))
    assert wait_until(lambda: children_of(pid) == []), children_of(pid)
    assert server.proc.poll() is None


def test_twenty_concurrent_script_requests(serve, tmp_path):
    """SPEC §3/§5: scripts overlap; each of 20 simultaneous clients gets its own answer."""
    root = make_root(tmp_path, "slow_echo.sh")
    server = serve(root, "--max-connections", "64")

    def one(i):
        return fetch(server.port, "GET", "/cgi-bin/slow_echo.sh?client-%d" % i)

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(one, range(20)))
    for i, resp in enumerate(responses):
        assert (resp.status, resp.body) == (200, b"echo:client-%d\n" % i), resp
    assert wait_until(lambda: children_of(server.proc.pid) == [])
