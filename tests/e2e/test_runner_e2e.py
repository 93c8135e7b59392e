"""The subprocess runner through a real `python -m microcgi serve`: interpreters found on
PATH, the cap on scripts, stderr volume, descendants that escape the process group, a
script that closes its output and works on, and the descriptor budget.

Scripts that must stay busy wait for a file the test creates ("go"), so nothing depends
on how fast the machine is; the other waits are generous bounds.
"""

import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import HOST, ServerProcess
from test_cgi import Client, build_request, fetch, log_lines, make_root
from test_cgi_limits import children_of, wait_until

REPO = Path(__file__).resolve().parent.parent.parent

HEADER = "print('Content-Type: text/plain')\nprint()\n"


def site(tmp_path, **scripts):
    """ROOT with ROOT/NAME = TEXT for each NAME=TEXT (Python scripts, '.' for '_')."""
    root = make_root(tmp_path)
    for name, text in scripts.items():
        path = root / name.replace("_", ".", 1)
        path.write_text(text)
    return root


def waiter(go, before="", after=""):
    """A Python CGI script that writes a header, then waits until the file GO exists."""
    return (
        "import os, sys, time\n"
        + before
        + HEADER
        + "print('waited', flush=True)\n"
        + "while not os.path.exists(%r):\n    time.sleep(0.02)\n" % str(go)
        + after
    )


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "microcgi", *[str(a) for a in args]],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


# -- a bare interpreter name is looked up on PATH at start ------------------------------------


def test_bare_interpreter_name_is_found_on_path(serve, tmp_path):
    python3 = shutil.which("python3")
    if python3 is None:
        pytest.skip("no python3 on PATH")
    root = site(tmp_path, hello_py=HEADER + "import sys\nprint(sys.executable)\n")
    server = serve(root, "--cgi", ".py=python3")
    resp = fetch(server.port, "GET", "/hello.py")
    assert resp.status == 200, (resp, server.stderr_text())
    assert os.path.isabs(resp.body.decode().strip()), resp  # the interpreter found on PATH


@pytest.mark.parametrize(
    "interp, words",
    [
        ("no-such-interpreter-0x1f", ["no no-such-interpreter-0x1f on PATH"]),
        ("TMP/plain.txt", ["/plain.txt", "not an executable file"]),
        ("TMP", ["not an executable file"]),  # a folder
        ("/nonexistent/bin/php-cgi", ["/nonexistent/bin/php-cgi", "not an executable file"]),
    ],
)
def test_interpreter_that_cannot_run_is_a_start_up_error(tmp_path, interp, words):
    (tmp_path / "plain.txt").write_text("not a program\n")  # mode 644
    interp = interp.replace("TMP", str(tmp_path))
    result = run_cli("serve", tmp_path, "--port", "0", "--cgi", ".py=" + interp)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("microcgi: cgi .py="), lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    assert "listening" not in result.stdout


def test_interpreter_from_a_config_file_is_checked_too(tmp_path):
    config = tmp_path / "site.json"
    config.write_text('{"cgi": {".rb": "no-such-ruby-0x1f"}}')
    result = run_cli("serve", tmp_path, "--port", "0", "--config", config)
    assert result.returncode == 2, result
    assert (
        result.stderr.strip()
        == "microcgi: cgi .rb=no-such-ruby-0x1f: no no-such-ruby-0x1f on PATH"
    )


# -- max_scripts -------------------------------------------------------------------------------


def test_max_scripts_gives_503_while_full(serve, tmp_path):
    go = tmp_path / "go"
    root = site(tmp_path, slow_py=waiter(go), quick_py=HEADER + "print('quick')\n")
    server = serve(root, "--max-scripts", "1")
    with Client(server.port, timeout=30) as first:
        first.send(build_request(server.port, "GET", "/slow.py"))
        assert wait_until(lambda: children_of(server.proc.pid), timeout=10)
        resp = fetch(server.port, "GET", "/quick.py")
        assert resp.status == 503, resp
        go.touch()
        slow = first.read_response()
        assert (slow.status, slow.body) == (200, b"waited\n"), slow
    # (once the first script has been reaped: at once, or within a tick)
    assert wait_until(lambda: fetch(server.port, "GET", "/quick.py").body == b"quick\n")
    assert log_lines(server, "too many scripts running")


