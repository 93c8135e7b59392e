# The emulated board's start-up, run by host/board_emulator.py as
# `micropython -X heapsize=N -i -m _emulator_boot` at power-on and after every
# reset. It does what a board's firmware does before its REPL:
#
#   1. load the stand-ins of the board's built-in modules (network, machine, and
#      socket, whose "0.0.0.0" is the emulator's --http-host) while the host's
#      filesystem is still mounted;
#   2. mount the flash -- a folder of the host -- at "/", as an ESP32's frozen
#      _boot.py mounts its littlefs partition there, and set the ESP32's sys.path;
#   3. run boot.py, then main.py unless the board was reset from the raw REPL
#      (MicroPython's pyexec runs main.py only in friendly-REPL mode, which is
#      what lets mpremote take over a board whose main.py never returns).
#
# After a reset from the raw REPL -- which is how mpremote starts every session --
# the flash is mounted through FlashFS, which has the capacity of the board's
# filesystem partition, counted in blocks as littlefs counts them (writes fail with
# ENOSPC when it is full), and lists file sizes as littlefs does. A board's program
# runs after the other resets, on the plain folder: a filesystem written in Python
# costs heap and churns it on every import, where a board's C filesystem costs nothing.
#
# It talks to the emulator with private escape sequences (ESC _ ... ESC \, an
# APC string, which terminals ignore); the emulator removes them from the
# console. It never goes to a board.
import gc
import io
import os
import sys
import time

import vfs

_ENOSPC = 28
_ROM_PATH = "/.romfs"  # the ROM partition's bytes (romfs_bytes), not the filesystem's
_DIR = 0x4000


def _say(what):
    sys.stdout.write("\x1b_microcgi-emulator:%s\x1b\\" % what)


def _join(path, name):
    return path.rstrip("/") + "/" + name if path else name


# The flash's accounting, as littlefs (an ESP32's and a Pico W's filesystem) keeps it:
# the root and every folder hold a metadata pair (2 blocks); a file of up to _INLINE
# bytes lives inside its folder's metadata; a bigger one takes whole blocks, as a CTZ
# skip-list (block i > 0 starts with ctz(i) + 1 pointers of 4 bytes). Not modelled:
# metadata pairs that split when a folder holds many entries, and compaction.
_BLOCK = 4096
_INLINE = 128  # MicroPython's littlefs cache size: 4 * max(read size, prog size) of 32


def _blocks(size):
    """The blocks a file of `size` bytes takes."""
    if size <= _INLINE:
        return 0
    n = 0
    while size > 0:
        pointers = 0
        if n:
            i = n
            while not i & 1:
                pointers += 1
                i >>= 1
            pointers += 1
        size -= _BLOCK - 4 * pointers
        n += 1
    return n


class _File(io.IOBase):
    """A file open for writing: a write that needs more blocks than are free fails
    (ENOSPC). `free` counts the file's old blocks as taken: littlefs writes a file's new
    blocks before it lets go of the old ones (copy-on-write)."""

    def __init__(self, f, size, free):
        self._f = f
        self._size = size
        self._base = _blocks(size)
        self._free = free

    def write(self, data):
        size = self._f.tell() + len(data)
        if size > self._size and _blocks(size) - self._base > self._free:
            raise OSError(_ENOSPC)
        return self._f.write(data)

    def readinto(self, buf):
        return self._f.readinto(buf)

    def close(self):
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()

    def __getattr__(self, name):  # read, seek, tell, flush, ...
        return getattr(self._f, name)


class FlashFS:
    """The flash folder with the capacity of the board's filesystem partition, counted in
    littlefs blocks (above)."""

    def __init__(self, root, capacity):
        self._fs = vfs.VfsPosix(root)
        self._total = capacity // _BLOCK

    def __repr__(self):
        return "<FlashFS>"

    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def _used(self, path):
        total = 2  # the folder's metadata pair
        for item in self._fs.ilistdir(path):
            full = _join(path, item[0])
            if item[1] == _DIR:
                total += self._used(full)
            elif full != _ROM_PATH:
                total += _blocks(self._fs.stat(full)[6])
        return total

    def _free(self):
        return self._total - self._used("/")

    def ilistdir(self, path):
        # (name, type, inode, size), as littlefs gives them
        for item in self._fs.ilistdir(path):
            full = _join(path, item[0])
            if full == _ROM_PATH:
                continue  # the ROM partition, another part of the chip's flash
            size = 0 if item[1] == _DIR else self._fs.stat(full)[6]
            yield (item[0], item[1], item[2], size)

    def open(self, path, mode):
        if "r" in mode and "+" not in mode:
            return self._fs.open(path, mode)
        free = self._free()  # measured before "w" empties the file: its blocks stay taken
        try:
            size = 0 if "w" in mode else self._fs.stat(path)[6]
        except OSError:
            size = 0
        return _File(self._fs.open(path, mode), size, free)

    def mkdir(self, path):
        if self._free() < 2:
            raise OSError(_ENOSPC)
        self._fs.mkdir(path)

    def statvfs(self, path):
        free = max(self._free(), 0)
        return (_BLOCK, _BLOCK, self._total, free, free, 0, 0, 0, 0, 255)

    def __getattr__(self, name):  # stat, chdir, getcwd, rmdir, remove, rename
        return getattr(self._fs, name)


def _run(name):
    """Run a script of the flash, as pyexec_file() does; False if it raised."""
    try:
        os.stat(name)
    except OSError:
        return True
    try:
        execfile(name, {"__name__": "__main__"})  # noqa: F821 - a MicroPython builtin
    except SystemExit:
        _say("soft-reset")  # a board soft-resets when boot.py or main.py exits
        while True:
            time.sleep(1)
    except BaseException as e:  # noqa: BLE001 - a board prints it and goes on
        sys.print_exception(e)
        return False
    return True


def _measure(rom):
    # The emulator's calibration: what the start-up keeps in the heap at the point
    # where main.py would start (the emulator adds that much to the board's heap), less
    # the ROM partition's bytes, which it adds as such.
    gc.collect()
    print("heap-used", gc.mem_alloc() - rom)


def _start():
    _say("started")
    import _emulator_socket
    import machine  # noqa: F401 - the stand-ins, loaded as built-in modules are there
    import network  # noqa: F401

    sys.modules["socket"] = _emulator_socket  # "0.0.0.0" is the emulator's --http-host
    rom = None
    if os.getenv("MICROCGI_EMU_ROMFS"):  # a firmware with a ROM partition
        import _emulator_vfs as rom

        sys.modules["vfs"] = rom

    mode = os.getenv("MICROCGI_EMU_MODE")
    flash = os.getenv("MICROCGI_EMU_FLASH")
    capacity = int(os.getenv("MICROCGI_EMU_FLASH_BYTES") or "0")
    vfs.umount("/")
    if mode == "raw" and capacity:
        vfs.mount(FlashFS(flash, capacity), "/")
    else:
        vfs.mount(vfs.VfsPosix(flash), "/")
    os.chdir("/")
    sys.path[:] = ["", ".frozen", "/lib"]  # an ESP32's
    if rom is not None and rom._mount():
        sys.path[2:2] = ["/rom", "/rom/lib"]  # as mp_init() puts them, before /lib
    if mode == "measure":
        _measure(len(rom._rom) if rom is not None else 0)
    # As ports/esp32/main.c: main.py runs after a boot.py that did not fail, and only
    # when the board is not in the raw REPL.
    elif _run("boot.py") and mode != "raw":
        _run("main.py")
    _say("repl")


_start()
gc.collect()
