"""End-to-end command line (SPEC section 2): flags, errors, the start line, the logs.

(Named test_cli_e2e.py, not test_cli.py: pytest imports test modules by their base name,
and a host-level tests/host/test_cli.py would clash with it.)
"""

import datetime
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, request

import microcgi

RUN_TIMEOUT = 10  # a CLI error must exit at once; this only turns a hang into a failure

START_LINE = re.compile(
    r"microcgi (?P<version>\d+\.\d+) listening on "
    r"http://(?P<host>127\.0\.0\.1):(?P<port>\d+)/ \(root (?P<root>[^)\n]+)\)\n"
)

# Common Log Format: host ident authuser [date] "request line" status bytes
CLF = re.compile(
    r'(?P<host>\S+) (?P<ident>\S+) (?P<user>\S+) \[(?P<date>[^\]]+)\] "(?P<request>[^"]*)" '
    r"(?P<status>\d{3}) (?P<bytes>\d+|-)"
)


def run_cli(*args, cwd=None):
    """Run `python -m microcgi ARGS` to completion; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "microcgi", *[str(a) for a in args]],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        check=False,
    )


class Started:
    """A server started by hand (the `serve` fixture always passes ROOT and python -m)."""

    def __init__(self, argv, workdir, cwd=None):
        self.out_path = Path(workdir) / "started.stdout"
        self.err_path = Path(workdir) / "started.stderr"
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd, env=env
            )
        deadline = time.monotonic() + RUN_TIMEOUT
        while "\n" not in self.stdout() and self.proc.poll() is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        self.first_line = self.stdout().partition("\n")[0] + "\n"
        m = START_LINE.fullmatch(self.first_line)
        self.match = m
        self.port = int(m.group("port")) if m else None

    def stdout(self):
        return self.out_path.read_text(errors="replace")

    def stderr(self):
        return self.err_path.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def start_by_hand(tmp_path):
    started = []

    def start(argv, cwd=None):
        server = Started(argv, tmp_path, cwd=cwd)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "www"
    (root / "cgi-bin").mkdir(parents=True)
    (root / "hello.txt").write_bytes(b"hello, world\n")
    script = root / "cgi-bin" / "stderr.py"
    shutil.copy(REPO / "tests" / "cgi_bin" / "stderr.py", script)
    script.chmod(0o755)
    return root


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# --- help and errors ------------------------------------------------------------------


def test_help_exits_0():
    """SPEC 2: --help works, for the command and for `serve`, and lists the flags."""
    top = run_cli("--help")
    assert top.returncode == 0, top.stderr
    assert "serve" in top.stdout
    serve = run_cli("serve", "--help")
    assert serve.returncode == 0, serve.stderr
    for flag in (
        "--host",
        "--port",
        "--cgi",
        "--script-timeout",
        "--max-output",
        "--max-body",
        "--runner",
        "--index",
        "--no-listing",
        "--access-log",
        "--board",
        "--config",
        "--header-timeout",
        "--keepalive-timeout",
        "--max-connections",
    ):
        assert flag in serve.stdout, flag


def test_every_limit_has_a_flag():
    """SPEC 2: every limit (config key max_*, *_timeout, ...) has a flag of the same name."""
    from microcgi import config

    limits = [
        key
        for key, _, _ in config.SETTINGS
        if key.startswith("max_") or key.endswith("_timeout") or key == "buffer_size"
    ]
    assert len(limits) >= 8, limits
    serve = run_cli("serve", "--help")
    for key in limits:
        assert "--" + key.replace("_", "-") in serve.stdout, key


BAD_ARGS = {
    "unknown-flag": (["--bogus-flag"], ["--bogus-flag"]),
    "negative-script-timeout": (["--script-timeout", "-1"], ["script-timeout", "script_timeout"]),
    "negative-keepalive-timeout": (
        ["--keepalive-timeout", "-5"],
        ["keepalive-timeout", "keepalive_timeout"],
    ),
    "zero-header-timeout": (["--header-timeout", "0"], ["header-timeout", "header_timeout"]),
    "text-header-timeout": (["--header-timeout", "soon"], ["header-timeout", "header_timeout"]),
    "negative-max-body": (["--max-body", "-1"], ["max-body", "max_body"]),
    "zero-max-connections": (["--max-connections", "0"], ["max-connections", "max_connections"]),
    "port-out-of-range": (["--port", "70000"], ["port"]),
    "port-not-a-number": (["--port", "http"], ["port"]),
    "cgi-without-equals": (["--cgi", ".py"], ["cgi"]),
    "unknown-runner": (["--runner", "threads"], ["runner"]),
    "flag-without-value": (["--script-timeout"], ["script-timeout", "script_timeout"]),
    "missing-config-file": (["--config", "/nonexistent/microcgi.json"], ["microcgi.json"]),
}


@pytest.mark.parametrize("args, names", BAD_ARGS.values(), ids=BAD_ARGS.keys())
def test_bad_flags_exit_2_with_one_line(site, args, names):
    """SPEC 2: a bad flag or value → one line on stderr naming the problem, exit 2."""
    # The bad flag goes after ROOT and a valid --port 0: nothing else could be wrong.
    result = run_cli("serve", site, "--host", "127.0.0.1", "--port", "0", *args)
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, "stderr should be one line:\n" + result.stderr
    assert any(name in lines[0].lower() for name in names), lines[0]
    assert "listening" not in result.stdout


def test_missing_root_exits_2(tmp_path):
    """SPEC 2: an unusable ROOT (missing) → one line naming it, exit 2."""
    missing = tmp_path / "no-such-root"
    result = run_cli("serve", missing, "--port", "0")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "no-such-root" in lines[0]
    assert "listening" not in result.stdout


def test_root_that_is_a_file_exits_2(tmp_path):
    """SPEC 2: an unusable ROOT (a file) → one line naming it, exit 2."""
    afile = tmp_path / "plain-file.txt"
    afile.write_text("not a folder")
    result = run_cli("serve", afile, "--port", "0")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "plain-file.txt" in lines[0]


def test_unknown_subcommand_exits_2():
    """SPEC 2: a bad command is a bad flag too: one line, exit 2."""
    result = run_cli("frobnicate")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "frobnicate" in lines[0]


# --- starting -------------------------------------------------------------------------


def test_start_line_format(start_by_hand, site, tmp_path):
    """SPEC 2: the first line is `microcgi X.Y listening on http://HOST:PORT/ (root ...)`."""
    argv = [sys.executable, "-m", "microcgi", "serve", "www", "--host", "127.0.0.1", "--port", "0"]
    server = start_by_hand(argv, cwd=tmp_path)  # a relative ROOT
    assert server.match, "start line: %r\nstderr: %s" % (server.first_line, server.stderr())
    assert server.match.group("version") == microcgi.__version__
    assert server.port != 0
    assert Path(server.match.group("root")).resolve() == site.resolve()
    assert Path(server.match.group("root")).is_absolute(), server.first_line
    status, _, body = request(server.port, "GET", "/hello.txt")
    assert (status, body) == (200, b"hello, world\n")


def test_root_defaults_to_the_current_folder(start_by_hand, site):
    """SPEC 2: ROOT defaults to the current folder."""
    argv = [sys.executable, "-m", "microcgi", "serve", "--host", "127.0.0.1", "--port", "0"]
    server = start_by_hand(argv, cwd=site)
    assert server.match, "start line: %r\nstderr: %s" % (server.first_line, server.stderr())
    assert Path(server.match.group("root")).resolve() == site.resolve()
    assert request(server.port, "GET", "/hello.txt")[::2] == (200, b"hello, world\n")


def console_script():
    for folder in (Path(sys.executable).parent, REPO / ".venv" / "bin"):
        candidate = folder / "microcgi"
        if candidate.exists():
            return candidate
    return None


def test_console_script_works(start_by_hand, site):
    """SPEC 2: the installed `microcgi` command serves like `python -m microcgi`."""
    script = console_script()
    if script is None:
        pytest.skip("no microcgi console script next to this Python (pip install -e .)")
    server = start_by_hand([str(script), "serve", str(site), "--host", "127.0.0.1", "--port", "0"])
    assert server.match, "start line: %r\nstderr: %s" % (server.first_line, server.stderr())
    assert request(server.port, "GET", "/hello.txt")[::2] == (200, b"hello, world\n")
    help_run = subprocess.run(
        [str(script), "--help"], capture_output=True, timeout=RUN_TIMEOUT, check=False
    )
    assert help_run.returncode == 0


def test_sigterm_stops_the_server(serve, site):
    """SPEC 2 (what a user of any daemon expects): SIGTERM ends the process promptly."""
    srv = serve(site)
    assert request(srv.port, "GET", "/hello.txt")[0] == 200
    srv.proc.send_signal(signal.SIGTERM)
    srv.proc.wait(5)
    assert "Traceback" not in srv.stderr_text()


# --- logs -----------------------------------------------------------------------------


def check_clf(line, request_line, status, size):
    m = CLF.fullmatch(line)
    assert m, "not Common Log Format: %r" % line
    assert m.group("host") == "127.0.0.1"
    assert m.group("request") == request_line
    assert m.group("status") == str(status)
    assert m.group("bytes") in ((str(size),) if size else ("0", "-")), line
    when = datetime.datetime.strptime(m.group("date"), "%d/%b/%Y:%H:%M:%S %z")
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((when - now).total_seconds()) < 3600, line


def access_lines(text):
    return [line for line in text.splitlines() if '"' in line]


def make_traffic(port):
    """Three requests; returns the (request line, status, body size) each should log."""
    _, _, ok = request(port, "GET", "/hello.txt?x=1")
    status, _, missing = request(port, "GET", "/missing.txt", version="HTTP/1.0")
    assert status == 404
    request(port, "HEAD", "/hello.txt")
    return [
        ("GET /hello.txt?x=1 HTTP/1.1", 200, len(ok)),
        ("GET /missing.txt HTTP/1.0", 404, len(missing)),
        ("HEAD /hello.txt HTTP/1.1", 200, 0),
    ]


def test_access_log_to_stdout(serve, site):
    """SPEC 2: --access-log - writes Common Log Format lines to stdout, one per request."""
    srv = serve(site, "--access-log", "-")
    expected = make_traffic(srv.port)
    assert wait_until(lambda: len(access_lines(srv.stdout_text())) >= 3), srv.stdout_text()
    lines = access_lines(srv.stdout_text())
    assert len(lines) == 3, lines
    for line, (request_line, status, size) in zip(lines, expected, strict=True):
        check_clf(line, request_line, status, size)


def test_access_log_to_a_file(serve, site, tmp_path):
    """SPEC 2: --access-log FILE appends Common Log Format lines to FILE, not stdout."""
    log = tmp_path / "access.log"
    srv = serve(site, "--access-log", log)
    expected = make_traffic(srv.port)

    def logged():
        return access_lines(log.read_text()) if log.exists() else []

    assert wait_until(lambda: len(logged()) >= 3), logged()
    for line, (request_line, status, size) in zip(logged(), expected, strict=True):
        check_clf(line, request_line, status, size)
    assert access_lines(srv.stdout_text()) == []
    assert "hello.txt" not in srv.stderr_text()


def test_error_log_on_stderr(serve, site):
    """SPEC 2/5: the error log is stderr; a script's stderr lines land there, prefixed."""
    srv = serve(site, "--access-log", "-", "--cgi", ".py=" + sys.executable)
    status, _, body = request(srv.port, "GET", "/cgi-bin/stderr.py")
    assert (status, body) == (200, b"stdout line 1\nstdout line 2\n")
    assert srv.wait_for("THIS-WENT-TO-STDERR", stream="stderr")
    line = [ln for ln in srv.stderr_text().splitlines() if "THIS-WENT-TO-STDERR" in ln][0]
    assert "stderr.py" in line, line
    assert "THIS-WENT-TO-STDERR" not in srv.stdout_text()
