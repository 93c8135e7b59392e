# The in-process runner (SPEC section 8) driven directly: a fake job records what the
# runner reports, scripts are real files in a scratch folder. Plain functions and asserts:
# pytest collects them, and tests/run_mpy.py runs them under MicroPython (no tempfile there,
# so the scratch folder is made and removed by hand).
import os
import time

from microcgi.compat import ticks_add, ticks_diff, ticks_ms
from microcgi.inprocess import CallableRunner
from microcgi.runner import ScriptJob

HEAD = b"Content-Type: text/plain\r\n\r\n"
HEAD_SRC = 'HEAD = b"Content-Type: text/plain\\r\\n\\r\\n"\n'
DRIVE_LIMIT_MS = 5000  # only a bound to stop a hung test; no test takes near this


# -- fakes and helpers ------------------------------------------------------------------


class Job(ScriptJob):
    """A ScriptJob that records on_output / on_exit; on_output refuses data past `cap`."""

    def __init__(self, filename, environ=None, timeout_ms=10000, cap=None):
        cwd = filename[: filename.rfind("/")]
        ScriptJob.__init__(self, filename, "", {} if environ is None else environ, cwd, timeout_ms)
        self.cap = cap
        self.chunks = []
        self.exits = []
        self.logged = []

    def on_output(self, data):
        self.chunks.append(bytes(data))
        return self.cap is None or len(self.output()) <= self.cap

    def on_exit(self, outcome, detail=None):
        self.exits.append((outcome, detail))

    def log(self, msg):
        self.logged.append(msg)

    def output(self):
        return b"".join(self.chunks)


_serial = [0]


class Site:
    """A scratch folder for script files; remove() deletes everything it wrote."""

    def __init__(self):
        _serial[0] += 1
        base = "/tmp"
        try:
            os.stat(base)
        except OSError:  # a board: use the current folder
            base = "."
        self.dir = "%s/microcgi-test-inprocess-%d-%d" % (base, ticks_ms(), _serial[0])
        os.mkdir(self.dir)
        self.files = []

    def write(self, name, source):
        path = self.dir + "/" + name
        with open(path, "w") as f:
            f.write(source)
        if path not in self.files:
            self.files.append(path)
        return path

    def remove(self):
        for path in self.files:
            try:
                os.remove(path)
            except OSError:
                pass
        os.rmdir(self.dir)


def new_runner():
    lines = []
    return CallableRunner(log=lines.append), lines


def start(runner, job, body=(), end=True):
    handle = runner.start(job, None)
    for piece in body:
        handle.feed_body(piece)
    if end:
        handle.end_body()
    return handle


def drive(runner, job, limit_ms=DRIVE_LIMIT_MS):
    """Tick until the job reports its exit (or nothing is runnable); returns the exits."""
    deadline = ticks_add(ticks_ms(), limit_ms)
    while not job.exits and ticks_diff(deadline, ticks_ms()) > 0:
        if not runner.wants_cpu():
            break
        runner.tick(ticks_ms())
    return job.exits


def run_script(source, environ=None, body=(), timeout_ms=10000, cap=None):
    """Write source as a script, run it to the end; returns (job, log lines).

    The module is loaded before the job starts, so that compiling it (and the gc.collect()
    after, slow under pytest) does not eat into a short timeout.
    """
    site = Site()
    try:
        runner, lines = new_runner()
        path = site.write("s.py", source)
        try:
            runner.load(path)
        except Exception:  # noqa: BLE001 - a broken script: the job reports it
            pass
        job = Job(path, environ, timeout_ms, cap)
        start(runner, job, body)
        drive(runner, job)
        return job, lines
    finally:
        site.remove()


# -- plain main() -----------------------------------------------------------------------


def test_plain_main_output_and_exit():
    src = HEAD_SRC + (
        "def main(environ, stdin, stdout):\n"
        "    stdout.write(HEAD)\n"
        '    stdout.write(b"hello " + environ["QUERY_STRING"].encode())\n'
    )
    job, lines = run_script(src, {"QUERY_STRING": "name=ada"})
    assert job.exits == [("exit", 0)], job.exits
    assert job.output() == HEAD + b"hello name=ada", job.output()
    assert lines == []


