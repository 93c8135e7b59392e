"""Board profiles (boards/*.json, SPEC section 9) and the commands that use them.

`load_profile()` rejects what a board could not run, with one line naming the file
and the key; `microcgi serve --board NAME` applies a profile's limits.
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import request

from microcgi.config import SETTINGS
from microcgi_host import board_emulator, boards, cli

REPO = Path(__file__).resolve().parent.parent.parent
PROFILES = ("desktop", "esp32", "esp32-romfs", "esp32s3-psram", "raspberry-pi", "rp2-pico-w")
# lwIP's limits (boards/README.md): an ESP32 has 10 sockets, the listener included; the
# Pico W's raw-API lwIP has 5 TCP control blocks for connections (listeners apart).
SOCKETS = {"esp32": 10, "esp32-romfs": 10, "esp32s3-psram": 10, "rp2-pico-w": 5 + 1}


def test_the_profiles_load():
    assert boards.profile_names() == list(PROFILES)
    for name in PROFILES:
        profile = boards.load_profile(name)
        assert profile.name == name and profile.description
        assert set(profile.settings) <= {item[0] for item in SETTINGS}


def test_esp32_is_an_esp32_without_psram():
    p = boards.load_profile("esp32")
    assert (p.interpreter, p.runner, p.network) == ("micropython", "inprocess", "wlan")
    assert p.heap_bytes == 111936  # 56 KB at boot, grown once (micropython PR 13219)
    assert p.flash_bytes == 2 * 1024 * 1024  # the vfs partition of partitions-4MiB.csv
    assert p.settings["root"] == "www" and p.settings["port"] == 80
    assert p.romfs_bytes == 0  # the stock firmware has no ROM partition


def test_esp32_romfs_is_the_esp32_with_a_rom_partition():
    p, stock = boards.load_profile("esp32-romfs"), boards.load_profile("esp32")
    assert p.romfs_bytes == 0x20000  # romfs of ports/esp32/partitions-4MiB-romfs.csv
    assert (p.heap_bytes, p.flash_bytes, p.settings) == (
        stock.heap_bytes,
        stock.flash_bytes,
        stock.settings,
    )


@pytest.mark.parametrize("name", sorted(SOCKETS))
def test_connections_fit_the_boards_sockets(name):
    s = boards.load_profile(name).settings
    assert s["max_connections"] + s["backlog"] + 1 <= SOCKETS[name]


@pytest.mark.parametrize("name", ["esp32", "esp32s3-psram", "rp2-pico-w"])
def test_buffers_fit_in_half_the_heap(name):
    p = boards.load_profile(name)
    s = p.settings
    # per connection a receive buffer and a file buffer, plus one buffered script
    # output and one request body held at a time (a longer one is read by the script as
    # it arrives: microcgi.upload)
    held = s.get("body_buffer", 8 * 1024)
    worst = s["max_connections"] * 2 * s["buffer_size"] + s["max_output"] + held
    assert worst <= p.heap_bytes // 2


def test_cpython_boards_have_no_heap_or_flash():
    for name in ("desktop", "raspberry-pi"):
        p = boards.load_profile(name)
        assert (p.heap_bytes, p.flash_bytes, p.network) == (None, None, "none")
        assert p.settings["runner"] == "subprocess"


def test_server_settings_and_board_config():
    settings = boards.server_settings("esp32")
    assert settings["max_body"] == 1024 * 1024 and settings["runner"] == "inprocess"
    assert "heap_bytes" not in settings and "mpy_cross" not in settings
    config = boards.board_config(boards.load_profile("esp32"), port=8123, wifi={"ssid": "x"})
    assert config["board"] == "esp32" and config["network"] == "wlan"
    assert config["port"] == 8123 and config["wifi"] == {"ssid": "x"}
    assert "runner" not in config and "heap_bytes" not in config


def write_profile(tmp_path, **changes):
    data = json.loads((REPO / "boards" / "esp32.json").read_text())
    for key, value in changes.items():
        if value is KeyError:
            del data[key]
        else:
            data[key] = value
    path = tmp_path / "custom.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"colour": "blue"}, "unknown key 'colour'"),
        ({"max_body": "lots"}, "max_body must be an integer >= 0"),
        ({"script_timeout": 0}, "script_timeout must be a number of seconds > 0"),
        ({"port": 70000}, "port must be 0..65535"),
        ({"heap_bytes": 1000}, "heap_bytes must be an integer from 16384"),
        ({"heap_bytes": KeyError}, "missing key 'heap_bytes'"),
        ({"flash_bytes": KeyError}, "missing key 'flash_bytes'"),
        ({"interpreter": "jython"}, "interpreter must be one of micropython, cpython"),
        ({"network": "ethernet"}, "network must be one of wlan, none"),
        ({"runner": "subprocess"}, "runner must be 'inprocess' on a micropython board"),
        ({"mpy_cross": "-O2"}, "mpy_cross must be a list of strings"),
        ({"mpy_cross": ["-march=xtensawin"]}, "mpy_cross flag '-march=xtensawin' is not allowed"),
        ({"interpreter": "cpython", "runner": "subprocess"}, "heap_bytes must be null"),
        ({"romfs_bytes": -4096}, "romfs_bytes must be an integer >= 0"),
        ({"romfs_bytes": 5000}, "romfs_bytes must be a multiple of 4096"),
    ],
)
def test_a_bad_profile_is_one_line_naming_file_and_key(tmp_path, changes, message):
    path = write_profile(tmp_path, **changes)
    with pytest.raises(boards.ProfileError) as e:
        boards.load_profile(str(path))
    text = str(e.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: ") and message in text


def test_not_json_and_not_an_object(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{'heap_bytes': 1}")
    with pytest.raises(boards.ProfileError, match=r"broken\.json: not valid JSON"):
        boards.load_profile(str(path))
    path.write_text("[1, 2]")
    with pytest.raises(boards.ProfileError, match=r"broken\.json: must hold a JSON object"):
        boards.load_profile(str(path))


def test_an_unknown_profile_lists_the_known_ones():
    with pytest.raises(boards.ProfileError) as e:
        boards.load_profile("esp8266")
    assert str(e.value) == "no board profile 'esp8266' (known: %s)" % ", ".join(PROFILES)


def test_serve_with_a_bad_profile_is_exit_2(tmp_path, capsys):
    path = write_profile(tmp_path, max_connections=-1)
    assert cli.main(["serve", str(tmp_path), "--board", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"microcgi: {path}: max_connections must be an integer >= 1\n"


def test_serve_board_esp32_applies_its_limits(serve, tmp_path):
    (tmp_path / "index.html").write_text("hi")
    server = serve(tmp_path, "--board", "esp32")
    status, _, body = request(server.port, "GET", "/")
    assert (status, body) == (200, b"hi")
    # the profile's max_body is 1 MiB
    status, _, _ = request(server.port, "POST", "/", body=b"x" * (1024 * 1024 + 1))
    assert status == 413


def test_board_command_refuses_a_cpython_board(capsys):
    assert cli.main(["board", "raspberry-pi"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("microcgi: board raspberry-pi runs CPython, not MicroPython")


def test_board_command_unknown_profile(capsys):
    assert cli.main(["board", "esp8266"]) == 2
    assert "no board profile 'esp8266'" in capsys.readouterr().err


def test_board_command_refuses_a_rom_partition_of_part_sectors(capsys):
    assert cli.main(["board", "esp32", "--romfs-size", "5000"]) == 2
    assert "--romfs-size must be a multiple of 4096" in capsys.readouterr().err


def test_a_rom_partition_file_keeps_its_image(tmp_path):
    """make_partition: a new partition is erased; a resized one keeps the bytes it had."""
    path = tmp_path / ".romfs"
    board_emulator.make_partition(path, 8192)
    assert path.read_bytes() == b"\xff" * 8192
    path.write_bytes(b"\xd2\xcd\x31image" + b"\xff" * (8192 - 8))
    board_emulator.make_partition(path, 16384)
    data = path.read_bytes()
    assert len(data) == 16384 and data.startswith(b"\xd2\xcd\x31image")
    assert data[8:] == b"\xff" * (16384 - 8)
    board_emulator.make_partition(path, 4096)
    assert path.read_bytes() == data[:4096]


def test_wifi_option():
    assert board_emulator.parse_wifi("lab:pa:ss") == ("lab", "pa:ss")
    assert board_emulator.parse_wifi("open:") == ("open", "")
    with pytest.raises(board_emulator.EmulatorError):
        board_emulator.parse_wifi("no-colon")


# -- Raspberry Pi: the systemd unit ----------------------------------------------------


UNIT = REPO / "boards" / "raspberry-pi" / "microcgi.service"


def test_the_unit_runs_unprivileged_and_restarts_on_failure():
    lines = [line.strip() for line in UNIT.read_text().splitlines()]
    assert "User=microcgi" in lines and "Restart=on-failure" in lines
    exec_start = next(line for line in lines if line.startswith("ExecStart="))
    assert "serve --board /opt/microcgi/boards/raspberry-pi.json" in exec_start
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE" in lines


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_the_unit_verifies(tmp_path):
    unit = tmp_path / "microcgi.service"
    microcgi = shutil.which("microcgi") or "/bin/true"
    unit.write_text(UNIT.read_text().replace("/opt/microcgi/.venv/bin/microcgi", microcgi))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
