"""Board profiles: boards/*.json (SPEC section 9).

A profile says what a board is (`interpreter`, `heap_bytes`, `flash_bytes`,
`romfs_bytes`, `runner`, `network`, `mpy_cross`) and how the server runs on it: every other key
is a server setting with the name of microcgi.config.SETTINGS (`port`, `root`,
`max_body`, ...), which `microcgi serve --board NAME` applies and which
tools/deploy.py writes into the board's config.json.

`load_profile(name)` reads and checks one; a bad profile raises ProfileError (a
ValueError) whose message is one line naming the file and the key.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from microcgi.config import SETTINGS, Config, ConfigError
from microcgi_host.resources import profiles_dir

BOARDS_DIR = profiles_dir()

INTERPRETERS = ("micropython", "cpython")
NETWORKS = ("wlan", "none")
# Keys that describe the board itself rather than a server setting.
BOARD_KEYS = (
    "description",
    "interpreter",
    "heap_bytes",
    "flash_bytes",
    "romfs_bytes",
    "runner",
    "network",
    "mpy_cross",
)
REQUIRED = ("interpreter", "heap_bytes", "runner", "network", "port", "root", "mpy_cross")
SETTING_NAMES = tuple(item[0] for item in SETTINGS)

# The MicroPython unix port refuses much smaller heaps; 1 GiB is far above any board.
MIN_HEAP_BYTES = 16 * 1024
MAX_HEAP_BYTES = 1 << 30
MIN_FLASH_BYTES = 64 * 1024
ROMFS_BLOCK = 4096  # a ROM partition is whole flash sectors


class ProfileError(ValueError):
    """A missing or invalid board profile; str() is one line naming the file and key."""


@dataclass(frozen=True)
class Profile:
    name: str
    path: Path
    description: str
    interpreter: str
    heap_bytes: int | None
    flash_bytes: int | None
    runner: str
    network: str
    mpy_cross: tuple[str, ...]
    settings: dict = field(default_factory=dict)  # server settings, checked
    romfs_bytes: int = 0  # the firmware's ROM partition (vfs.rom_ioctl), 0: none

    @property
    def is_micropython(self) -> bool:
        return self.interpreter == "micropython"


def profile_names() -> list[str]:
    """The names of the profiles in boards/, sorted."""
    return sorted(p.stem for p in BOARDS_DIR.glob("*.json"))


def profile_path(name: str) -> Path:
    """boards/NAME.json for a bare name; a name with a slash or ending in .json is a path."""
    if "/" in name or os.sep in name or name.endswith(".json"):
        return Path(name)
    return BOARDS_DIR / (name + ".json")


def _shown(path: Path) -> str:
    """The path as a user would type it: relative to the current folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _int_or_null(where: str, key: str, value, minimum: int, maximum: int, micropython: bool):
    if not micropython:
        if value is not None:
            raise ProfileError(f"{where}: {key} must be null for a cpython board")
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise ProfileError(f"{where}: {key} must be an integer from {minimum} to {maximum}")
    return value


def _check_board_keys(where: str, data: dict) -> dict:
    for key in REQUIRED:
        if key not in data:
            raise ProfileError(f"{where}: missing key {key!r}")
    interpreter = data["interpreter"]
    if interpreter not in INTERPRETERS:
        raise ProfileError(f"{where}: interpreter must be one of {', '.join(INTERPRETERS)}")
    micro = interpreter == "micropython"
    heap = _int_or_null(
        where, "heap_bytes", data["heap_bytes"], MIN_HEAP_BYTES, MAX_HEAP_BYTES, micro
    )
    if micro and "flash_bytes" not in data:
        raise ProfileError(f"{where}: missing key 'flash_bytes'")
    flash = _int_or_null(
        where, "flash_bytes", data.get("flash_bytes"), MIN_FLASH_BYTES, MAX_HEAP_BYTES * 16, micro
    )
    network = data["network"]
    if network not in NETWORKS:
        raise ProfileError(f"{where}: network must be one of {', '.join(NETWORKS)}")
    if network == "wlan" and not micro:
        raise ProfileError(f"{where}: network 'wlan' is for micropython boards")
    if micro and data["runner"] != "inprocess":
        raise ProfileError(f"{where}: runner must be 'inprocess' on a micropython board")
    flags = data["mpy_cross"]
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise ProfileError(f"{where}: mpy_cross must be a list of strings")
    for flag in flags:
        if not flag.startswith("-") or flag == "-o" or flag.startswith("-march"):
            # -o is deploy's; a -march other than the board's own would make .mpy files
            # that this board (and the emulator) refuse to import
            raise ProfileError(f"{where}: mpy_cross flag {flag!r} is not allowed")
    romfs = data.get("romfs_bytes", 0)
    if not isinstance(romfs, int) or isinstance(romfs, bool) or romfs < 0:
        raise ProfileError(f"{where}: romfs_bytes must be an integer >= 0")
    if romfs % ROMFS_BLOCK or (romfs and not micro):
        raise ProfileError(
            f"{where}: romfs_bytes must be a multiple of {ROMFS_BLOCK} (0 on a cpython board)"
        )
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ProfileError(f"{where}: description must be a string")
    return {
        "description": description,
        "interpreter": interpreter,
        "heap_bytes": heap,
        "flash_bytes": flash,
        "romfs_bytes": romfs,
        "network": network,
        "mpy_cross": tuple(flags),
    }


def load_profile(name: str) -> Profile:
    """Read and check boards/NAME.json (or a profile file given by path).

    Raises:
        ProfileError: no such profile, not JSON, an unknown key, a bad value.
    """
    path = profile_path(name)
    where = _shown(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        known = ", ".join(profile_names())
        raise ProfileError(f"no board profile {name!r} (known: {known})") from None
    except OSError as e:
        raise ProfileError(f"{where}: cannot read: {e.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ProfileError(f"{where}: not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{where}: must hold a JSON object")
    for key in data:
        if key not in BOARD_KEYS and key not in SETTING_NAMES:
            raise ProfileError(f"{where}: unknown key {key!r}")
    board = _check_board_keys(where, data)
    settings = {k: v for k, v in data.items() if k in SETTING_NAMES}
    try:
        Config().apply(settings, where)  # the same checks as config.json and the flags
    except ConfigError as e:
        raise ProfileError(str(e)) from None
    return Profile(name=path.stem, path=path, runner=data["runner"], settings=settings, **board)


def server_settings(name: str) -> dict:
    """The server settings of a profile, for `microcgi serve --board NAME`.

    Raises:
        ProfileError: see load_profile().
    """
    return dict(load_profile(name).settings)


def board_config(profile: Profile, **extra) -> dict:
    """The config.json a board gets: the profile's server settings, then `extra`.

    `extra` holds what deploy adds (network, wifi, port); the firmware's
    microcgi/board.py reads every key, ignoring the board-only ones it knows.
    """
    config = {"board": profile.name, "network": profile.network}
    for key, value in profile.settings.items():
        if key != "runner":  # a board always runs scripts in-process
            config[key] = value
    config.update(extra)
    return config
