"""The data files microcgi_host needs, found with importlib.resources.

They are package data of the installed project (pyproject.toml [tool.setuptools]), so
they are there whether microcgi runs from this checkout (`pip install -e .`), from a
wheel or from an sdist:

    microcgi_host.profiles     boards/            the board profiles (`--board NAME`)
    microcgi_host.board_stubs  host/board_stubs/  the emulator's stand-in modules
    microcgi_host.demo         examples/www/      the demo site (`microcgi demo`)

Each is a folder on the filesystem (the emulator and the server open its files by path).
setuptools' editable install cannot import a data package whose folder lies outside its
parent's (boards/ is not under host/): there the checkout's folder is used.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


def _folder(package: str, marker: str, checkout: str) -> Path:
    """The folder of PACKAGE (a package of data, without __init__.py), as a Path; in an
    editable install, the checkout's folder CHECKOUT (relative to the repository).

    importlib.resources gives a namespace package as a MultiplexedPath, which is no
    os.PathLike; one of its files (MARKER) is a real path, whose parent is the folder."""
    try:
        root = resources.files(package)
    except ModuleNotFoundError:
        return CHECKOUT / checkout
    if isinstance(root, Path):
        return root
    return Path(str(root.joinpath(marker))).parent


def profiles_dir() -> Path:
    """The folder of the board profiles (boards/*.json)."""
    return _folder("microcgi_host.profiles", "README.md", "boards")


def stubs_dir() -> Path:
    """The folder of the emulator's stand-ins for the board-only modules."""
    return _folder("microcgi_host.board_stubs", "network.py", "host/board_stubs")


def demo_dir() -> Path:
    """The demo site's document root (examples/www)."""
    return _folder("microcgi_host.demo", "index.py", "examples/www")
