# The only place where MicroPython and CPython differ for the core.
# Everything else in firmware/ imports these names instead of probing itself.
import os
import sys
import time

IS_MICROPYTHON = sys.implementation.name == "micropython"

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


try:
    ticks_ms = time.ticks_ms
    ticks_diff = time.ticks_diff
    ticks_add = time.ticks_add
except AttributeError:  # CPython: no wrap-around; the C functions of operator
    import operator

    ticks_add = operator.add
    ticks_diff = operator.sub

    _monotonic = time.monotonic

    def ticks_ms():
        return int(_monotonic() * 1000)


try:
    print_exception = sys.print_exception
except AttributeError:  # CPython
    import traceback

    def print_exception(e, file=None):
        traceback.print_exception(type(e), e, e.__traceback__, file=file)


# poll() yields the registered object on MicroPython and its fd on CPython.
# poll_key() gives the key the loop files a handler under, so that a poll
# result can be looked up directly in both worlds.
if IS_MICROPYTHON:

    def poll_key(obj):
        return obj

    def unload(name):
        """Forget a module used once in a while (name "microcgi.x"), so that a board's
        heap gets it back; the next import loads it again. A no-op on CPython."""
        sys.modules.pop(name, None)
        try:
            delattr(sys.modules["microcgi"], name[9:])  # the package's attribute
        except (AttributeError, KeyError):
            pass

else:

    def poll_key(obj):
        return obj if isinstance(obj, int) else obj.fileno()

    def unload(name):
        pass


def lazy_call(name, function, *args):
    """microcgi.<name>.<function>(*args), the module loaded for this call only.

    For what a board runs rarely: the module costs RAM only while it runs, then it is
    dropped again (unload(); CPython keeps it).
    """
    module = __import__("microcgi." + name, None, None, (function,))
    try:
        return getattr(module, function)(*args)
    finally:
        unload("microcgi." + name)


# ESP32 counts time.time() from 2000-01-01; unix and rp2 from 1970.
EPOCH_OFFSET = 0
if IS_MICROPYTHON and time.gmtime(0)[0] == 2000:
    EPOCH_OFFSET = 946684800
# Before NTP a board thinks it is 2000 or so: no Date header then.
_CLOCK_SET_AFTER = const(1577836800)  # 2020-01-01


def unix_time():
    """Seconds since 1970, or None when the clock has obviously not been set."""
    t = int(time.time()) + EPOCH_OFFSET
    return t if t > _CLOCK_SET_AFTER else None


# Three letters per name: one bytes object instead of 19.
DAYS = b"MonTueWedThuFriSatSun"
MONTHS = b"JanFebMarAprMayJunJulAugSepOctNovDec"


def http_date(t):
    """RFC 9110 IMF-fixdate for unix time t, as bytes."""
    g = time.gmtime(t - EPOCH_OFFSET)
    d = g[6] * 3
    m = g[1] * 3 - 3
    return b"%s, %02d %s %04d %02d:%02d:%02d GMT" % (
        DAYS[d : d + 3],
        g[2],
        MONTHS[m : m + 3],
        g[0],
        g[3],
        g[4],
        g[5],
    )


def stat(path):
    """(mode, size, mtime) of path; raises OSError. os.stat is a bare tuple on MicroPython."""
    st = os.stat(path)
    return st[0], st[6], int(st[8]) + EPOCH_OFFSET


S_IFDIR = const(0x4000)
S_IFREG = const(0x8000)
S_IFMT = const(0xF000)