def test_write_returns_length_and_accepts_bytearray():
    src = HEAD_SRC + (
        "def main(environ, stdin, stdout):\n"
        "    n = stdout.write(HEAD)\n"
        '    m = stdout.write(bytearray(b"abc"))\n'
        "    stdout.flush()\n"
        '    stdout.write(b"%d %d" % (n, m))\n'
    )
    job, _ = run_script(src)
    assert job.exits == [("exit", 0)], job.exits
    assert job.output() == HEAD + b"abc" + b"%d 3" % len(HEAD), job.output()


def test_body_delivered_to_stdin_after_end_body():
    src = HEAD_SRC + (
        "def main(environ, stdin, stdout):\n"
        "    first = stdin.read(1)\n"
        "    rest = stdin.read()\n"
        "    stdout.write(HEAD)\n"
        '    stdout.write(first + b"|" + rest + b"|" + stdin.read())\n'
    )
    site = Site()
    try:
        runner, _ = new_runner()
        job = Job(site.write("echo.py", src))
        handle = start(runner, job, [b"ab", bytearray(b"cd"), memoryview(b"ef")], end=False)
        # the script sees the whole body: it does not run before end_body()
        assert not runner.wants_cpu()
        runner.tick(ticks_ms())
        assert job.exits == [] and job.chunks == []
        handle.end_body()
        assert runner.wants_cpu()
        drive(runner, job)
        assert job.exits == [("exit", 0)], job.exits
        assert job.output() == HEAD + b"a|bcdef|", job.output()
        assert handle.backlog() == 0
    finally:
        site.remove()


def test_no_body_reads_empty():
    src = HEAD_SRC + (
        "def main(environ, stdin, stdout):\n"
        "    stdout.write(HEAD)\n"
        '    stdout.write(b"[" + stdin.read() + b"]")\n'
    )
    job, _ = run_script(src)
    assert job.output() == HEAD + b"[]", job.output()


# -- generators -------------------------------------------------------------------------


def test_generator_main_is_resumed_tick_by_tick():
    src = HEAD_SRC + (
        "def main(environ, stdin, stdout):\n"
        "    stdout.write(HEAD)\n"
        '    yield b"one "\n'
        '    yield b""\n'
        '    yield b"two "\n'
        '    stdout.write(b"three")\n'
    )
    site = Site()
    try:
        runner, _ = new_runner()
        job = Job(site.write("gen.py", src))
        start(runner, job)
        runner.tick(ticks_ms())
        # one tick ran the script up to its first yield, not to the end
        assert job.exits == [], job.exits
        assert job.output() == HEAD + b"one ", job.output()
        assert runner.wants_cpu()
        drive(runner, job)
        assert job.exits == [("exit", 0)], job.exits
        assert job.output() == HEAD + b"one two three", job.output()
        assert not runner.wants_cpu()
    finally:
        site.remove()


def test_two_generators_progress_side_by_side():
    src = HEAD_SRC + (
        "def main(environ, stdin, stdout):\n"
        "    stdout.write(HEAD)\n"
        "    for i in range(3):\n"
        '        environ["log"].append(environ["who"] + str(i))\n'
        '        yield environ["who"].encode()\n'
    )
    site = Site()
    try:
        runner, _ = new_runner()
        order = []
        a = Job(site.write("a.py", src), {"who": "a", "log": order})
        b = Job(site.write("b.py", src), {"who": "b", "log": order})
        start(runner, a)
        start(runner, b)
        runner.tick(ticks_ms())
        assert order == ["a0", "b0"], order
        drive(runner, a)
        drive(runner, b)
        assert order == ["a0", "b0", "a1", "b1", "a2", "b2"], order
        assert a.exits == [("exit", 0)] and b.exits == [("exit", 0)]
        assert a.output() == HEAD + b"aaa" and b.output() == HEAD + b"bbb"
    finally:
        site.remove()


