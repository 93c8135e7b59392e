"""The firmware in a ROM partition (issue 15): `deploy --romfs` to the emulated esp32
whose firmware has one (boards/esp32-romfs.json), the board serving from it, `mpremote
romfs query` finding the image, a power cycle keeping it, a redeploy of the site leaving
it alone; and the clear refusals: no partition, one too small, a --no-romfs deploy that
the ROMFS would shadow.
"""

import hashlib
import re
import shutil

import pytest
from emulated import (
    MISSING,
    PASSWORD,
    REPO,
    SKIP_REASON,
    SSID,
    EmulatedBoard,
    copies,
    deploy,
    free_port,
    mpremote,
)
from helpers import request

pytestmark = pytest.mark.skipif(bool(MISSING), reason=SKIP_REASON)

ROMFS_BYTES = 131072  # boards/esp32-romfs.json romfs_bytes
WIFI = f"{SSID}:{PASSWORD}"

# Run on the board: the heap that importing the resident modules takes, from PATH.
IMPORT_HEAP = """
import gc, sys
sys.path[:] = [%r]
for _m in [m for m in sys.modules if m.startswith('microcgi')]:
    del sys.modules[_m]
gc.collect()
_a = gc.mem_alloc()
import microcgi.server, microcgi.http11, microcgi.gateway, microcgi.static, microcgi.inprocess
gc.collect()
print('import-heap', gc.mem_alloc() - _a, microcgi.server.__file__)
"""


@pytest.fixture
def boards(tmp_path):
    started = []

    def start(workdir, *args, profile="esp32-romfs"):
        b = EmulatedBoard(tmp_path / workdir, "--wifi", WIFI, *args, profile=profile)
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


@pytest.fixture
def site(tmp_path):
    path = tmp_path / "site"
    shutil.copytree(REPO / "examples" / "www", path)
    return path


def romfs_query(device):
    r = mpremote(device, "romfs", "query")
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def image_size(query):
    """The size `mpremote romfs query` reads from the image's header (its payload: the
    whole image less the header's few bytes), or None."""
    found = re.search(r"ROMFS image size: (\d+)", query)
    return int(found.group(1)) if found else None


def import_heap(device, folder):
    r = mpremote(device, "exec", IMPORT_HEAP % folder)
    assert r.returncode == 0, r.stdout + r.stderr
    found = re.search(r"import-heap (\d+) (\S+)", r.stdout)
    assert found, r.stdout
    return int(found.group(1)), found.group(2)