# -- stderr volume -----------------------------------------------------------------------------


def test_100_mb_of_stderr_leaves_a_small_log(serve, tmp_path):
    line = "x" * 99 + "\n"
    root = site(
        tmp_path,
        noisy_py="import sys\n"
        "block = %r * 1000\n"
        "for _ in range(1000):\n"
        "    sys.stderr.write(block)\n"
        "sys.stderr.flush()\n" % line + HEADER + "print('done')\n",
    )
    server = serve(root)
    resp = fetch(server.port, "GET", "/noisy.py")
    assert (resp.status, resp.body) == (200, b"done\n"), resp
    found = log_lines(server, "noisy.py:", "bytes of stderr dropped", timeout=20)
    assert found, server.stderr_text()[-2000:]
    dropped = int(found[0].split("\u2026 ")[1].split()[0])
    assert dropped == 100 * 1000 * 1000 - (64 * 1024 // 100) * 100
    # 64 KiB of stderr logged, as 655 lines with their prefixes: far from 100 MB
    assert server.stderr_path.stat().st_size < 256 * 1024


def test_carriage_returns_split_progress_lines(serve, tmp_path):
    root = site(
        tmp_path,
        progress_py="import sys\n"
        "sys.stderr.write('Receiving: 10%\\rReceiving: 60%\\rReceiving: 100%, done.\\n')\n"
        + HEADER
        + "print('ok')\n",
    )
    server = serve(root)
    assert fetch(server.port, "GET", "/progress.py").status == 200
    assert log_lines(server, "progress.py: Receiving: 100%, done.")
    text = server.stderr_text()
    for part in ("Receiving: 10%", "Receiving: 60%"):
        assert [ln for ln in text.splitlines() if ln.endswith("progress.py: " + part)], text


# -- descendants that left the process group ---------------------------------------------------


ESCAPE = """\
import os, signal, sys, time
if os.fork() == 0:
    os.setsid()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for fd in (0, 1, 2):
        os.close(fd)
    with open("escaped.pid", "w") as f:
        f.write(str(os.getpid()))
    time.sleep(1000)
    os._exit(0)
while not os.path.exists("escaped.pid"):
    time.sleep(0.01)
time.sleep(1000)
"""


def test_timeout_kills_a_descendant_that_called_setsid(serve, tmp_path):
    root = site(tmp_path, escape_py=ESCAPE)
    server = serve(root, "--script-timeout", "1")
    resp = fetch(server.port, "GET", "/escape.py")
    assert resp.status == 504, resp
    escaped = int((root / "escaped.pid").read_text())
    try:
        # dead and reaped by the server (its subreaper): no /proc entry, not even a zombie
        assert wait_until(lambda: not os.path.exists("/proc/%d" % escaped), timeout=10), (
            "pid %d escaped the timeout" % escaped
        )
        assert wait_until(lambda: children_of(server.proc.pid) == [], timeout=10)
    finally:
        if os.path.exists("/proc/%d" % escaped):
            os.kill(escaped, 9)


# -- a script that closes its output and works on ------------------------------------------


def test_response_ends_when_the_script_closes_stdout(serve, tmp_path):
    go = tmp_path / "go"
    root = site(
        tmp_path,
        closer_py="import os, sys, time\n"
        + HEADER
        + "print('page', flush=True)\n"
        + "os.close(1)\n"
        + "while not os.path.exists(%r):\n    time.sleep(0.02)\n" % str(go)
        + "sys.stderr.write('finished later\\n')\n",
    )
    server = serve(root)
    # The script cannot end before "go" exists: the response comes from its closed stdout.
    with Client(server.port, timeout=20) as client:
        resp = client.request("GET", "/closer.py")
        assert (resp.status, resp.body) == (200, b"page\n"), resp
        assert children_of(server.proc.pid), "the script should still be running"
        resp = client.request("GET", "/closer.py")  # keep-alive goes on meanwhile
        assert resp.status == 200, resp
    go.touch()
    assert log_lines(server, "closer.py: finished later")
    assert wait_until(lambda: children_of(server.proc.pid) == [], timeout=10)


# -- descriptors -------------------------------------------------------------------------------


class LimitedServer(ServerProcess):
    """A server started with RLIMIT_NOFILE (soft and hard) set to nofile."""

    def __init__(self, root, args, workdir, nofile):
        self.nofile = nofile
        real_popen = subprocess.Popen

        def popen(*a, **kw):
            kw["preexec_fn"] = self._limit
            return real_popen(*a, **kw)

        subprocess.Popen = popen
        try:
            super().__init__(root, args, workdir, name="limited")
        finally:
            subprocess.Popen = real_popen

    def _limit(self):
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))


