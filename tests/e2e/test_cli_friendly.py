"""The command line as a newcomer meets it: defaults in --help, short options, a hint for
a port given as the root, the Combined Log Format, `make run PORT=N` and the commented
example config (examples/microcgi.json with examples/microcgi.md)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import LISTENING_RE, REPO, ServerProcess, request

from microcgi.config import SETTINGS


def _cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "microcgi", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def test_every_option_with_a_value_shows_its_default():
    result = _cli("serve", "--help")
    assert result.returncode == 0, result.stderr
    options = result.stdout.split("options:", 1)[1]
    # one entry per option: "  --name METAVAR   help ..." (argparse, one line at COLUMNS=200)
    entries = []  # [invocation, help]
    for line in options.splitlines():
        if re.match(r"  -", line):
            invocation, _, text = line.strip().partition("  ")
            entries.append([invocation, text])
        elif entries:
            entries[-1][1] += " " + line.strip()
    takes_value = [e for e in entries if re.search(r" [A-Z{]", e[0])]
    assert len(takes_value) > 20, entries
    missing = [e[0] for e in takes_value if not re.search(r"\(.+\)", e[1])]
    assert not missing, "options without a default in --help:\n" + "\n".join(missing)


def test_short_options(tmp_path):
    (tmp_path / "a.txt").write_text("short\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "microcgi", "serve", "-d", str(tmp_path), "-b", "127.0.0.1"]
        + ["-p", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        m = LISTENING_RE.search(proc.stdout.readline())
        assert m and m["host"] == "127.0.0.1" and m["root"] == str(tmp_path)
        status, _, body = request(int(m["port"]), "GET", "/a.txt")
        assert (status, body) == (200, b"short\n")
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def test_two_roots_are_refused(tmp_path):
    result = _cli("serve", "-d", str(tmp_path), str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "two document roots" in result.stderr


def test_a_bare_port_number_gets_a_hint(tmp_path):
    result = _cli("serve", "8000", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "microcgi: document root 8000 does not exist (a port? use -p 8000)\n"


def test_combined_log_format(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    server = ServerProcess(
        tmp_path, ["--access-log", "-", "--access-log-format", "combined"], tmp_path
    )
    try:
        port = server.wait_listening().port
        headers = {"Referer": "http://example.com/p?q=1", "User-Agent": 'Agent "7" \\ x'}
        assert request(port, "GET", "/a.txt", headers=headers)[0] == 200
        assert request(port, "GET", "/a.txt?plain")[0] == 200
        server.wait_for('"-" "-"', stream="stdout")
        lines = server.stdout_text().splitlines()[1:]
    finally:
        server.stop()
    clf = r'127\.0\.0\.1 - - \[[^\]]+\] "GET %s HTTP/1\.1" 200 1'
    assert re.fullmatch(
        clf % "/a.txt" + r' "http://example\.com/p\?q=1" "Agent \\"7\\" \\\\ x"', lines[0]
    ), lines[0]
    assert re.fullmatch(clf % r"/a.txt\?plain" + ' "-" "-"', lines[1]), lines[1]


def test_common_log_format_is_the_default(serve, tmp_path):
    (tmp_path / "a.txt").write_text("x")
    server = serve(tmp_path, "--access-log", "-")
    request(server.port, "GET", "/a.txt", headers={"User-Agent": "ua"})
    server.wait_for("GET /a.txt", stream="stdout")
    line = server.stdout_text().splitlines()[1]
    assert line.endswith('"GET /a.txt HTTP/1.1" 200 1'), line


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on PATH")
def test_make_run_takes_a_port():
    result = subprocess.run(
        ["make", "-n", "run", "PORT=9123", "HOST=0.0.0.0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "serve examples/www --host 0.0.0.0 --port 9123" in result.stdout


def test_example_config_has_every_key_and_serves(tmp_path):
    data = json.loads((REPO / "examples" / "microcgi.json").read_text())
    notes = (REPO / "examples" / "microcgi.md").read_text()
    names = [item[0] for item in SETTINGS]
    assert sorted(data) == sorted(names)
    for name in names:
        assert f"| `{name}` |" in notes, f"examples/microcgi.md does not explain {name}"
    # the example maps .py to python3 on PATH: this Python's folder first
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "microcgi", "serve", "--config", "examples/microcgi.json"]
        + ["-p", "0"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        m = LISTENING_RE.search(proc.stdout.readline())
        assert m and m["root"] == str(REPO / "examples" / "www")
        status, _, body = request(int(m["port"]), "GET", "/hello.py?name=Ada")
        assert status == 200 and b"Ada" in body
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
