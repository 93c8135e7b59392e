"""The package as a user gets it: `python -m build` makes a wheel and an sdist, each is
installed into a fresh venv, and the installed `microcgi` works from a folder that is not
this checkout (board profiles, the emulator's stand-ins and the demo site are package
data, found with importlib.resources).

Building and installing the sdist fetch setuptools from the package index (pip caches
it); without the index these tests skip, saying so.
"""

import os
import re
import selectors
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import LISTENING_RE, REPO, request

# What pip prints when it cannot reach the package index.
OFFLINE = re.compile(
    r"Could not find a version that satisfies|No matching distribution|"
    r"Failed to establish a new connection|Temporary failure in name resolution|"
    r"Network is unreachable|ConnectionError|ProxyError",
)


def _env():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


def _run(argv, cwd, timeout=120):
    return subprocess.run(
        argv, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout
    )


def _skip_if_offline(result, what):
    out = result.stdout + result.stderr
    if result.returncode != 0 and OFFLINE.search(out):
        pytest.skip(f"{what} needs the package index (setuptools), which is unreachable here")
    assert result.returncode == 0, f"{what} failed:\n{out[-3000:]}"


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The wheel and the sdist, built from this checkout's files."""
    out = tmp_path_factory.mktemp("dist")
    result = _run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO)], cwd=out)
    _skip_if_offline(result, "python -m build")
    wheels = list(out.glob("microcgi-*.whl"))
    sdists = list(out.glob("microcgi-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


@pytest.fixture(scope="module", params=["wheel", "sdist"])
def installed(request, dist, tmp_path_factory):
    """A fresh venv with microcgi installed from the wheel or the sdist; its bin folder."""
    venv = tmp_path_factory.mktemp("venv-" + request.param)
    result = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=venv)
    assert result.returncode == 0, result.stderr
    # this venv's pip installs into the fresh one (faster than ensurepip there)
    argv = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    argv += ["install", "-q", str(dist[request.param])]
    _skip_if_offline(_run(argv, cwd=venv), f"pip install of the {request.param}")
    return venv / "bin"


def _start(argv, cwd, pattern, timeout=30.0):
    """Start argv; return (process, match of PATTERN on its stdout, output so far)."""
    proc = subprocess.Popen(
        argv, cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if sel.select(deadline - time.monotonic()):
                data = os.read(proc.stdout.fileno(), 4096)
                if not data:
                    break
                out += data
                match = pattern.search(out.decode(errors="replace"))
                if match:
                    return proc, match, out.decode(errors="replace")
    finally:
        sel.close()
    _stop(proc)
    pytest.fail(f"{argv[:3]}: no {pattern.pattern!r} within {timeout}s; output:\n{out[-2000:]}")


def _stop(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stdout.close()


def test_version_and_module_help(installed, tmp_path):
    result = _run([str(installed / "microcgi"), "--version"], cwd=tmp_path)
    assert result.returncode == 0 and re.fullmatch(r"microcgi \S+\n", result.stdout)
    result = _run([str(installed / "python"), "-m", "microcgi", "--help"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout and "board" in result.stdout
    # imported from the venv, not from this checkout
    probe = "import microcgi, microcgi_host; print(microcgi.__file__, microcgi_host.__file__)"
    result = _run([str(installed / "python"), "-c", probe], cwd=tmp_path)
    assert str(REPO) not in result.stdout and str(installed.parent) in result.stdout


def test_serve_with_a_board_profile(installed, tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "hi.txt").write_text("hello from the wheel\n")
    argv = [str(installed / "microcgi"), "serve", "--board", "raspberry-pi", str(root)]
    argv += ["--host", "127.0.0.1", "--port", "0"]
    proc, match, _ = _start(argv, tmp_path, LISTENING_RE)
    try:
        assert match["root"] == str(root)
        status, _, body = request(int(match["port"]), "GET", "/hi.txt")
        assert (status, body) == (200, b"hello from the wheel\n")
    finally:
        _stop(proc)


def test_demo_site(installed, tmp_path):
    argv = [str(installed / "microcgi"), "demo", "--port", "0"]
    proc, match, _ = _start(argv, tmp_path, LISTENING_RE)
    try:
        port = int(match["port"])
        status, _, body = request(port, "GET", "/")  # index.py, a CGI script
        assert status == 200 and b"<html" in body.lower()
        status, _, body = request(port, "GET", "/cgi-bin/api.py?n=2&n=3")
        assert status == 200 and b"5" in body
    finally:
        _stop(proc)


def test_board_emulator(installed, tmp_path):
    micropython = Path(sys.executable).parent / "micropython"
    if not micropython.exists():
        # the stand-ins are still checked: --help loads the emulator module
        result = _run([str(installed / "microcgi"), "board", "esp32", "--help"], cwd=tmp_path)
        assert result.returncode == 0 and "--flash" in result.stdout, result.stderr
        pytest.skip("no micropython next to this Python to run the emulated board with")
    argv = [str(installed / "microcgi"), "board", "esp32", "--micropython", str(micropython)]
    proc, match, _ = _start(argv, tmp_path, re.compile(r"serial: (/dev/\S+)"))
    try:
        assert os.path.exists(match[1])
    finally:
        _stop(proc)


def test_sdist_has_the_documents_readme_links_to(dist):
    # issue 13: with no public address for [project.urls] yet (pyproject.toml says what a
    # maintainer adds), the documentation travels in the sdist, where README.md's
    # relative links find it
    import tarfile

    with tarfile.open(dist["sdist"]) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
        info = tar.extractfile(next(n for n in tar.getnames() if n.endswith("/PKG-INFO")))
        metadata = info.read().decode()
    links = set(re.findall(r"\]\(((?:docs|examples)/[^)#\s]+)", (REPO / "README.md").read_text()))
    assert links and "docs/security.md" in links
    assert sorted(links - names) == []
    # no made-up address: every Project-URL there is has to be a real one
    for line in metadata.splitlines():
        if line.startswith("Project-URL:"):
            assert "HOST" not in line and "example" not in line, line
