"""SubprocessRunner: flow control in both directions, the two deadlines, escaped
descendants, the cap on scripts (docs/design.md, "Scripts: ScriptJob and Runner").

Real processes, driven by the small real poll loop of test_subprocess_runner.py. Waits are
for things a blocked script cannot do (finish, write a file) or generous bounds on things
it must do; no test depends on how fast the machine is.
"""

import hashlib
import os
import sys
import tempfile
import time

import pytest
from test_subprocess_runner import (
    FakeJob,
    Loop,
    assert_no_children,
    gone,
    py,
    read_pid,
    settle,
    sh,
)

from microcgi.errors import HTTPError
from microcgi_host.subprocess_runner import READ_SIZE, SubprocessRunner


@pytest.fixture
def loop():
    return Loop()


@pytest.fixture
def runner():
    r = SubprocessRunner()
    yield r
    r.close()
    assert not r.busy()


def spin(runner, loop, seconds):
    """Run the loop for at least this long (for what must NOT happen meanwhile)."""
    end = time.monotonic() + seconds
    loop.run(runner, lambda: time.monotonic() >= end)


# -- pause() and resume(): output flow control ---------------------------------------------


def test_pause_stops_reading_and_the_script_blocks_until_resume(tmp_path, runner, loop):
    done = tmp_path / "done"
    job = py(
        tmp_path,
        "import sys\n"
        "for i in range(20000):\n"
        "    sys.stdout.write('%%07d' %% i + 'x' * 92 + '\\n')\n"  # 100 bytes a line: 2 MB
        "sys.stdout.flush()\n"
        "open(%r, 'w').close()\n" % str(done),
        timeout_ms=300,
    )
    handle = None
    calls = []

    def on_output(data):
        calls.append(len(data))
        job.output += data
        if len(calls) == 1:
            handle.pause()  # the client is behind
        return True

    job.on_output = on_output
    handle = runner.start(job, loop)
    loop.run(runner, lambda: calls)
    # Paused from inside on_output: no further read in the same event, stdout unpolled.
    assert calls == [len(job.output)] and len(job.output) <= READ_SIZE
    assert handle._stdout not in loop.handlers
    # 2 MB cannot fit in a pipe: the script is stuck in write() for as long as the pause
    # lasts, and the no-progress deadline (0.3 s) does not run meanwhile.
    spin(runner, loop, 1.5)
    assert len(calls) == 1
    assert job.exits == []
    assert not done.exists()
    handle.resume()
    loop.run(runner, lambda: job.exits)
    assert job.exits == [("exit", 0)]
    assert done.exists()
    assert job.output == b"".join(b"%07d" % i + b"x" * 92 + b"\n" for i in range(20000))


def test_paused_script_that_exits_is_reported_after_resume(tmp_path, runner, loop):
    job = FakeJob(sh(tmp_path, "echo one\nexit 4\n"))
    handle = runner.start(job, loop)
    handle.pause()  # before anything was read
    spin(runner, loop, 0.5)
    assert job.exits == [] and job.output == b""
    handle.resume()
    loop.run(runner, lambda: job.exits)
    assert (job.exits, job.output) == ([("exit", 4)], b"one\n")
    assert loop.handlers == {}


def test_max_time_runs_while_paused(tmp_path, runner, loop):
    job = py(tmp_path, "import sys\nsys.stdout.write('x' * 2000000)\n", timeout_ms=60000)
    job.max_time_ms = 500
    handle = runner.start(job, loop)
    handle.pause()
    loop.run(runner, lambda: job.exits)
    assert job.exits == [("timeout", "max_time")]
    settle(runner, loop)
    assert gone(handle.pid)
    assert_no_children()


# -- the no-progress deadline and max_time_ms -------------------------------------------------


def test_timeout_is_time_without_output(tmp_path, runner, loop):
    # 40 lines 0.05 s apart: 2 s in all, never 1 s without output.
    job = py(
        tmp_path,
        "import sys, time\nfor i in range(40):\n    print(i, flush=True)\n    time.sleep(0.05)\n",
        timeout_ms=1000,
    )
    handle = runner.start(job, loop)
    loop.run(runner, lambda: job.exits)
    assert job.exits == [("exit", 0)]
    assert job.output.split() == [b"%d" % i for i in range(40)]
    assert handle.backlog() == 0


def test_timeout_counts_body_taken_as_progress(tmp_path, runner, loop):
    # Silent on stdout, but it takes 64 KiB of its body every 0.05 s: 20 such reads, 1 s
    # and more in all, never 0.6 s without progress.
    size = 20 * 65536
    job = py(
        tmp_path,
        "import sys, time, hashlib\n"
        "h = hashlib.sha256()\n"
        "while True:\n"
        "    time.sleep(0.05)\n"
        "    data = sys.stdin.buffer.read1(65536)\n"
        "    if not data:\n"
        "        break\n"
        "    h.update(data)\n"
        "print(h.hexdigest())\n",
        timeout_ms=600,
        content_length=size,
    )
    body = os.urandom(size)
    handle = runner.start(job, loop)
    handle.feed_body(body)
    handle.end_body()
    loop.run(runner, lambda: job.exits)
    assert job.exits == [("exit", 0)]
    assert job.output.decode().strip() == hashlib.sha256(body).hexdigest()