def test_generator_exception_is_an_error():
    src = HEAD_SRC + (
        "def main(environ, stdin, stdout):\n"
        "    stdout.write(HEAD)\n"
        '    yield b"x"\n'
        '    raise KeyError("gone")\n'
    )
    job, lines = run_script(src)
    assert len(job.exits) == 1 and job.exits[0][0] == "error", job.exits
    assert "KeyError" in job.exits[0][1], job.exits
    assert job.output() == HEAD + b"x"
    assert [line for line in lines if "gone" in line], lines


# -- cooperative timeout ----------------------------------------------------------------


def test_timeout_at_write():
    src = HEAD_SRC + (
        "import time\n"
        "def main(environ, stdin, stdout):\n"
        "    stdout.write(HEAD)\n"
        '    stdout.write(b"partial")\n'
        "    time.sleep(0.3)\n"
        '    stdout.write(b"late")\n'
        '    environ["after"] = 1\n'
    )
    env = {}
    job, _ = run_script(src, env, timeout_ms=100)
    assert job.exits == [("timeout", None)], job.exits
    # what came before the deadline is kept; the write after it raised inside the script
    assert job.output() == HEAD + b"partial", job.output()
    assert "after" not in env


def test_timeout_at_resume():
    src = HEAD_SRC + (
        "def main(environ, stdin, stdout):\n"
        "    stdout.write(HEAD)\n"
        '    yield b"first"\n'
        '    environ["resumed"] = 1\n'
        '    yield b"second"\n'
    )
    site = Site()
    try:
        runner, _ = new_runner()
        env = {}
        path = site.write("slow.py", src)
        runner.load(path)
        job = Job(path, env, timeout_ms=100)
        start(runner, job)
        runner.tick(ticks_ms())
        assert job.output() == HEAD + b"first", job.output()
        time.sleep(0.3)  # the loop was busy elsewhere past the deadline
        drive(runner, job)
        assert job.exits == [("timeout", None)], job.exits
        assert "resumed" not in env  # stopped before the generator ran again
        assert job.output() == HEAD + b"first", job.output()
        assert not runner.wants_cpu()
    finally:
        site.remove()


def test_timeout_inside_generator_step():
    # the generator itself is slow: the value it yields past the deadline is not written
    src = HEAD_SRC + (
        "import time\n"
        "def main(environ, stdin, stdout):\n"
        "    stdout.write(HEAD)\n"
        "    time.sleep(0.3)\n"
        '    yield b"late"\n'
        '    environ["after"] = 1\n'
    )
    env = {}
    job, _ = run_script(src, env, timeout_ms=100)
    assert job.exits == [("timeout", None)], job.exits
    assert job.output() == HEAD, job.output()
    assert "after" not in env


def test_script_that_never_writes_again_is_not_interrupted():
    # the timeout is cooperative: a script that finishes without writing after the deadline
    # ends normally (documented in docs/scripts.md)
    src = HEAD_SRC + (
        "import time\n"
        "def main(environ, stdin, stdout):\n"
        '    stdout.write(HEAD + b"done")\n'
        "    time.sleep(0.3)\n"
    )
    job, _ = run_script(src, timeout_ms=100)
    assert job.exits == [("exit", 0)], job.exits
    assert job.output() == HEAD + b"done"


# -- output cap -------------------------------------------------------------------------


def test_over_cap_is_killed():
    src = HEAD_SRC + (
        "def main(environ, stdin, stdout):\n"
        "    stdout.write(HEAD)\n"
        "    for i in range(100):\n"
        '        stdout.write(b"x" * 100)\n'
        '        environ["writes"] = i + 1\n'
    )
    env = {}
    job, _ = run_script(src, env, cap=len(HEAD) + 250)
    assert job.exits == [("killed", "output cap")], job.exits
    # the third 100-byte write passed the cap and raised: the loop did not go on
    assert env.get("writes") == 2, env


def test_over_cap_in_generator_is_killed():
    src = HEAD_SRC + (
        "def main(environ, stdin, stdout):\n"
        "    stdout.write(HEAD)\n"
        "    while True:\n"
        '        yield b"y" * 64\n'
    )
    job, _ = run_script(src, cap=len(HEAD) + 200)
    assert job.exits == [("killed", "output cap")], job.exits


