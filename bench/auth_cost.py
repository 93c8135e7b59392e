"""What Basic authentication costs (issue 14): one password verification and the heap.

    .venv/bin/python bench/auth_cost.py [--iterations N] [--runs 20]

Under the real MicroPython interpreter with the heap of boards/esp32.json
(`micropython -X heapsize=111936`), microcgi.passwords compiled with mpy-cross as deploy
compiles it: milliseconds per verification of a `$pbkdf2-sha256$N$...` hash (PBKDF2 in
Python over hashlib.sha256, as on a board), the heap the auth module keeps while it is
configured, and the heap a verification needs while it runs. On CPython: the same
verification with hashlib.pbkdf2_hmac (C), and with the pure-Python PBKDF2. Prints a
markdown table; docs/security.md quotes it.

The unix port on a desktop x86-64 core is much faster than an ESP32 (240 MHz Xtensa LX6):
docs/security.md gives the factor it assumes and the estimate for a board.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "firmware"))
sys.path.insert(0, str(REPO))

from bench.heap import MICROPYTHON, MPY_CROSS, mpy_cross  # noqa: E402
from microcgi import passwords  # noqa: E402

ESP32_HEAP = json.loads((REPO / "boards" / "esp32.json").read_text())["heap_bytes"]

# Run by micropython in a folder holding lib/microcgi/*.mpy: the times and the heap.
PROBE = """
import gc, sys, time
sys.path.insert(0, "lib")
import hashlib, os
from microcgi import compat, errors  # a server has these already
gc.collect()
base = gc.mem_alloc()
from microcgi import auth
gc.collect()
resident = gc.mem_alloc() - base
base = gc.mem_alloc()
from microcgi import passwords
gc.collect()
loaded = gc.mem_alloc() - base
stored = passwords.make_hash(b"correct horse", %(n)d, b"0123456789abcdef")
small = passwords.make_hash(b"correct horse", 11, b"0123456789abcdef")
# collections as a board's server has them (microcgi.startup: after free/8 bytes)
gc.collect()
gc.threshold(gc.mem_free() // 8)
runs = []
for i in range(%(runs)d):
    gc.collect()
    t = time.ticks_us()
    ok = passwords.verify(b"correct horse", stored)
    runs.append(time.ticks_diff(time.ticks_us(), t))
    assert ok
gc.threshold(-1)
# bytes allocated per iteration (garbage, collected as the heap needs): 11 iterations
# against 1, without a collection in between
churn = []
for stored in (small, passwords.make_hash(b"correct horse", 1, b"0123456789abcdef")):
    gc.collect()
    gc.disable()
    free = gc.mem_free()
    passwords.verify(b"correct horse", stored)
    churn.append(free - gc.mem_free())
    gc.enable()
runs.sort()
print("RESULT", resident, loaded, (churn[0] - churn[1]) // 10, runs[0], runs[len(runs) // 2],
      runs[-1])
"""


def micropython(n, runs):
    with tempfile.TemporaryDirectory() as tmp:
        lib = Path(tmp) / "lib" / "microcgi"
        for name in ("__init__", "compat", "errors", "auth", "passwords"):
            mpy_cross(REPO / "firmware" / "microcgi" / (name + ".py"), lib / (name + ".mpy"))
        (Path(tmp) / "probe.py").write_text(PROBE % {"n": n, "runs": runs})
        proc = subprocess.run(
            [MICROPYTHON, "-X", "heapsize=%d" % ESP32_HEAP, "probe.py"],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=600,
            env=dict(os.environ, MICROPYPATH=".frozen"),
        )
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT")]
    if proc.returncode != 0 or not line:
        raise SystemExit("micropython failed:\n" + proc.stdout + proc.stderr)
    resident, loaded, churn, fastest, median, slowest = map(int, line[0].split()[1:])
    return resident, loaded, churn, fastest / 1000, median / 1000, slowest / 1000


def cpython(n, runs, pure):
    stored = passwords.make_hash(b"correct horse", n, b"0123456789abcdef")
    parse = passwords.parse(stored)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        if pure:
            ok = passwords.pbkdf2_sha256_pure(b"correct horse", parse[1], n) == parse[2]
        else:
            ok = passwords.verify(b"correct horse", stored)
        times.append((time.perf_counter() - t) * 1000)
        assert ok
    times.sort()
    return times[0], times[len(times) // 2], times[-1]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=passwords.DEFAULT_ITERATIONS)
    p.add_argument("--runs", type=int, default=20)
    args = p.parse_args()
    n = args.iterations
    if not (MICROPYTHON and MPY_CROSS):
        raise SystemExit("needs micropython and mpy-cross in the venv")
    resident, loaded, churn, *mp = micropython(n, args.runs)
    print(
        "PBKDF2-HMAC-SHA256, %d iterations, %d runs each (fastest / median / slowest)"
        % (
            n,
            args.runs,
        )
    )
    print()
    print("| interpreter | ms per verification |")
    print("|---|---|")
    print(
        "| MicroPython unix, -X heapsize=%d (esp32), gc.threshold(free/8) | %.1f / %.1f / %.1f |"
        % (ESP32_HEAP, *mp)
    )
    print(
        "| CPython %s, hashlib.pbkdf2_hmac | %.2f / %.2f / %.2f |"
        % (
            sys.version.split()[0],
            *cpython(n, args.runs, False),
        )
    )
    print("| CPython, the pure-Python PBKDF2 | %.1f / %.1f / %.1f |" % cpython(n, args.runs, True))
    print()
    print(
        "MicroPython heap: microcgi.auth %d bytes (kept while auth is configured), "
        "microcgi.passwords %d bytes (loaded for a verification); %d bytes of garbage per "
        "iteration" % (resident, loaded, churn)
    )


if __name__ == "__main__":
    main()