def test_max_time_bounds_a_script_that_keeps_writing(tmp_path, runner, loop):
    job = py(
        tmp_path,
        "import time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(0.02)\n",
        timeout_ms=60000,
    )
    job.max_time_ms = 800
    handle = runner.start(job, loop)
    loop.run(runner, lambda: job.exits)
    assert job.exits == [("timeout", "max_time")]
    assert job.output.startswith(b"tick\n")
    settle(runner, loop)
    assert gone(handle.pid)


def test_job_without_max_time_ms_has_no_bound(tmp_path, runner, loop):
    job = FakeJob(sh(tmp_path, "echo hi\n"))
    assert not hasattr(job, "max_time_ms")
    runner.start(job, loop)
    loop.run(runner, lambda: job.exits)
    assert job.exits == [("exit", 0)]


# -- on_body_drained(): input flow control --------------------------------------------------


class DrainJob(FakeJob):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.drained = []
        self.feeding = False

    def on_body_drained(self):
        assert not self.feeding, "on_body_drained() from inside feed_body()"
        self.drained.append(self.handle.backlog())


def test_on_body_drained_when_the_queue_empties(tmp_path, runner, loop):
    size = 1024 * 1024
    job = DrainJob(
        script(tmp_path, "slow.py", "import sys, time\ntime.sleep(0.2)\nsys.stdin.read()\n"),
        interpreter=sys.executable,
        content_length=size,
    )
    job.handle = runner.start(job, loop)
    job.feeding = True
    for _ in range(16):
        job.handle.feed_body(b"z" * (size // 16))
    job.feeding = False
    assert job.handle.backlog() > 64 * 1024  # what the server stops reading its socket at
    loop.run(runner, lambda: job.drained)
    assert job.drained == [0]
    # the server reads again and feeds the rest: one more call when that is written too
    job.feeding = True
    job.handle.feed_body(b"y" * 300000)
    job.feeding = False
    job.handle.end_body()
    loop.run(runner, lambda: job.exits)
    assert job.exits == [("exit", 0)]
    assert job.drained == [0, 0]


def test_on_body_drained_when_the_script_closes_stdin(tmp_path, runner, loop):
    go = tmp_path / "go"
    job = DrainJob(
        sh(tmp_path, "while [ ! -e go ]; do sleep 0.01; done\nexec 0<&-\nsleep 0.5\necho done\n"),
        content_length=1 << 20,
    )
    job.handle = runner.start(job, loop)
    job.feeding = True
    for _ in range(16):
        job.handle.feed_body(b"y" * 65536)
    job.feeding = False
    assert job.handle.backlog() > 0
    go.touch()  # now it closes its stdin, with most of the body still queued
    loop.run(runner, lambda: job.drained or job.exits)
    assert job.drained == [0]  # the queue was dropped: EPIPE
    loop.run(runner, lambda: job.exits)
    assert (job.exits, job.output) == ([("exit", 0)], b"done\n")


def script(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o755)
    return path


# -- body_file: a spooled body as stdin -------------------------------------------------------


def test_body_file_is_the_scripts_stdin(tmp_path, runner, loop):
    body = os.urandom(3 * 1024 * 1024 + 17)
    spool = tempfile.TemporaryFile(dir=tmp_path)  # unlinked, as the server spools one
    spool.write(body)
    spool.seek(0)
    job = py(
        tmp_path,
        "import sys, hashlib\n"
        "data = sys.stdin.buffer.read()\n"
        "print(len(data), hashlib.sha256(data).hexdigest())\n",
        content_length=len(body),
    )
    job.body_file = spool
    handle = runner.start(job, loop)
    spool.close()  # the server may let go of it once start() returned
    assert len(loop.handlers) == 2  # stdout and stderr: no stdin pipe
    handle.feed_body(b"ignored")
    handle.end_body()
    assert handle.backlog() == 0
    loop.run(runner, lambda: job.exits)
    assert job.exits == [("exit", 0)]
    assert job.output.decode().split() == [str(len(body)), hashlib.sha256(body).hexdigest()]


# -- stderr: progress lines -------------------------------------------------------------------


def test_stderr_carriage_returns_end_lines(tmp_path, runner, loop):
    job = py(
        tmp_path,
        "import sys\n"
        "for p in (1, 50, 100):\n"
        "    sys.stderr.write('Counting objects: %3d%% (%d/2)\\r' % (p, p // 50))\n"
        "    sys.stderr.flush()\n"
        "sys.stderr.write('Counting objects: 100% (2/2), done.\\r\\nTotal 2\\n')\n",
    )
    runner.start(job, loop)
    loop.run(runner, lambda: job.exits)
    assert job.exits == [("exit", 0)]
    assert job.logs == [
        "Counting objects:   1% (0/2)",
        "Counting objects:  50% (1/2)",
        "Counting objects: 100% (2/2)",
        "Counting objects: 100% (2/2), done.",
        "Total 2",
    ]


# -- descendants that leave the process group --------------------------------------------------

# The script forks; the child (with a double fork: a grandchild) calls setsid(), writes its
# pid and sleeps, ignoring SIGTERM; the script itself sleeps too.
ESCAPER = """\
import os, signal, sys, time
double = %r
if os.fork() == 0:
    if double and os.fork() != 0:
        os._exit(0)  # the middle process: its child is orphaned
    os.setsid()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.close(1)
    with open(%r, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(1000)
    os._exit(0)
if double:
    os.wait()
while not os.path.exists(%r):
    time.sleep(0.01)
print("started", flush=True)
time.sleep(1000)
"""


def proc_exists(pid):
    """True while /proc has pid, zombies included."""
    return os.path.exists("/proc/%d" % pid)


@pytest.mark.parametrize("double", [False, True], ids=["fork", "double-fork"])
@pytest.mark.parametrize("how", ["timeout", "cancel"])
def test_descendant_that_called_setsid_is_killed_too(tmp_path, runner, loop, double, how):
    pidfile = tmp_path / "escaped.pid"
    job = py(
        tmp_path,
        ESCAPER % (double, str(pidfile), str(pidfile)),
        timeout_ms=1000 if how == "timeout" else 60000,
    )
    handle = runner.start(job, loop)
    loop.run(runner, lambda: job.output)
    escaped = read_pid(pidfile)
    assert os.getsid(escaped) == escaped != os.getpgid(handle.pid)
    if how == "cancel":
        handle.cancel()
    else:
        loop.run(runner, lambda: job.exits)
        assert job.exits == [("timeout", None)]
    settle(runner, loop)
    end = time.monotonic() + 10
    while proc_exists(escaped):  # dead and reaped: not even a zombie
        assert time.monotonic() < end, "pid %d survived the %s" % (escaped, how)
        runner.tick(int(time.monotonic() * 1000))
        time.sleep(0.01)
    assert gone(handle.pid)
    assert_no_children()


def test_orphan_of_an_ended_script_is_reaped(tmp_path, runner, loop):
    # A script that leaves a short-lived background process behind and exits: the process
    # becomes the server's child (subreaper), and tick() reaps it when it ends.
    pidfile = tmp_path / "bg.pid"
    job = FakeJob(
        sh(tmp_path, "(sleep 0.3; exit 0) >/dev/null 2>&1 &\necho $! > %s\necho hi\n" % pidfile)
    )
    runner.start(job, loop)
    loop.run(runner, lambda: job.exits)
    assert job.exits == [("exit", 0)]
    bg = read_pid(pidfile)
    loop.run(runner, lambda: not proc_exists(bg))
    assert_no_children()


# -- max_scripts -------------------------------------------------------------------------------


def test_max_scripts_refuses_with_503(tmp_path, loop):
    capped = SubprocessRunner(max_scripts=2)
    try:
        path = sh(tmp_path, "sleep 60\n")
        handles = [capped.start(FakeJob(path), loop), capped.start(FakeJob(path), loop)]
        with pytest.raises(HTTPError) as refused:
            capped.start(FakeJob(path), loop)
        assert (refused.value.status, str(refused.value)) == (503, "too many scripts running")
        handles[0].cancel()
        third = FakeJob(sh(tmp_path, "echo ok\n", name="ok.sh"))
        capped.start(third, loop)
        loop.run(capped, lambda: third.exits)
        assert (third.exits, third.output) == ([("exit", 0)], b"ok\n")
        handles[1].cancel()
        settle(capped, loop)
    finally:
        capped.close()
    assert_no_children()


def test_out_of_descriptors_is_503_not_a_broken_script(tmp_path, runner, loop):
    import resource

    job = FakeJob(sh(tmp_path, "echo hi\n"))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    in_use = max(int(n) for n in os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (in_use + 8, hard))
    fillers = []
    try:
        while True:  # every descriptor taken, then one given back: no room for a pipe
            try:
                fillers.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                break
        os.close(fillers.pop())
        with pytest.raises(HTTPError) as refused:
            runner.start(job, loop)
    finally:
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert refused.value.status == 503
    assert str(refused.value) == "cannot start a script now: Too many open files"
    assert not runner.busy() and not runner.wants_cpu()
    assert loop.handlers == {}
    runner.start(job, loop)  # and with descriptors again, it runs
    loop.run(runner, lambda: job.exits)
    assert (job.exits, job.output) == ([("exit", 0)], b"hi\n")