def test_romfs_deploy_serves_survives_a_power_cycle_and_a_site_redeploy(boards, site):
    b = boards("board")
    assert f"romfs: a ROM partition of {ROMFS_BYTES} bytes" in b.output()
    # the heap the interpreter has: the profile's, the emulator's own code, the partition
    overhead = int(re.search(r"heap 111936 bytes \(\+(\d+) ", b.output()).group(1))
    r = mpremote(b.serial, "exec", "import gc; print(gc.mem_free() + gc.mem_alloc())")
    total = int(r.stdout.split()[-1])
    assert 111936 + overhead + ROMFS_BYTES - 4096 < total <= 111936 + overhead + ROMFS_BYTES
    assert "Not a valid ROMFS" in romfs_query(b.serial)  # erased: all 0xff

    port = free_port()
    dry = deploy(b.serial, site, "--http-port", str(port), "--dry-run", board="esp32-romfs")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert re.search(
        r"romfs: the firmware's ROMFS image \(\d+ bytes, 131072 in the ROM "
        r"partition\) would be written to /rom",
        dry.stdout,
    ), dry.stdout
    assert "would copy lib/" not in dry.stdout and "would copy main.py" in dry.stdout
    assert "Not a valid ROMFS" in romfs_query(b.serial)  # nothing written
    first = deploy(b.serial, site, "--http-port", str(port), "--romfs", board="esp32-romfs")
    assert first.returncode == 0, first.stdout + first.stderr
    size = int(re.search(r"ROMFS image \((\d+) bytes, 131072 in", first.stdout).group(1))
    assert "romfs: written" in first.stdout
    copied = copies(first.stdout)
    assert "main.py" in copied and "config.json" in copied and "www/index.py" in copied
    assert not [path for path in copied if path.startswith("lib/")]  # the firmware: in ROM
    assert not (b.flash / "lib").exists()
    status, _, body = request(port, "GET", "/", timeout=30)
    assert status == 200 and b"<h1>micro<span>cgi</span></h1>" in body
    status, _, body = request(port, "GET", "/hello.py?name=rom")
    assert (status, body) == (200, b"hello rom\n")
    assert size - 8 <= image_size(romfs_query(b.serial)) < size
    image = (b.flash / ".romfs").read_bytes()
    assert len(image) == ROMFS_BYTES and image.startswith(b"\xd2\xcd\x31")

    # The bytecode runs in place: importing the resident modules from /rom leaves much
    # less in the heap than from .mpy files on the filesystem (the same files).
    # the same .mpy files: the image's, copied from /rom to the filesystem's /mpy
    (b.flash / "mpy").mkdir()
    r = mpremote(b.serial, "cp", "-r", ":/rom/lib/microcgi", str(b.flash / "mpy"))
    assert r.returncode == 0, r.stdout + r.stderr
    from_rom, where = import_heap(b.serial, "/rom/lib")
    assert where == "/rom/lib/microcgi/server.mpy"
    from_mpy, where = import_heap(b.serial, "/mpy")
    assert where == "/mpy/microcgi/server.mpy"
    assert from_rom < 0.7 * from_mpy, (from_rom, from_mpy)
    shutil.rmtree(b.flash / "mpy")

    # power off, then on: the partition keeps the image, main.py serves from it
    b.stop()
    b = boards("board")
    assert b.wait_for_match(r"listening on http://127\.0\.0\.1:%d/" % port, 60), b.output()
    status, _, body = request(port, "GET", "/", timeout=30)
    assert status == 200 and b"<h1>micro<span>cgi</span></h1>" in body
    assert size - 8 <= image_size(romfs_query(b.serial)) < size

    # a redeploy with one new site file: the ROM partition is not written again
    (site / "added.txt").write_text("added\n")
    before = (b.flash / ".romfs").stat().st_mtime_ns
    digest = hashlib.sha256((b.flash / ".romfs").read_bytes()).hexdigest()
    second = deploy(b.serial, site, "--http-port", str(port), board="esp32-romfs")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "is on the board already: unchanged" in second.stdout
    assert "romfs: writing" not in second.stdout
    assert copies(second.stdout) == ["www/added.txt"]
    assert (b.flash / ".romfs").stat().st_mtime_ns == before
    assert hashlib.sha256((b.flash / ".romfs").read_bytes()).hexdigest() == digest
    assert request(port, "GET", "/added.txt", timeout=30)[2] == b"added\n"

    # --no-romfs would put the firmware where the ROMFS copy shadows it: refused
    third = deploy(b.serial, site, "--http-port", str(port), "--no-romfs", board="esp32-romfs")
    assert third.returncode == 1
    assert "the board's ROMFS holds microcgi (/rom/lib/microcgi)" in third.stderr
    assert f"microcgi is running at http://127.0.0.1:{port}/, serving its previous" in (
        third.stdout
    )


def test_a_deploy_to_the_filesystem_moves_to_rom_when_the_board_has_a_partition(boards, site):
    """A board first deployed with --no-romfs, then by default: the firmware goes to the
    ROM partition and lib/microcgi, now stale, leaves the filesystem."""
    b = boards("board")
    port = free_port()
    first = deploy(b.serial, site, "--http-port", str(port), "--no-romfs", board="esp32-romfs")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "romfs: a ROM partition of 131072 bytes, not used (--no-romfs)" in first.stdout
    assert (b.flash / "lib" / "microcgi" / "server.mpy").is_file()
    second = deploy(b.serial, site, "--http-port", str(port), board="esp32-romfs")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "romfs: written" in second.stdout
    assert "delete lib/microcgi/server.mpy" in second.stdout
    assert not list((b.flash / "lib").rglob("*.mpy"))
    assert request(port, "GET", "/", timeout=30)[0] == 200


def test_romfs_refused_without_a_partition_or_with_one_too_small(boards, site):
    plain = boards("plain", profile="esp32")  # stock ESP32_GENERIC: no ROMFS
    assert "romfs: none" in plain.output()
    r = mpremote(plain.serial, "romfs", "query")
    assert "ROMFS is not enabled on this device" in r.stdout
    port = free_port()
    absent = deploy(plain.serial, site, "--http-port", str(port), "--romfs")
    assert absent.returncode == 1
    assert "--romfs: the board at %s has no ROMFS" % plain.serial in absent.stderr
    assert not (plain.flash / "main.py").exists()  # nothing was copied

    small = boards("small", "--romfs-size", "16384")
    assert "romfs: a ROM partition of 16384 bytes" in small.output()
    for flags in (["--romfs"], []):  # asked for, or by itself (the board has one)
        r = deploy(small.serial, site, "--http-port", str(port), *flags, board="esp32-romfs")
        assert r.returncode == 1
        said = re.search(
            r"deploy: ROM partition too small: the firmware's ROMFS image is (\d+) bytes, "
            r"the board's ROM partition holds 16384: deploy with --no-romfs",
            r.stderr,
        )
        assert said and int(said.group(1)) > 16384, r.stderr
        assert not (small.flash / "main.py").exists()
    assert "Not a valid ROMFS" in romfs_query(small.serial)  # not written
