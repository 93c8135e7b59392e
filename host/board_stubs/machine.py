# A stand-in for the `machine` module of a MicroPython board, for the emulated
# board only (`microcgi board`, host/board_emulator.py). It is put on the
# emulator's module path and never copied to a board, where `machine` is built in.
#
# reset() and soft_reset() cannot end the interpreter themselves (under
# `micropython -i` a SystemExit is swallowed), so they print a private escape
# sequence that the emulator watches for, then wait to be stopped: the emulator
# restarts the interpreter, as the board's hardware or firmware would.
#
# WDT is the hardware's: the emulator keeps its clock (WDT() and feed() tell it, with
# the same escape sequences), so that it runs on while the program is stuck, through
# the REPL and soft resets, until the emulator restarts the board as a watchdog reset
# does: a fresh interpreter, main.py runs, reset_cause() is WDT_RESET.
import os
import sys
import time

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

_DEFAULT_FREQ = 240000000  # an ESP32's top speed


_FEED_MS = 250  # the emulator hears of a feed at most this often (a board: each one)
_FEED = "\x1b_microcgi-emulator:wdt-feed\x1b\\"


def _tell_emulator(what):
    sys.stdout.write("\x1b_microcgi-emulator:%s\x1b\\" % what)


def _ask_emulator(what):
    _tell_emulator(what)
    while True:
        time.sleep(1)


def reset():
    _ask_emulator("hard-reset")


def soft_reset():
    _ask_emulator("soft-reset")


def reset_cause():
    # the board's last reset (a soft reset changes nothing): the emulator says which
    return int(os.getenv("MICROCGI_EMU_CAUSE") or PWRON_RESET)


class WDT:
    """The watchdog timer: once started it cannot be stopped (feed() it in time)."""

    def __init__(self, id=0, timeout=5000):
        if id != 0:
            raise ValueError("WDT(%d) doesn't exist" % id)
        if timeout < 1000:
            raise ValueError("WDT timeout too short")  # an ESP32 counts whole seconds
        self._told = time.ticks_ms()
        _tell_emulator("wdt:%d" % timeout)

    def feed(self):
        now = time.ticks_ms()
        if time.ticks_diff(now, self._told) >= _FEED_MS:
            self._told = now
            sys.stdout.write(_FEED)


def unique_id():
    text = os.getenv("MICROCGI_EMU_UID") or "0200000000ff"
    return bytes(int(text[i : i + 2], 16) for i in range(0, len(text), 2))


_freq = [_DEFAULT_FREQ]


def freq(*hz):
    if hz:
        _freq[0] = int(hz[0])
        return None
    return _freq[0]


def idle():
    time.sleep_ms(1)
