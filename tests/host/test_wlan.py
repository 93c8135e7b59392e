"""A board's Wi-Fi (firmware/microcgi/wlan.py) under the real MicroPython interpreter.

Against the emulator's network stand-in (host/board_stubs/network.py: one access point,
given by MICROCGI_EMU_SSID and MICROCGI_EMU_PASSWORD), and against a station whose answers
and clock the test gives (the back-off over minutes, without waiting minutes). The same
code on the emulated board: tests/e2e/test_board_left_alone.py.
"""

import os
import select
import subprocess
import time
from pathlib import Path

import pytest

from bench.heap import MICROPYTHON

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not MICROPYTHON,
    reason="needs micropython in the venv (its wheel exists for CPython 3.11 on x86_64 only)",
)

PROGRAM = """
import sys
from microcgi.wlan import wlan_up
try:
    print("ADDR", wlan_up({"ssid": sys.argv[1], "password": sys.argv[2]}))
except OSError as e:
    print("ERR", e)
"""

# A station that answers every attempt with the same status (argv[1]: a name of the
# network module's STAT_ constants) and never joins, driven by step() with a clock that
# moves 100 ms per call (as wlan_up's loop), for argv[2] seconds.
STEPS = """
import sys
import network
from microcgi import wlan

class Station:
    def __init__(self, status):
        self.answer = status
        self.now = 0
        self.state = network.STAT_IDLE

    def isconnected(self):
        return False

    def status(self):
        return self.state

    def connect(self, ssid, key):
        print("connect() at %d s" % (self.now // 1000))
        self.state = self.answer

    def disconnect(self):
        self.state = network.STAT_IDLE

sta = Station(getattr(network, sys.argv[1]))
state = wlan.new_state(0, True)
for now in range(0, int(sys.argv[2]) * 1000, 100):
    sta.now = now
    wlan.step(sta, {"ssid": "lab", "password": "x"}, state, now)
print("END")
"""


def micropython(tmp_path, source, *args):
    program = tmp_path / "program.py"
    program.write_text(source)
    env = dict(os.environ)
    env.update(
        MICROPYPATH="%s:%s" % (REPO / "host" / "board_stubs", REPO / "firmware"),
        MICROCGI_EMU_SSID="lab",
        MICROCGI_EMU_PASSWORD="secret",
    )
    return subprocess.Popen(
        [MICROPYTHON, str(program), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def lines_until(proc, last, timeout=60):
    """Output lines of proc up to the first that starts with `last` (then proc is stopped),
    or to its end."""
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            lines = out.decode().splitlines()
            done = [i for i, line in enumerate(lines) if line.startswith(last)]
            if done:
                return lines[: done[0] + 1]
            if select.select([proc.stdout], [], [], 0.1)[0]:
                data = os.read(proc.stdout.fileno(), 4096)
                if not data:
                    return lines
                out += data
        raise AssertionError("no line %r in time:\n%s" % (last, out.decode()))
    finally:
        proc.kill()
        proc.wait()


def test_right_password_joins_at_the_first_attempt(tmp_path):
    lines = lines_until(micropython(tmp_path, PROGRAM, "lab", "secret"), "ADDR")
    assert lines == [
        "wifi: connecting to 'lab' (attempt 1)",
        "wifi: connected, address 127.0.0.1",
        "ADDR 127.0.0.1",
    ]


def test_wrong_password_is_named_after_two_refusals(tmp_path):
    lines = lines_until(micropython(tmp_path, PROGRAM, "lab", "not it"), "microcgi: cannot start:")
    assert lines == [
        "wifi: connecting to 'lab' (attempt 1)",
        "wifi: wrong password; trying again in 1 s",
        "wifi: connecting to 'lab' (attempt 2)",
        "microcgi: cannot start: wifi: could not join 'lab': wrong password "
        "(trying again every 60 s)",
    ]


def test_an_absent_network_is_tried_again_for_ever(tmp_path):
    # a board that boots before its router: it does not give up
    lines = lines_until(
        micropython(tmp_path, PROGRAM, "elsewhere", "secret"),
        "wifi: connecting to 'elsewhere' (attempt 4)",
    )
    assert lines == [
        "wifi: connecting to 'elsewhere' (attempt 1)",
        "wifi: no network of that name answers; trying again in 1 s",
        "wifi: connecting to 'elsewhere' (attempt 2)",
        "wifi: no network of that name answers; trying again in 2 s",
        "wifi: connecting to 'elsewhere' (attempt 3)",
        "wifi: no network of that name answers; trying again in 4 s",
        "wifi: connecting to 'elsewhere' (attempt 4)",
    ]


def waits(lines):
    return [int(line.split()[-2]) for line in lines if "trying again in" in line]


def test_back_off_doubles_up_to_a_minute(tmp_path):
    # 10 minutes of a clock the test moves: attempts 1, 2, 4 ... 60 s apart, then every 60 s
    lines = lines_until(micropython(tmp_path, STEPS, "STAT_NO_AP_FOUND", "600"), "END")
    assert waits(lines)[:8] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert set(waits(lines)[6:]) == {60} and len(waits(lines)) >= 10
    starts = [int(line.split()[2]) for line in lines if line.startswith("connect()")]
    assert starts[:8] == [0, 1, 3, 7, 15, 31, 63, 123]


def test_no_answer_at_all_ends_an_attempt_after_10_s(tmp_path):
    # the station stays "connecting": each attempt is given 10 s
    lines = lines_until(micropython(tmp_path, STEPS, "STAT_CONNECTING", "40"), "END")
    assert lines[:4] == [
        "wifi: connecting to 'lab' (attempt 1)",
        "connect() at 0 s",
        "wifi: no answer; trying again in 1 s",
        "wifi: connecting to 'lab' (attempt 2)",
    ]
    assert waits(lines) == [1, 2, 4]


def test_a_wrong_password_is_then_tried_once_a_minute(tmp_path):
    lines = lines_until(micropython(tmp_path, STEPS, "STAT_WRONG_PASSWORD", "200"), "END")
    named = "microcgi: cannot start: wifi: could not join 'lab': wrong password "
    named += "(trying again every 60 s)"
    assert lines[:7] == [
        "wifi: connecting to 'lab' (attempt 1)",
        "connect() at 0 s",
        "wifi: wrong password; trying again in 1 s",
        "wifi: connecting to 'lab' (attempt 2)",
        "connect() at 1 s",
        named,
        "wifi: connecting to 'lab' (attempt 3)",
    ]
    starts = [int(line.split()[2]) for line in lines if line.startswith("connect()")]
    assert starts == [0, 1, 61, 121, 181]
