"""A board's Wi-Fi start (firmware/microcgi/wlan.py) under the real MicroPython interpreter,
against the emulator's network stand-in (host/board_stubs/network.py: one access point,
given by MICROCGI_EMU_SSID and MICROCGI_EMU_PASSWORD)."""

import os
import subprocess
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


def join(tmp_path, ssid, password):
    program = tmp_path / "join.py"
    program.write_text(PROGRAM)
    env = dict(os.environ)
    env.update(
        MICROPYPATH="%s:%s" % (REPO / "host" / "board_stubs", REPO / "firmware"),
        MICROCGI_EMU_SSID="lab",
        MICROCGI_EMU_PASSWORD="secret",
    )
    done = subprocess.run(
        [MICROPYTHON, str(program), ssid, password],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


def test_right_password_joins_at_the_first_attempt(tmp_path):
    lines = join(tmp_path, "lab", "secret")
    assert lines == [
        "wifi: connecting to 'lab' (attempt 1 of 5)",
        "wifi: connected, address 127.0.0.1",
        "ADDR 127.0.0.1",
    ]


def test_wrong_password_is_named_after_two_attempts_not_five(tmp_path):
    lines = join(tmp_path, "lab", "not it")
    assert [line for line in lines if "attempt" in line] == [
        "wifi: connecting to 'lab' (attempt 1 of 5)",
        "wifi: connecting to 'lab' (attempt 2 of 5)",
    ]
    assert lines[-1] == "ERR wifi: could not join 'lab': wrong password"


def test_unknown_network_is_named(tmp_path):
    lines = join(tmp_path, "elsewhere", "secret")
    assert lines[-1] == "ERR wifi: could not join 'elsewhere': no network of that name answers"
    assert sum("attempt" in line for line in lines) == 2
