"""Measurements: wrk load, process-tree RSS, response checks, and the spawn limit helper."""

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from servers import HOST

# wrk calls done() once, after all its threads: print one machine-readable line (times in µs).
# errors.status counts responses that are not 2xx/3xx.
WRK_LUA = """\
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH-JSON {\\"requests\\": %d, \\"duration_us\\": %d, \\"bytes\\": %d, " ..
    "\\"p50_us\\": %d, \\"p90_us\\": %d, \\"p99_us\\": %d, \\"max_us\\": %d, " ..
    "\\"connect\\": %d, \\"read\\": %d, \\"write\\": %d, \\"status\\": %d, \\"timeout\\": %d}\\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""

SPAWNLIMIT = Path(__file__).resolve().parent / "spawnlimit.py"


def write_wrk_script(directory):
    path = Path(directory) / "report.lua"
    path.write_text(WRK_LUA)
    return str(path)


def run_wrk(wrk, lua, port, path, conns, seconds, scheme="http"):
    """One wrk run against http://127.0.0.1:port/path (or https); returns a result dict.

    1 connection: `-t1 -c1`; more: `-t2 -cN` (two load threads on the 2-core machine).
    Bounded: wrk stops itself after `seconds`, and is killed 30 s after that.
    """
    threads = 1 if conns == 1 else 2
    argv = [wrk, f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--timeout", "5s", "--latency"]
    argv += ["-s", lua, f"{scheme}://{HOST}:{port}{path}"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH-JSON "):
            raw = json.loads(line[len("BENCH-JSON ") :])
            break
    else:
        raise RuntimeError(f"wrk printed no result: {proc.stdout[-300:]} {proc.stderr[-300:]}")
    seconds_run = raw["duration_us"] / 1e6
    return {
        "rps": raw["requests"] / seconds_run if seconds_run else 0.0,
        "requests": raw["requests"],
        "duration_s": round(seconds_run, 3),
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "bytes": raw["bytes"],
        # wrk counts a close-delimited response's EOF as a read error (busybox CGI): the
        # response is still counted; "status" (non-2xx/3xx) and "timeout" are real failures.
        "errors": {k: raw[k] for k in ("connect", "read", "write", "status", "timeout")},
    }


def tree_pids(root_pid):
    """root_pid and all its descendants, from /proc/*/stat."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain spaces and parentheses.
        ppid = int(stat[stat.rfind(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    pids, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, ()))
    return pids


def tree_rss_kib(root_pid):
    """Sum of VmRSS (KiB) over root_pid and its descendants; processes that vanish count 0."""
    total = 0
    for pid in tree_pids(root_pid):
        try:
            with open(f"/proc/{pid}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"VmRSS:"):
                        total += int(line.split()[1])
                        break
        except (OSError, ValueError):
            continue
    return total


class RssSampler:
    """Samples tree_rss_kib(pid) every `interval` s in a thread while the `with` block runs."""

    def __init__(self, pid, interval=0.2):
        self.pid, self.interval = pid, interval
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(self.interval):
            self.samples.append(tree_rss_kib(self.pid))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def peak_kib(self):
        return max(self.samples, default=0)


def _cpu_times():
    """(busy, total) jiffies over all CPUs, from the first line of /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def wait_quiet(max_wait, threshold=0.2, window=0.25):
    """Wait (at most `max_wait` s) for a `window` during which the machine's CPUs are less
    than `threshold` busy: other people's jobs on a shared machine skew a run.

    Returns (seconds waited, whether it was quiet).
    """
    start = time.monotonic()
    while True:
        busy0, total0 = _cpu_times()
        time.sleep(window)
        busy1, total1 = _cpu_times()
        quiet = total1 > total0 and (busy1 - busy0) / (total1 - total0) < threshold
        waited = time.monotonic() - start
        if quiet or waited >= max_wait:
            return round(waited, 2), quiet


def check_response(port, path, expected):
    """GET path once; returns None when the response is right, else what was wrong.

    `expected` is the exact body (bytes) or its length (int).
    """
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
    except (OSError, http.client.HTTPException) as exc:
        return f"GET {path}: {type(exc).__name__}: {exc}"
    finally:
        conn.close()
    if resp.status != 200:
        return f"GET {path}: status {resp.status} {body[:80]!r}"
    if isinstance(expected, int) and len(body) != expected:
        return f"GET {path}: {len(body)} bytes, expected {expected}"
    if isinstance(expected, bytes) and body != expected:
        return f"GET {path}: body {body[:80]!r}, expected {expected!r}"
    return None


def spawn_limit(argv, parallel, seconds):
    """Run bench/spawnlimit.py: spawns/s of `argv` with no HTTP (see that file)."""
    cmd = [sys.executable, str(SPAWNLIMIT), "--seconds", str(seconds), "--parallel"]
    cmd += [str(parallel), "--", *argv]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    if proc.returncode != 0:
        raise RuntimeError(f"spawnlimit.py failed: {proc.stderr.strip()[-300:]}")
    return json.loads(proc.stdout)
