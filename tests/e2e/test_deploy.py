"""The deploy path with no hardware (SPEC section 10, issue 4).

`microcgi board esp32` runs the real MicroPython unix interpreter on a
pseudo-terminal; the real `mpremote` and tools/deploy.py drive it as they drive
an ESP32. Then the deployed site is checked over HTTP on 127.0.0.1. The emulator's
own features (issue 12: --link, --http-host, the flash counted in littlefs blocks)
are here too; tests/e2e/test_deploy_site.py has mirror mode, the resets after every
ending, and the demo site walked link by link on the board.
"""

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess

import pytest
from emulated import (
    MISSING,
    PASSWORD,
    REPO,
    SKIP_REASON,
    SSID,
    EmulatedBoard,
    copies,
    deploy,
    free_port,
    microcgi_argv,
    mpremote,
)
from helpers import request

pytestmark = pytest.mark.skipif(bool(MISSING), reason=SKIP_REASON)

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


@pytest.fixture
def site(tmp_path):
    path = tmp_path / "site"
    shutil.copytree(REPO / "examples" / "www", path)
    (path / "echo_form.py").write_bytes(ECHO_FORM)
    return path


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
    assert "www/index.py" in copied and "www/style.css" in copied and "config.json" in copied
    assert (b.flash / "www" / "echo_form.py").read_bytes() == ECHO_FORM
    config = json.loads((b.flash / "config.json").read_text())
    assert config["port"] == port and config["wifi"] == {"ssid": SSID, "password": PASSWORD}

    # the home page (index.py)
    status, headers, body = request(port, "GET", "/", timeout=30)
    assert status == 200
    assert b"<h1>micro<span>cgi</span></h1>" in body
    assert headers["content-type"][0].startswith("text/html")
    # the profile's 0.0.0.0 is the emulator's --http-host, 127.0.0.1: not every interface
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", port), timeout=10).close()
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
    assert re.search(
        r"^copied 1 file \(10 bytes\), \d+ unchanged, 0 deleted$", second.stdout, re.M
    )
    status, _, body = request(port, "GET", "/files/notes.txt")
    assert (status, body) == (200, b"new notes\n")

    # --dry-run lists the change, touches nothing, and the board serves again
    (site / "files" / "notes.txt").write_bytes(b"<p>next</p>\n")
    dry = deploy(b.serial, site, "--http-port", str(port), "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "would copy www/files/notes.txt (12 bytes, changed)" in dry.stdout
    assert (b.flash / "www" / "files" / "notes.txt").read_bytes() == b"new notes\n"
    assert dry.stdout.strip().splitlines()[-1] == (
        f"the board is back: microcgi is running at {url}, serving its previous site "
        "(nothing changed)"
    )
    status, _, body = request(port, "GET", "/files/notes.txt", timeout=30)
    assert (status, body) == (200, b"new notes\n")


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


def test_the_flash_has_the_profiles_capacity_in_littlefs_blocks(board, tmp_path):
    b = board("--flash-size", "20000")  # 4 blocks of 4096 bytes
    r = mpremote(b.serial, "exec", "import os; print(os.statvfs('/'))")
    # the root folder's metadata pair takes 2 of them
    assert r.returncode == 0 and r.stdout.startswith("(4096, 4096, 4, 2, 2,"), r.stdout
    small, big = tmp_path / "small.bin", tmp_path / "big.bin"
    small.write_bytes(b"s" * 100)  # inline: inside the folder's metadata, no block
    big.write_bytes(b"x" * 5000)  # 2 blocks
    r = mpremote(b.serial, "cp", str(small), ":s1.bin", "+", "cp", str(small), ":s2.bin")
    assert r.returncode == 0, r.stderr
    r = mpremote(b.serial, "cp", str(big), ":a.bin", "+", "cp", str(big), ":b.bin")
    assert r.returncode == 1
    assert "No space left on device" in r.stderr
    assert (b.flash / "a.bin").stat().st_size == 5000
    assert (b.flash / "b.bin").stat().st_size < 5000  # created, then the writes failed
    r = mpremote(b.serial, "exec", "import os; print(os.statvfs('/')[3])")
    assert r.stdout.split() == ["0"]
    r = mpremote(b.serial, "mkdir", ":d")  # a folder needs a metadata pair too
    assert r.returncode == 1 and "No space left on device" in r.stderr, r.stderr


def test_a_stable_link_to_the_serial_port(board, tmp_path):
    link = tmp_path / "esp32-port"
    b = board("--link", str(link))
    assert b.wait_for_match(r"link: \S+ -> /dev/pts/\d+\n", 10), b.output()
    assert os.readlink(link) == b.serial
    r = mpremote(str(link), "exec", "print(6 * 7)")
    assert (r.returncode, r.stdout.strip()) == (0, "42"), r.stderr
    b.stop()
    assert not os.path.lexists(link)  # removed on exit
    # a link left behind (a board that was killed) is replaced; a file is not
    os.symlink("/dev/pts/nowhere", link)
    b = board("--link", str(link))
    assert os.readlink(link) == b.serial
    b.proc.kill()
    b.proc.wait()
    assert os.readlink(link) == b.serial  # killed: nothing removed it
    b = board("--link", str(link))
    assert os.readlink(link) == b.serial
    b.stop()
    link.write_text("not a link")
    r = subprocess.run(
        microcgi_argv("board", "esp32", "--link", str(link)), capture_output=True, text=True
    )
    assert r.returncode == 2
    assert r.stderr.strip() == f"microcgi: --link {link}: that path exists and is not a symlink"


LISTEN_CODE = """
import socket
port = %d
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(socket.getaddrinfo("0.0.0.0", port)[0][-1])
s.listen(2)
for host in ("127.0.0.1", "127.0.0.2"):
    c = socket.socket()
    try:
        c.connect(socket.getaddrinfo(host, port)[0][-1])
        print(host, "answers")
    except OSError:
        print(host, "refuses")
    c.close()
s.close()
"""


@pytest.mark.parametrize(
    ("args", "expected"),
    [((), "refuses"), (("--http-host", "0.0.0.0"), "answers")],
    ids=["default", "every-interface"],
)
def test_http_host_is_where_the_boards_0_0_0_0_listens(board, args, expected):
    b = board(*args)
    r = mpremote(b.serial, "exec", LISTEN_CODE % free_port())
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.split("\n")[:2] == ["127.0.0.1 answers", "127.0.0.2 " + expected]


def test_a_bad_http_host_is_refused():
    r = subprocess.run(
        microcgi_argv("board", "esp32", "--http-host", "lan"), capture_output=True, text=True
    )
    assert r.returncode == 2
    assert r.stderr.strip() == "microcgi: --http-host must be an IPv4 address, got 'lan'"


def free_blocks(device):
    r = mpremote(device, "exec", "import os; print(os.statvfs('/')[3])")
    assert r.returncode == 0, r.stderr
    return int(r.stdout.split()[-1])


def test_deploy_counts_the_flash_in_blocks(board, tmp_path):
    b = board("--flash-size", str(100 * 4096), "--wifi", f"{SSID}:{PASSWORD}")
    site = tmp_path / "small-site"
    (site / "sub").mkdir(parents=True)
    (site / "index.html").write_bytes(b"<p>hi</p>\n")  # inline on littlefs
    (site / "sub" / "page.txt").write_bytes(b"p" * 9000)  # 3 blocks
    port = str(free_port())
    before = free_blocks(b.serial)
    first = deploy(b.serial, site, "--http-port", port)
    assert first.returncode == 0, first.stdout + first.stderr
    found = re.search(r"^flash: this deploy needs at most (\d+) more blocks ", first.stdout, re.M)
    need = int(found.group(1))
    used = before - free_blocks(b.serial)
    # deploy counts every file as at least one block; littlefs keeps the ones of up to
    # 128 bytes inside their folder's metadata: the only difference
    sizes = re.findall(r"^\[\d+/\d+\] copy .* \((\d+) bytes\)$", first.stdout, re.M)
    small = [n for n in sizes if int(n) <= 128]
    assert used <= need and need - used == len(small), (need, used, small)

    # many small files: their bytes fit the free space many times over, their blocks not
    free = free_blocks(b.serial)
    many = tmp_path / "many-site"
    shutil.copytree(site, many)
    (many / "notes").mkdir()
    for i in range(free):
        (many / "notes" / f"{i:03}.txt").write_bytes(b"n" * 300)
    assert 300 * free < free * 4096 // 4
    refused = deploy(b.serial, many, "--http-port", port)
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        f"deploy: flash full: the files need {free + 2} more blocks of 4096 bytes (and 2 "
        f"spare), the board at {b.serial} has {free} free\n"
    ), refused.stderr
    assert copies(refused.stdout) == [] and not (b.flash / "www" / "notes").exists()
    # and the refusal was right: the emulated littlefs would have run out
    fill = (
        "import os\nos.mkdir('notes')\nn = 0\ntry:\n    for i in range(%d):\n"
        "        with open('notes/%%d' %% i, 'wb') as f:\n            f.write(b'n' * 300)\n"
        "        n += 1\nexcept OSError as e:\n    print('full', e.args[0])\nprint(n)\n" % free
    )
    r = mpremote(b.serial, "exec", fill)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["full", "28", str(free - 2)]