def open_requests(port, path, count):
    """count connections, each with one request sent (HTTP/1.0: closed after it)."""
    socks = []
    for _ in range(count):
        sock = socket.create_connection((HOST, port), timeout=30)
        sock.sendall(b"GET %s HTTP/1.0\r\n\r\n" % path.encode())
        socks.append(sock)
    return socks


def read_all(sock):
    chunks = []
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    return b"".join(chunks)


def status_of(raw):
    return int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.") else None


def test_low_descriptor_limit_lowers_the_settings_at_start(tmp_path):
    go = tmp_path / "go"
    root = site(tmp_path, slow_py=waiter(go))
    server = LimitedServer(root, [], tmp_path, nofile=64)
    try:
        server.wait_listening()
        assert log_lines(
            server,
            "descriptors: RLIMIT_NOFILE is 64, so max_connections 256 -> 8, max_scripts 256 -> 8",
        ), server.stderr_text()
        socks = open_requests(server.port, "/slow.py", 30)
        assert wait_until(lambda: len(children_of(server.proc.pid)) >= 8, timeout=20)
        go.touch()
        statuses = [status_of(read_all(s)) for s in socks]
        assert set(statuses) <= {200, 503}, statuses
        assert statuses.count(200) >= 8, statuses
        text = server.stderr_text()
        assert "accept failed" not in text and "Too many open files" not in text, text
        # (the answered connections close a moment later: until then a newcomer may be
        # one too many)
        assert wait_until(lambda: fetch(server.port, "GET", "/slow.py").status == 200)
        resp = fetch(server.port, "GET", "/slow.py")
        assert (resp.status, resp.body) == (200, b"waited\n"), resp
    finally:
        server.stop()


def test_out_of_descriptors_the_listener_waits_instead_of_spinning(serve, tmp_path):
    go = tmp_path / "go"
    root = site(tmp_path, slow_py=waiter(go))
    server = serve(root)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.prlimit(server.proc.pid, resource.RLIMIT_NOFILE, (40, hard))  # after the budget
    socks = open_requests(server.port, "/slow.py", 50)
    assert log_lines(server, "accept failed", timeout=20), server.stderr_text()
    time.sleep(1)  # a spinning listener would log thousands of lines meanwhile
    go.touch()
    statuses = [status_of(read_all(s)) for s in socks]
    # Each one answered: 200, or 503 when a script's pipes could not be made.
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 5, statuses
    assert len(log_lines(server, "accept failed")) <= 3, server.stderr_text()[-3000:]
    assert server.stderr_path.stat().st_size < 64 * 1024
    assert wait_until(lambda: fetch(server.port, "GET", "/slow.py").status == 200)
