# The emulated board's `vfs` module when its profile has a ROM partition (`romfs_bytes`),
# for the emulated board only (`microcgi board`, host/board_emulator.py): the
# interpreter's own, plus the rom_ioctl() of a firmware built with MICROPY_VFS_ROM,
# which the unix port lacks. host/board_stubs/_emulator_boot.py installs it as
# sys.modules["vfs"] and mounts the partition at /rom, as mp_init() does on a board.
#
# The partition is a file of the flash folder (the emulator makes it, erased, at its
# start); its bytes are read into one bytearray at every boot: the board's memory-mapped
# flash, on which VfsRom runs bytecode in place. The emulator gives the interpreter that
# many bytes of heap on top of the profile's, so that it is counted as flash.
#
# rom_ioctl answers what `mpremote romfs query|deploy` asks, as ports/esp32 does:
#   1: number of partitions; 2, id: the partition (a memoryview), or -ENODEV;
#   3, id, offset, length (or id, length): erase, returns the smallest write;
#   4, id, offset, data: write (into the mapped bytes and the file); 5, id: end of
#   writing; 6, id: the erase block's size.
import os

from vfs import *  # noqa: F403 - everything else is the real module's

_EINVAL = 22
_ENODEV = 19
_BLOCK = 4096  # an ESP32's flash sector: what a partition erases at a time
_MIN_WRITE = 4

_path = os.getenv("MICROCGI_EMU_ROMFS")
_rom = None
# the host's files: once the board runs, "/" is its flash (_emulator_boot.py)
_FILES = VfsPosix()  # noqa: F405


def _load():
    global _rom
    f = _FILES.open(_path, "rb")
    try:
        size = f.seek(0, 2)
        f.seek(0)
        _rom = bytearray(size)
        f.readinto(_rom)
    finally:
        f.close()
    return _rom


def _erase(start, length):
    end = min(start + length, len(_rom))
    ff = b"\xff" * 256
    f = _FILES.open(_path, "r+b")
    try:
        f.seek(start)
        at = start
        while at < end:
            n = min(256, end - at)
            _rom[at : at + n] = ff[:n]
            f.write(ff[:n])
            at += n
    finally:
        f.close()


def rom_ioctl(op, *args):
    if op == 1:
        return 1
    if not args or args[0] != 0:
        return -_ENODEV if op == 2 else -_EINVAL
    if op == 2:
        return memoryview(_rom)
    if op == 3:
        start, length = (0, args[1]) if len(args) == 2 else args[1:3]
        if start % _BLOCK or start < 0 or start + length > len(_rom):
            return -_EINVAL
        _erase(start, (length + _BLOCK - 1) // _BLOCK * _BLOCK)
        return _MIN_WRITE
    if op == 4:
        start, data = args[1], args[2]
        if start < 0 or start + len(data) > len(_rom):
            return -_EINVAL
        _rom[start : start + len(data)] = data
        f = _FILES.open(_path, "r+b")
        try:
            f.seek(start)
            f.write(data)
        finally:
            f.close()
        return 0
    if op == 5:
        return 0
    if op == 6:
        return _BLOCK
    return -_EINVAL


def _mount():
    """Map the partition and mount it at /rom when it holds a ROMFS image, as mp_init()
    does (vfs.mount(VfsRom(...), "/rom")); True if it did."""
    rom = _load()
    if bytes(rom[:3]) != b"\xd2\xcd\x31":
        return False
    try:
        mount(VfsRom(memoryview(rom)), "/rom")  # noqa: F405
    except OSError:
        return False
    return True
