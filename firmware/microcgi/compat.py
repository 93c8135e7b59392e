# The only place where MicroPython and CPython differ for the core.
# Everything else in firmware/ imports these names instead of probing itself.
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
except AttributeError:  # CPython
    _monotonic = time.monotonic

    def ticks_ms():
        return int(_monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b

    def ticks_add(a, b):
        return a + b


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

else:

    def poll_key(obj):
        return obj if isinstance(obj, int) else obj.fileno()


# ESP32 counts time.time() from 2000-01-01; unix and rp2 from 1970.
_EPOCH_OFFSET = 0
if IS_MICROPYTHON and time.gmtime(0)[0] == 2000:
    _EPOCH_OFFSET = 946684800
# Before NTP a board thinks it is 2000 or so: no Date header then.
_CLOCK_SET_AFTER = 1577836800  # 2020-01-01


def unix_time():
    """Seconds since 1970, or None when the clock has obviously not been set."""
    t = int(time.time()) + _EPOCH_OFFSET
    return t if t > _CLOCK_SET_AFTER else None


_DAYS = (b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun")
_MONTHS = (
    b"Jan",
    b"Feb",
    b"Mar",
    b"Apr",
    b"May",
    b"Jun",
    b"Jul",
    b"Aug",
    b"Sep",
    b"Oct",
    b"Nov",
    b"Dec",
)


def http_date(t):
    """RFC 9110 IMF-fixdate for unix time t, as bytes."""
    g = time.gmtime(t - _EPOCH_OFFSET)
    return b"%s, %02d %s %04d %02d:%02d:%02d GMT" % (
        _DAYS[g[6]],
        g[2],
        _MONTHS[g[1] - 1],
        g[0],
        g[3],
        g[4],
        g[5],
    )


def parse_http_date(value):
    """Unix time of an IMF-fixdate (bytes), or None if it is not one."""
    # "Sun, 06 Nov 1994 08:49:37 GMT"
    parts = value.split()
    if len(parts) != 6 or parts[5] != b"GMT":
        return None
    try:
        day = int(parts[1])
        month = _MONTHS.index(parts[2]) + 1
        year = int(parts[3])
        hms = parts[4].split(b":")
        h, m, s = int(hms[0]), int(hms[1]), int(hms[2])
    except (ValueError, IndexError, UnicodeError):
        return None
    # days from civil (Howard Hinnant's algorithm), so no mktime/timezone is involved
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return days * 86400 + h * 3600 + m * 60 + s


def stat(path):
    """(mode, size, mtime) of path; raises OSError. os.stat is a bare tuple on MicroPython."""
    import os

    st = os.stat(path)
    return st[0], st[6], int(st[8]) + _EPOCH_OFFSET


S_IFDIR = const(0x4000)
S_IFREG = const(0x8000)
S_IFMT = const(0xF000)