# -- errors -----------------------------------------------------------------------------


def test_exception_is_an_error_with_traceback_in_the_log():
    src = HEAD_SRC + (
        "def helper(x):\n"
        '    raise ValueError("boom %d" % x)\n'
        "def main(environ, stdin, stdout):\n"
        "    stdout.write(HEAD)\n"
        "    helper(7)\n"
    )
    job, lines = run_script(src)
    assert len(job.exits) == 1, job.exits
    outcome, detail = job.exits[0]
    assert outcome == "error", job.exits
    assert "ValueError" in detail and "boom 7" in detail, detail
    # a traceback, every line prefixed with the script's name
    assert lines and all(line.startswith("s.py: ") for line in lines), lines
    assert "Traceback" in lines[0], lines
    assert [line for line in lines if "helper" in line], lines
    assert lines[-1].endswith("ValueError: boom 7"), lines


def test_broken_scripts_are_errors_and_the_runner_goes_on():
    cases = [
        ("syntax", "def main(environ, stdin, stdout)\n    pass\n", "SyntaxError"),
        ("no main", "x = 1\n", "main"),
        ("import", "import no_such_module_anywhere\ndef main(e, i, o):\n    pass\n", "Error"),
        ("not callable", "main = 3\n", "Error"),
    ]
    site = Site()
    try:
        runner, _ = new_runner()
        for label, src, word in cases:
            job = Job(site.write("bad.py", src))
            start(runner, job)
            drive(runner, job)
            assert len(job.exits) == 1 and job.exits[0][0] == "error", (label, job.exits)
            assert word in job.exits[0][1], (label, job.exits)
            # the runner still runs a good script afterwards
            ok = Job(site.write("ok.py", HEAD_SRC + "def main(e, i, o):\n    o.write(HEAD)\n"))
            start(runner, ok)
            drive(runner, ok)
            assert ok.exits == [("exit", 0)] and ok.output() == HEAD, (label, ok.exits)
    finally:
        site.remove()


def test_missing_file_is_an_error():
    site = Site()
    try:
        runner, _ = new_runner()
        job = Job(site.dir + "/missing.py")
        start(runner, job)
        drive(runner, job)
        assert len(job.exits) == 1 and job.exits[0][0] == "error", job.exits
    finally:
        site.remove()


def test_memory_error_is_memory_and_the_runner_goes_on():
    src = HEAD_SRC + (
        "def main(environ, stdin, stdout):\n"
        "    stdout.write(HEAD)\n"
        "    hoard = [bytearray(256) for i in range(8)]\n"
        "    hoard.append(bytearray(1 << 62))\n"  # fails on both interpreters
        '    environ["after"] = 1\n'
    )
    site = Site()
    try:
        runner, lines = new_runner()
        env = {}
        job = Job(site.write("hog.py", src), env)
        start(runner, job)
        drive(runner, job)
        assert job.exits == [("memory", None)], job.exits
        assert "after" not in env
        ok = Job(site.write("ok.py", HEAD_SRC + "def main(e, i, o):\n    o.write(HEAD)\n"))
        start(runner, ok)
        drive(runner, ok)
        assert ok.exits == [("exit", 0)], ok.exits
    finally:
        site.remove()


def test_memory_error_in_generator():
    src = HEAD_SRC + (
        "def main(environ, stdin, stdout):\n"
        "    stdout.write(HEAD)\n"
        '    yield b"a"\n'
        "    yield bytes(bytearray(1 << 62))\n"
    )
    job, _ = run_script(src)
    assert job.exits == [("memory", None)], job.exits
    assert job.output() == HEAD + b"a"


# -- module cache and reload ------------------------------------------------------------

COUNTER_SRC = HEAD_SRC + (
    'VERSION = b"%s"\n'
    "CALLS = []\n"
    "def main(environ, stdin, stdout):\n"
    "    CALLS.append(1)\n"
    "    stdout.write(HEAD)\n"
    '    stdout.write(VERSION + b" %%d" %% len(CALLS))\n'
)


