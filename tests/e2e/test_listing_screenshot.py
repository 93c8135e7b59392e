"""The directory listing as a browser shows it (issue 13): headless Chromium renders a
folder of many entries (folders, long names, big sizes) at a phone's width and at a
desktop's, into PNG files under tests/artifacts/ (gitignored) for a person to look at. No
pixel is asserted: only that the pages rendered, at the asked sizes.
"""

import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest
from helpers import request

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium for the screenshots (apt-get install chromium)"
)

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
# a phone's screen, the whole page at a phone's width, a desktop's screen
SIZES = {"phone": (390, 844), "phone-page": (390, 2400), "desktop": (1280, 800)}
GIB = 1024**3


def _folder(root):
    """A folder as people have them: a few subfolders, long and odd names, tiny and huge
    files (sparse: no disk used), names that sort naturally."""
    root.mkdir()
    for name in ("Photos", "backups", "firmware-images", "a folder with a rather long name"):
        (root / name).mkdir()
    files = {
        "README.md": 1_234,
        "index-of-everything-we-ever-measured-on-the-esp32-board-2026-12-04.csv": 48_213,
        "log2.txt": 310,
        "log10.txt": 12,
        "Zebra.txt": 0,
        "a & b <c>.txt": 77,
        "grüße-und-ünïcödé.txt": 4_096,
        "movie.mkv": 4 * GIB + 700 * 1024**2,
        "disk.img": 64 * GIB,
        "firmware-v1.29.0-esp32-spiram-20261204.bin": 1_671_168,
        "noextension": 5_000_000,
        "VID_20261204_170000_" + "0123456789" * 8 + ".mp4": 900 * 1024**2,
    }
    for name, size in files.items():
        with open(root / name, "wb") as f:
            f.truncate(size)
    for i in range(1, 21):
        (root / ("photo-%d.jpg" % i)).write_bytes(b"\xff" * (i * 37_000))
    return root


def _png_size(path):
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG: %s" % path
    return struct.unpack(">II", data[16:24])


def test_listing_screenshots(serve, tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    _folder(root / "shared")
    server = serve(root)
    status, _, body = request(server.port, "GET", "/shared/")
    assert status == 200 and b"movie.mkv" in body
    ARTIFACTS.mkdir(exist_ok=True)
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
    for label, (width, height) in SIZES.items():
        out = ARTIFACTS / ("listing-%s.png" % label)
        if out.exists():
            out.unlink()
        argv = [
            CHROMIUM,
            "--headless",
            "--no-sandbox",  # (the tests may run as root)
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--user-data-dir=%s" % profile,
            "--window-size=%d,%d" % (width, height),
            "--screenshot=%s" % out,
            server.url("/shared/"),
        ]
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=120, env=dict(os.environ, HOME=profile)
        )
        assert result.returncode == 0 and out.exists(), result.stderr[-2000:]
        assert _png_size(out) == (width, height)
