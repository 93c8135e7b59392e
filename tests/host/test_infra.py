"""The test infrastructure itself: tests/run_mpy.py and the e2e helpers (tests/helpers.py).

The helpers are checked against a stand-in `microcgi` package (a few lines of http.server)
so that they are known to work whatever state the real server is in.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ServerProcess, http, request

REPO = Path(__file__).resolve().parents[2]

CORE_A = """\
import pkg
import core_helper


def test_ok():
    assert pkg.X == 1 and core_helper.Y == 2


def test_fails():
    assert 1 == 2, "one is not two"


def not_a_test():
    raise Exception("never called")
"""


def _interpreters():
    found = [pytest.param(sys.executable, id="cpython")]
    micropython = Path(sys.executable).parent / "micropython"
    if not micropython.is_file():
        micropython = shutil.which("micropython")
    marks = [] if micropython else [pytest.mark.skip(reason="micropython not installed")]
    found.append(pytest.param(str(micropython), id="micropython", marks=marks))
    return found


@pytest.fixture
def fake_tree(tmp_path):
    """A checkout with run_mpy.py, one firmware package and a few tests/core modules."""
    (tmp_path / "tests" / "core").mkdir(parents=True)
    (tmp_path / "firmware" / "pkg").mkdir(parents=True)
    shutil.copy(REPO / "tests" / "run_mpy.py", tmp_path / "tests" / "run_mpy.py")
    (tmp_path / "firmware" / "pkg" / "__init__.py").write_text("X = 1\n")
    (tmp_path / "tests" / "core" / "core_helper.py").write_text("Y = 2\n")
    (tmp_path / "tests" / "core" / "test_a.py").write_text(CORE_A)
    (tmp_path / "tests" / "core" / "test_b.py").write_text("def test_b():\n    pass\n")
    return tmp_path


def _run_mpy(interpreter, tree, *args):
    return subprocess.run(
        [interpreter, "tests/run_mpy.py", *args],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("interpreter", _interpreters())
def test_run_mpy_reports_failures(interpreter, fake_tree):
    proc = _run_mpy(interpreter, fake_tree)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == "2 passed, 1 failed"
    assert "FAIL test_a.test_fails" in lines
    assert "one is not two" in proc.stdout


@pytest.mark.parametrize("interpreter", _interpreters())
def test_run_mpy_runs_named_modules_only(interpreter, fake_tree):
    proc = _run_mpy(interpreter, fake_tree, "test_b")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == ["1 passed, 0 failed"]
    proc = _run_mpy(interpreter, fake_tree, "tests/core/test_a.py")
    assert proc.stdout.splitlines()[-1] == "1 passed, 1 failed"


@pytest.mark.parametrize("interpreter", _interpreters())
def test_run_mpy_counts_a_broken_import_as_a_failure(interpreter, fake_tree):
    (fake_tree / "tests" / "core" / "test_c.py").write_text("import no_such_module\n")
    proc = _run_mpy(interpreter, fake_tree, "test_b", "test_c")
    assert proc.returncode == 1
    assert "ERROR test_c: import failed" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "1 passed, 1 failed"


# A stand-in for `python -m microcgi serve ROOT --host H --port P [--mode M]`.
FAKE_MAIN = """\
import http.server, sys

argv = sys.argv[1:]
root, host, port = argv[1], argv[argv.index("--host") + 1], int(argv[argv.index("--port") + 1])
if "--exit" in argv:
    print("fake: cannot serve", file=sys.stderr)
    sys.exit(2)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = ("path=%s x=%s" % (self.path, self.headers.get_all("X"))).encode()
        self.send_response(200)
        self.send_header("Set-Cookie", "a=1")
        self.send_header("Set-Cookie", "b=2")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        print("logged " + self.path, file=sys.stderr)

    do_POST = do_GET

    def log_message(self, *args):
        pass


httpd = http.server.HTTPServer((host, port), Handler)
if "--silent" not in argv:
    print("microcgi 0.1 listening on http://%s:%d/ (root %s)" % (host, httpd.server_port, root))
httpd.serve_forever()
"""


@pytest.fixture
def fake_cwd(tmp_path):
    """A folder whose `microcgi` package shadows the real one for `python -m microcgi`."""
    cwd = tmp_path / "cwd"
    (cwd / "microcgi").mkdir(parents=True)
    (cwd / "microcgi" / "__init__.py").write_text("")
    (cwd / "microcgi" / "__main__.py").write_text(FAKE_MAIN)
    return cwd


def test_server_process_learns_port_and_talks_http(fake_cwd, tmp_path):
    server = ServerProcess(tmp_path, [], tmp_path, cwd=fake_cwd).wait_listening()
    try:
        assert server.port > 0
        assert server.version == "0.1"
        assert server.url("/a?b") == "http://127.0.0.1:%d/a?b" % server.port
        status, headers, body = request(
            server.port, "GET", "/p?q", headers=[("X", "1"), ("X", "2")]
        )
        assert status == 200
        assert body == b"path=/p?q x=['1', '2']"
        assert headers["set-cookie"] == ["a=1", "b=2"]
        assert server.wait_for("logged /p?q")
        raw = http(server.port, b"GET /raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
        assert raw.endswith(b"path=/raw x=None")
        assert "listening" in server.stdout_text()
    finally:
        assert server.stop() is not None
    assert server.proc.poll() is not None


def test_http_raises_when_the_server_keeps_the_connection_open(fake_cwd, tmp_path):
    server = ServerProcess(tmp_path, [], tmp_path, cwd=fake_cwd).wait_listening()
    try:
        with pytest.raises(TimeoutError, match="did not close"):
            http(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=1)
    finally:
        server.stop()


def test_server_process_reports_an_early_exit(fake_cwd, tmp_path):
    server = ServerProcess(tmp_path, ["--exit"], tmp_path, cwd=fake_cwd)
    with pytest.raises(AssertionError, match=re.escape("fake: cannot serve")):
        server.wait_listening()


def test_server_process_gives_up_without_a_listening_line(fake_cwd, tmp_path):
    server = ServerProcess(tmp_path, ["--silent"], tmp_path, cwd=fake_cwd)
    with pytest.raises(AssertionError, match="no 'microcgi X.Y listening"):
        server.wait_listening(timeout=1)
    assert server.proc.poll() is not None  # stopped, not leaked