def _run_once(runner, path):
    job = Job(path)
    start(runner, job)
    drive(runner, job)
    assert job.exits == [("exit", 0)], job.exits
    return job.output()[len(HEAD) :]


def test_module_is_cached_between_runs():
    site = Site()
    try:
        runner, _ = new_runner()
        path = site.write("count.py", COUNTER_SRC % "one")
        # the module's top level ran once: its CALLS list lives on between requests
        assert _run_once(runner, path) == b"one 1"
        assert _run_once(runner, path) == b"one 2"
        assert _run_once(runner, path) == b"one 3"
    finally:
        site.remove()


def test_reload_when_size_changes():
    site = Site()
    try:
        runner, _ = new_runner()
        path = site.write("count.py", COUNTER_SRC % "one")
        assert _run_once(runner, path) == b"one 1"
        site.write("count.py", COUNTER_SRC % "three")
        assert _run_once(runner, path) == b"three 1"
        assert _run_once(runner, path) == b"three 2"
    finally:
        site.remove()


def test_reload_when_only_mtime_changes():
    site = Site()
    try:
        runner, _ = new_runner()
        path = site.write("count.py", COUNTER_SRC % "one")
        before = os.stat(path)[8]
        assert _run_once(runner, path) == b"one 1"
        site.write("count.py", COUNTER_SRC % "two")  # the same size
        if os.stat(path)[8] == before:
            if hasattr(os, "utime"):  # CPython
                os.utime(path, (before + 10, before + 10))
            else:  # MicroPython: no utime; mtimes are whole seconds
                time.sleep(1.1)
                site.write("count.py", COUNTER_SRC % "two")
        assert os.stat(path)[8] != before
        assert _run_once(runner, path) == b"two 1"
    finally:
        site.remove()


# -- cancel -----------------------------------------------------------------------------


def test_cancel_closes_generator_and_reports_nothing():
    src = HEAD_SRC + (
        "def main(environ, stdin, stdout):\n"
        "    stdout.write(HEAD)\n"
        "    try:\n"
        "        while True:\n"
        '            yield b"tick "\n'
        "    finally:\n"
        '        environ["closed"] = 1\n'
    )
    site = Site()
    try:
        runner, _ = new_runner()
        env = {}
        job = Job(site.write("forever.py", src), env)
        handle = start(runner, job)
        runner.tick(ticks_ms())
        runner.tick(ticks_ms())
        produced = job.output()
        assert produced.startswith(HEAD + b"tick "), produced
        handle.cancel()
        assert env.get("closed") == 1  # the generator's finally ran
        runner.tick(ticks_ms())
        assert job.output() == produced  # nothing more
        assert job.exits == []  # like SubprocessRunner: no on_exit after cancel
        assert not runner.wants_cpu()
        handle.cancel()  # twice is harmless
    finally:
        site.remove()


def test_cancel_before_the_body_ends_never_runs_the_script():
    src = 'def main(environ, stdin, stdout):\n    environ["ran"] = 1\n'
    site = Site()
    try:
        runner, _ = new_runner()
        env = {}
        job = Job(site.write("never.py", src), env)
        handle = start(runner, job, [b"part"], end=False)
        handle.cancel()
        handle.feed_body(b"more")
        handle.end_body()
        runner.tick(ticks_ms())
        assert "ran" not in env and job.exits == [] and job.chunks == []
        assert not runner.wants_cpu()
    finally:
        site.remove()


def test_close_stops_running_generators():
    src = HEAD_SRC + (
        "def main(environ, stdin, stdout):\n"
        "    stdout.write(HEAD)\n"
        "    try:\n"
        "        while True:\n"
        '            yield b"."\n'
        "    finally:\n"
        '        environ["closed"] = 1\n'
    )
    site = Site()
    try:
        runner, _ = new_runner()
        env = {}
        job = Job(site.write("forever.py", src), env)
        start(runner, job)
        runner.tick(ticks_ms())
        runner.close()
        assert env.get("closed") == 1
        assert not runner.wants_cpu()
    finally:
        site.remove()
