# A stand-in for the `machine` module of a MicroPython board, for the emulated
# board only (`microcgi board`, host/board_emulator.py). It is put on the
# emulator's module path and never copied to a board, where `machine` is built in.
#
# reset() and soft_reset() cannot end the interpreter themselves (under
# `micropython -i` a SystemExit is swallowed), so they print a private escape
# sequence that the emulator watches for, then wait to be stopped: the emulator
# restarts the interpreter, as the board's hardware or firmware would.
import os
import sys
import time

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

_DEFAULT_FREQ = 240000000  # an ESP32's top speed


def _ask_emulator(what):
    sys.stdout.write("\x1b_microcgi-emulator:%s\x1b\\" % what)
    while True:
        time.sleep(1)


def reset():
    _ask_emulator("hard-reset")


def soft_reset():
    _ask_emulator("soft-reset")


def reset_cause():
    return SOFT_RESET if os.getenv("MICROCGI_EMU_SOFT") == "1" else PWRON_RESET


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
