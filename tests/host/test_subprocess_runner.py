"""SubprocessRunner against real processes, driven by a small real poll loop.

The loop below keeps the contract of firmware/microcgi/server.py (docs/design.md, "The
loop"): register/modify/unregister by fd, handler.on_poll(fd, events), runner.tick(now_ms)
every iteration.
"""

import errno
import hashlib
import os
import select
import signal
import sys
import time

import pytest

from microcgi_host.subprocess_runner import MAX_LOG_LINE, MAX_STDERR_LOG, SubprocessRunner

HANG = 20  # seconds; only to turn a hang into a failure


class Loop:
    def __init__(self):
        self.poll = select.poll()
        self.handlers = {}

    def register(self, fd, mask, handler):
        assert fd not in self.handlers, "fd %d registered twice" % fd
        self.poll.register(fd, mask)
        self.handlers[fd] = handler

    def modify(self, fd, mask):
        assert fd in self.handlers
        self.poll.modify(fd, mask)

    def unregister(self, fd):
        assert fd in self.handlers, "fd %d unregistered but not registered" % fd
        # A closed fd would still be "registered" in poll and report POLLNVAL forever.
        os.fstat(fd)
        self.poll.unregister(fd)
        del self.handlers[fd]

    def run(self, runner, until, limit=HANG):
        end = time.monotonic() + limit
        while not until():
            assert time.monotonic() < end, "the loop did not get there in %d s" % limit
            for fd, events in self.poll.poll(50):
                assert not events & select.POLLNVAL, "fd %d polled after close" % fd
                handler = self.handlers.get(fd)
                if handler is not None:
                    handler.on_poll(fd, events)
            runner.tick(int(time.monotonic() * 1000))


class FakeJob:
    """The ScriptJob attributes of docs/design.md, recording what the runner reports.

    content_length: the request has a body (SPEC 6 sets CONTENT_LENGTH only then), so the
    script's stdin is a pipe fed by feed_body(); without it stdin reads as EOF at once.
    """

    def __init__(self, script, interpreter="", argv=None, environ=None, cwd=None, **kw):
        self.filename = str(script)
        self.interpreter = interpreter
        self.argv = argv or [interpreter or self.filename, os.path.basename(self.filename)]
        self.environ = {"PATH": "/usr/bin:/bin"} if environ is None else environ
        if kw.get("content_length") is not None:
            self.environ["CONTENT_LENGTH"] = str(kw["content_length"])
        self.cwd = str(cwd or os.path.dirname(self.filename))
        self.timeout_ms = kw.get("timeout_ms", 10000)
        self.nph = False
        self.cap = kw.get("cap")
        self.output = bytearray()
        self.exits = []
        self.logs = []

    def on_output(self, data):
        assert not self.exits, "output after on_exit"
        self.output += data
        return self.cap is None or len(self.output) <= self.cap

    def on_exit(self, outcome, detail=None):
        assert not self.exits, "on_exit called twice: %r then %r" % (self.exits, outcome)
        self.exits.append((outcome, detail))

    def log(self, msg):
        self.logs.append(msg)


@pytest.fixture
def loop():
    return Loop()


@pytest.fixture
def runner():
    messages = []
    r = SubprocessRunner(log=messages.append)
    r.messages = messages
    yield r
    r.close()
    assert not r.busy()


def script(tmp_path, name, text, mode=0o755):
    path = tmp_path / name
    path.write_text(text)
    path.chmod(mode)
    return path


def sh(tmp_path, body, name="s.sh"):
    return script(tmp_path, name, "#!/bin/sh\n" + body)


def py(tmp_path, body, name="s.py", **kw):
    return FakeJob(script(tmp_path, name, body), interpreter=sys.executable, **kw)


def run(runner, loop, job, body=None, chunk=65536):
    if body is not None:  # as the server does (gateway.build_environ)
        job.environ["CONTENT_LENGTH"] = str(len(body))
    handle = runner.start(job, loop)
    if body is not None:
        for i in range(0, len(body), chunk):
            handle.feed_body(body[i : i + chunk])
        handle.end_body()
    loop.run(runner, lambda: job.exits)
    assert loop.handlers == {}, "pipes still registered after on_exit"
    return handle


def settle(runner, loop):
    """Run the loop until every stopped script is killed and reaped."""
    loop.run(runner, lambda: not runner.busy())


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A killed grandchild is re-parented to pid 1, which in some containers never reaps:
    # a zombie is dead all the same.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_gone(pid):
    end = time.monotonic() + HANG
    while not gone(pid):
        assert time.monotonic() < end, "pid %d still alive" % pid
        time.sleep(0.01)


def assert_no_children():
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def open_fds():
    return sorted(int(n) for n in os.listdir("/proc/self/fd"))


# -- output, status, environment, cwd, argv ------------------------------------------------


def test_output_arrives_whole_and_in_order(tmp_path, runner, loop):
    job = py(tmp_path, "import sys\nfor i in range(100000):\n    sys.stdout.write('%d\\n' % i)\n")
    run(runner, loop, job)
    assert job.exits == [("exit", 0)]
    assert job.output == b"".join(b"%d\n" % i for i in range(100000))


@pytest.mark.parametrize(
    ("body", "status"), [("exit 0", 0), ("exit 3", 3), ("kill -9 $$", -signal.SIGKILL)]
)
def test_exit_status(tmp_path, runner, loop, body, status):
    job = FakeJob(sh(tmp_path, "echo hi\n" + body))
    run(runner, loop, job)
    assert job.exits == [("exit", status)]
    assert job.output == b"hi\n"


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "no-pidfd"])
def test_stdout_closed_then_exit_is_exit(tmp_path, runner, loop, monkeypatch, pidfd):
    def no_pidfd(pid):
        raise OSError(errno.ENOSYS, "pidfd_open")

    if not pidfd:  # an old kernel or a seccomp filter: tick() polls waitpid
        monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    for status in (0, 7):
        # stdout's EOF comes a moment before the process can be reaped: still "exit"
        job = FakeJob(sh(tmp_path, "echo hi\nexec 1>&-\nexit %d\n" % status))
        run(runner, loop, job)
        assert job.exits == [("exit", status)]
        assert job.output == b"hi\n"
    assert_no_children()


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "no-pidfd"])
def test_script_that_closes_stdout_and_works_on_is_closed_at_once(
    tmp_path, runner, loop, monkeypatch, pidfd
):
    def no_pidfd(pid):
        raise OSError(errno.ENOSYS, "pidfd_open")

    if not pidfd:
        monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    for status in (0, 7):
        # After closing stdout the script waits for a file that the test makes only once
        # "closed" was reported: it cannot have ended before.
        go = tmp_path / "go"
        job = FakeJob(
            sh(
                tmp_path,
                "echo hi\nexec 1>&-\nwhile [ ! -e go ]; do sleep 0.01; done\n"
                "echo late >&2\nexit %d\n" % status,
            ),
            content_length=10,
        )
        handle = runner.start(job, loop)
        loop.run(runner, lambda job=job: job.exits)
        assert job.exits == [("closed", None)]
        assert job.output == b"hi\n"
        assert not gone(handle.pid)
        assert handle.backlog() == 0
        go.touch()
        settle(runner, loop)  # it finishes in the background: its stderr logged, reaped
        go.unlink()
        assert gone(handle.pid)
        late = ["exit status 7 (after its output ended)"] if status else []
        assert job.logs == ["late", *late]
    assert loop.handlers == {}
    assert_no_children()


# Bound by the no-progress timeout from the EOF, or by max_time when set (with a timeout of
# 60 s, only max_time can stop it before settle() gives up).
@pytest.mark.parametrize(("timeout", "max_time"), [(2000, None), (60000, 3000)])
def test_closed_script_is_stopped_after_its_bound(tmp_path, runner, loop, timeout, max_time):
    pidfile = tmp_path / "child.pid"
    job = FakeJob(
        sh(
            tmp_path,
            "trap '' TERM\nsleep 60 >/dev/null &\necho $! > %s\nexec 1>&-\nsleep 60\n" % pidfile,
        ),
        timeout_ms=timeout,
    )
    job.max_time_ms = max_time
    handle = runner.start(job, loop)
    loop.run(runner, lambda: job.exits)
    assert job.exits == [("closed", None)]
    settle(runner, loop)  # SIGTERM (ignored) at the bound, SIGKILL a second later, reaped
    assert job.logs == ["still running after its output ended: stopped"]
    assert gone(handle.pid)
    wait_gone(read_pid(pidfile))
    assert loop.handlers == {}
    assert_no_children()


@pytest.mark.parametrize(
    "environ", [{}, {"GATEWAY_INTERFACE": "CGI/1.1", "PATH": "/bin", "QUERY_STRING": "a=1 b"}]
)
def test_environment_is_exactly_job_environ(tmp_path, runner, loop, environ):
    # /usr/bin/env rather than Python: Python adds LC_CTYPE when no locale is set.
    job = FakeJob("/usr/bin/env", environ=environ, cwd=tmp_path)
    run(runner, loop, job)
    assert job.exits == [("exit", 0)]
    printed = job.output.decode().splitlines()
    assert sorted(printed) == sorted("%s=%s" % kv for kv in environ.items())


def test_cwd_and_argv(tmp_path, runner, loop):
    site = tmp_path / "site dir"
    site.mkdir()
    script(site, "app.sh", 'pwd\nprintf "%s\\n" "$0" "$@"\n', mode=0o644)
    # /bin/sh opens "app.sh" relative to the working directory: that only works in cwd.
    job = FakeJob(site / "app.sh", "/bin/sh", argv=["/bin/sh", "app.sh", "x y", ""])
    run(runner, loop, job)
    assert job.exits == [("exit", 0)]
    assert job.output.decode().split("\n") == [str(site), "app.sh", "x y", "", ""]


def test_executable_script_runs_through_its_shebang(tmp_path, runner, loop):
    path = sh(tmp_path, 'echo "$0|$#"\n', name="hello.cgi")
    job = FakeJob(path)  # interpreter "" -> execute the file itself
    run(runner, loop, job)
    assert job.exits == [("exit", 0)]
    assert job.output == b"%s|1\n" % bytes(path)  # the kernel passes the path to /bin/sh


def test_script_gets_own_process_group_and_default_signals(tmp_path, runner, loop):
    # (Not a Python script: Python ignores SIGPIPE and SIGXFSZ itself.)
    job = FakeJob(
        sh(tmp_path, "echo $$\ncut -d' ' -f5 /proc/$$/stat\ngrep SigIgn /proc/self/status\n")
    )
    run(runner, loop, job)
    assert job.exits == [("exit", 0)]
    pid, pgid, ignored = job.output.decode().splitlines()
    assert pgid == pid
    # The server (CPython) ignores SIGPIPE and SIGXFSZ; a script must not inherit that.
    # Signals 1-31 only: glibc's posix_spawn leaves its internal 32 and 33 ignored.
    name, mask = ignored.split()
    assert (name, int(mask, 16) & 0x7FFFFFFF) == ("SigIgn:", 0)


def test_no_server_fd_reaches_the_script(tmp_path, loop):
    # Made inheritable before the runner exists, as a shell or make may leave fds open.
    leaky_r, leaky_w = os.pipe()
    os.set_inheritable(leaky_r, True)
    runner = SubprocessRunner()
    try:
        job = py(
            tmp_path,
            "import os\n"
            "for n in sorted(os.listdir('/proc/self/fd'), key=int):\n"
            "    try:\n"
            "        print(n, os.readlink('/proc/self/fd/' + n))\n"
            "    except OSError:\n"
            "        pass  # the listdir's own fd\n",
        )
        run(runner, loop, job)
    finally:
        runner.close()
        os.close(leaky_r)
        os.close(leaky_w)
    assert job.exits == [("exit", 0)]
    fds = [line.split()[0] for line in job.output.decode().splitlines()]
    assert fds == ["0", "1", "2"], job.output.decode()


# -- stdin -----------------------------------------------------------------------------------


def test_body_reaches_stdin_in_order_then_eof(tmp_path, runner, loop):
    body = os.urandom(1024 * 1024)
    job = py(
        tmp_path,
        "import sys, hashlib\n"
        "data = sys.stdin.buffer.read()\n"
        "print(len(data), hashlib.sha256(data).hexdigest())\n",
    )
    handle = run(runner, loop, job, body, chunk=10000)
    assert job.exits == [("exit", 0)]
    assert job.output.decode().split() == [str(len(body)), hashlib.sha256(body).hexdigest()]
    assert handle.backlog() == 0


def test_body_is_copied_when_queued(tmp_path, runner, loop):
    # The server reuses its receive buffer: what feed_body() queued must not change.
    job = py(
        tmp_path,
        "import sys, time, hashlib\n"
        "time.sleep(0.3)\n"
        "print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())\n",
        content_length=5 * 200000,
    )
    handle = runner.start(job, loop)
    buf = bytearray(200000)
    expected = hashlib.sha256()
    for i in range(5):
        buf[:] = bytes([i + 1]) * len(buf)
        expected.update(buf)
        handle.feed_body(memoryview(buf))
    assert handle.backlog() > 0  # the pipe holds 64 KiB: the rest waits in the queue
    handle.end_body()
    loop.run(runner, lambda: job.exits)
    assert job.exits == [("exit", 0)]
    assert job.output.decode().strip() == expected.hexdigest()


@pytest.mark.parametrize("delay", ["", "sleep 0.3\n"])
def test_script_that_never_reads_a_1mb_body_completes(tmp_path, runner, loop, delay):
    job = FakeJob(sh(tmp_path, delay + "echo done\n"))
    handle = run(runner, loop, job, b"x" * (1024 * 1024))
    assert job.exits == [("exit", 0)]
    assert job.output == b"done\n"
    assert handle.backlog() == 0
    handle.feed_body(b"late")  # the client still sending: dropped silently
    assert handle.backlog() == 0


def test_script_that_closes_stdin_early(tmp_path, runner, loop):
    job = FakeJob(sh(tmp_path, "exec 0<&-\nsleep 0.3\necho done\n"), content_length=40 * 65536)
    handle = runner.start(job, loop)
    for _ in range(40):
        handle.feed_body(b"y" * 65536)
    loop.run(runner, lambda: job.exits or handle.backlog() == 0)
    assert handle.backlog() == 0  # EPIPE: the queue was dropped
    handle.feed_body(b"more")
    handle.end_body()
    loop.run(runner, lambda: job.exits)
    assert job.exits == [("exit", 0)]
    assert job.output == b"done\n"


def test_body_without_end_body_keeps_stdin_open(tmp_path, runner, loop):
    job = py(tmp_path, "import sys\nprint(sys.stdin.readline().strip())\n", content_length=100)
    handle = runner.start(job, loop)
    handle.feed_body(b"first line\n")
    loop.run(runner, lambda: job.exits)
    assert job.exits == [("exit", 0)]
    assert job.output == b"first line\n"


@pytest.mark.parametrize("environ", [{}, {"CONTENT_LENGTH": "0"}], ids=["no-length", "zero"])
def test_request_without_body_gives_eof_at_once(tmp_path, runner, loop, environ):
    # No end_body(): a request without a body must not leave the script waiting on stdin.
    job = FakeJob(sh(tmp_path, "wc -c\necho done\n"), environ=dict(environ, PATH="/usr/bin:/bin"))
    handle = runner.start(job, loop)
    handle.feed_body(b"not a body")  # nothing to deliver it to: dropped
    assert handle.backlog() == 0
    loop.run(runner, lambda: job.exits)
    assert job.exits == [("exit", 0)]
    assert job.output.split() == [b"0", b"done"]
    assert loop.handlers == {}


# -- stderr --------------------------------------------------------------------------------


def test_stderr_flood_is_logged_line_by_line_up_to_the_cap(tmp_path, runner, loop):
    lines = ["line %07d" % i for i in range(1024 * 1024 // 13 + 1)]  # > 1 MB
    job = py(
        tmp_path,
        "import sys\n"
        "for i in range(%d):\n"
        "    sys.stderr.write('line %%07d\\n' %% i)\n"
        "print('ok')\n" % len(lines),
    )
    run(runner, loop, job)
    assert job.exits == [("exit", 0)]
    assert job.output == b"ok\n"
    # The first MAX_STDERR_LOG bytes in whole lines; the line the cap cuts and the rest
    # are counted in one last line.
    logged = MAX_STDERR_LOG // 13
    dropped = 13 * (len(lines) - logged)
    assert job.logs == [
        *lines[:logged],
        "\u2026 %d bytes of stderr dropped (%d are logged at most)" % (dropped, MAX_STDERR_LOG),
    ]


def test_stderr_long_lines_are_cut_and_the_last_partial_line_kept(tmp_path, runner, loop):
    job = py(
        tmp_path,
        "import sys\n"
        "sys.stderr.write('a' * 10000 + '\\r\\nshort\\r\\n\\n' + 'b' * 5000)\n"
        "sys.stderr.flush()\n"
        "sys.stderr.write('c' * 3000 + '\\ntail')\n",
    )
    run(runner, loop, job)
    assert job.exits == [("exit", 0)]
    cut = " [line cut at %d bytes]" % MAX_LOG_LINE
    assert job.logs == ["a" * MAX_LOG_LINE + cut, "short", "b" * MAX_LOG_LINE + cut, "tail"]


def test_stderr_partial_line_is_logged_once_past_the_cap(tmp_path, runner, loop):
    # No newline for a while: the runner holds at most MAX_LOG_LINE bytes of it.
    job = py(
        tmp_path,
        "import sys\n"
        "sys.stderr.write('b' * 5000)\n"
        "sys.stderr.flush()\n"
        "sys.stdin.readline()\n"
        "sys.stderr.write('b' * 100 + '\\nnext\\n')\n",
        content_length=3,
    )
    handle = runner.start(job, loop)
    loop.run(runner, lambda: job.logs or job.exits, limit=5)
    assert job.logs == ["b" * MAX_LOG_LINE + " [line cut at %d bytes]" % MAX_LOG_LINE]
    handle.feed_body(b"go\n")
    handle.end_body()
    loop.run(runner, lambda: job.exits)
    assert job.exits == [("exit", 0)]
    assert job.logs[1:] == ["next"]


def test_stderr_written_just_before_exit_is_logged_before_on_exit(tmp_path, runner, loop):
    for _ in range(20):
        job = FakeJob(sh(tmp_path, "echo out\necho last words >&2\n"))
        job.on_exit = lambda outcome, detail, job=job: job.exits.append(list(job.logs))
        run(runner, loop, job)
        assert job.exits == [["last words"]]


# -- timeout, cap, cancel, close ------------------------------------------------------------


def read_pid(path):
    end = time.monotonic() + HANG
    while not path.exists() or not path.read_text().strip():
        assert time.monotonic() < end
        time.sleep(0.01)
    return int(path.read_text())


@pytest.mark.parametrize("trap", ["", "trap '' TERM\n"], ids=["dies-on-term", "ignores-term"])
def test_timeout_kills_the_whole_group(tmp_path, runner, loop, trap):
    pidfile = tmp_path / "child.pid"
    job = FakeJob(
        sh(tmp_path, trap + "sleep 60 &\necho $! > %s\necho started\nsleep 60\n" % pidfile),
        timeout_ms=500,
    )
    handle = run(runner, loop, job)
    assert job.exits == [("timeout", None)]
    assert job.output == b"started\n"
    child = read_pid(pidfile)
    settle(runner, loop)  # SIGKILL after the grace when SIGTERM was ignored, then reaped
    wait_gone(child)
    assert gone(handle.pid)
    assert_no_children()


def test_exited_script_whose_child_holds_stdout_times_out(tmp_path, runner, loop):
    pidfile = tmp_path / "child.pid"
    job = FakeJob(
        sh(tmp_path, "sleep 60 &\necho $! > %s\necho hi\nexit 0\n" % pidfile), timeout_ms=500
    )
    run(runner, loop, job)
    assert job.exits == [("timeout", None)]
    assert job.output == b"hi\n"
    settle(runner, loop)
    wait_gone(read_pid(pidfile))
    assert_no_children()


def test_background_child_with_its_own_stdout_does_not_delay_the_exit(tmp_path, runner, loop):
    pidfile = tmp_path / "child.pid"
    job = FakeJob(
        sh(tmp_path, "sleep 60 >/dev/null 2>&1 &\necho $! > %s\necho hi\n" % pidfile),
        timeout_ms=30000,
    )
    run(runner, loop, job)
    assert job.exits == [("exit", 0)]
    child = read_pid(pidfile)
    os.kill(child, signal.SIGKILL)
    wait_gone(child)  # (the server's child now: reaped by tick() or close())


def test_output_over_the_cap_kills_the_script(tmp_path, runner, loop):
    pidfile = tmp_path / "child.pid"
    job = FakeJob(sh(tmp_path, "sleep 60 &\necho $! > %s\nexec yes\n" % pidfile), cap=200000)
    handle = run(runner, loop, job)
    assert job.exits == [("killed", "output cap")]
    settle(runner, loop)
    wait_gone(read_pid(pidfile))
    assert gone(handle.pid)
    assert_no_children()


def test_on_output_that_raises_stops_the_script(tmp_path, runner, loop):
    job = FakeJob(sh(tmp_path, "exec yes\n"))

    def on_output(data):
        raise ValueError("broken collector")

    job.on_output = on_output
    run(runner, loop, job)
    assert job.exits == [("error", "cgi: on_output failed: ValueError('broken collector')")]
    assert "ValueError: broken collector" in runner.messages[0]
    settle(runner, loop)
    assert_no_children()


def test_cancel_kills_without_on_exit(tmp_path, runner, loop):
    pidfile = tmp_path / "child.pid"
    job = FakeJob(sh(tmp_path, "sleep 60 &\necho $! > %s\nsleep 60\n" % pidfile))
    handle = runner.start(job, loop)
    handle.feed_body(b"x" * 200000)
    child = read_pid(pidfile)
    handle.cancel()
    assert loop.handlers == {}
    assert handle.backlog() == 0
    handle.cancel()  # twice is harmless
    handle.feed_body(b"more")
    handle.end_body()
    settle(runner, loop)
    assert job.exits == []
    wait_gone(child)
    assert gone(handle.pid)
    assert_no_children()


def test_cancel_from_inside_on_output(tmp_path, runner, loop):
    job = FakeJob(sh(tmp_path, "exec yes\n"))
    handle = runner.start(job, loop)

    def on_output(data):
        handle.cancel()  # e.g. the client went away while the server was writing
        return False

    job.on_output = on_output
    loop.run(runner, lambda: not runner.busy())
    assert job.exits == []
    assert loop.handlers == {}
    assert_no_children()


def test_close_kills_and_reaps_everything(tmp_path, loop):
    runner = SubprocessRunner()
    jobs = [FakeJob(sh(tmp_path, "trap '' TERM\nsleep 60\n", name="s%d.sh" % i)) for i in range(3)]
    handles = [runner.start(job, loop) for job in jobs]
    timed_out = FakeJob(sh(tmp_path, "trap '' TERM\nsleep 60\n", name="t.sh"), timeout_ms=0)
    handles.append(runner.start(timed_out, loop))
    loop.run(runner, lambda: timed_out.exits)  # its SIGKILL is still 1 s away
    assert runner.busy()
    runner.close()
    assert not runner.busy()
    assert loop.handlers == {}
    assert [job.exits for job in jobs] == [[], [], []]
    for handle in handles:
        assert gone(handle.pid)
    assert_no_children()


# -- scripts that cannot start (SPEC 7.9) -----------------------------------------------------


def cannot_start(tmp_path):
    no_exec = script(tmp_path, "noexec.cgi", "#!/bin/sh\necho hi\n", mode=0o644)
    bad_shebang = script(tmp_path, "bad.cgi", "#!/nonexistent/sh -e\necho hi\n")
    no_shebang = script(tmp_path, "plain.cgi", "\x7fELF garbage\n")
    return {
        "missing interpreter": (
            FakeJob(no_exec, interpreter="/nonexistent/php-cgi"),
            "cannot run /nonexistent/php-cgi: No such file or directory",
        ),
        "no exec bit": (FakeJob(no_exec), "cannot run %s: Permission denied" % no_exec),
        "bad shebang": (
            FakeJob(bad_shebang),
            "cannot run %s: bad interpreter in #! line '/nonexistent/sh -e': "
            "No such file or directory" % bad_shebang,
        ),
        "no shebang": (
            FakeJob(no_shebang),
            "cannot run %s: Exec format error (no #! line)" % no_shebang,
        ),
        "missing cwd": (
            FakeJob(bad_shebang, interpreter="/bin/sh", cwd=tmp_path / "gone"),
            "cannot run /bin/sh: %s: No such file or directory" % (tmp_path / "gone"),
        ),
        "NUL in environ": (
            FakeJob("/usr/bin/env", environ={"A": "x\0y"}),
            "cannot run /usr/bin/env: embedded null byte",
        ),
        "int in environ": (
            FakeJob("/usr/bin/env", environ={"CONTENT_LENGTH": 5}),
            "cannot run /usr/bin/env: expected str, bytes or os.PathLike object, not int",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing interpreter",
        "no exec bit",
        "bad shebang",
        "no shebang",
        "missing cwd",
        "NUL in environ",
        "int in environ",
    ],
)
def test_script_that_cannot_start_fails(tmp_path, runner, loop, case):
    job, message = cannot_start(tmp_path)[case]
    before = open_fds()
    cwd = os.getcwd()
    handle = runner.start(job, loop)
    assert job.exits == []  # reported from tick(), never from inside start()
    assert runner.wants_cpu()  # ... the very next one: the server should not sleep in poll
    assert os.getcwd() == cwd
    runner.tick(int(time.monotonic() * 1000))
    assert job.exits == [("failed", message)]
    assert not runner.wants_cpu()
    assert loop.handlers == {}
    assert open_fds() == before
    assert handle.backlog() == 0
    handle.feed_body(b"body")
    handle.end_body()
    handle.cancel()
    assert not runner.busy()
    assert_no_children()


def test_cancel_before_a_failure_is_reported(tmp_path, runner, loop):
    job, _ = cannot_start(tmp_path)["no exec bit"]
    runner.start(job, loop).cancel()
    assert not runner.wants_cpu()
    runner.tick(int(time.monotonic() * 1000))
    assert job.exits == []
    assert not runner.busy()


# -- leaks ----------------------------------------------------------------------------------


def test_200_runs_leak_no_fd_and_no_process(tmp_path, runner, loop):
    echo = sh(tmp_path, "cat\necho done >&2\n", name="echo.sh")
    sleeper = sh(tmp_path, "sleep 60\n", name="sleep.sh")
    yes = sh(tmp_path, "exec yes\n", name="yes.sh")
    failing = cannot_start(tmp_path)
    before = open_fds()
    outcomes = {}
    for i in range(200):
        kind = i % 5
        if kind == 0:
            job = FakeJob(echo)
            run(runner, loop, job, b"body %d" % i)
            assert job.output == b"body %d" % i
        elif kind == 1:
            job = FakeJob(sleeper, timeout_ms=0 if i % 25 == 1 else 10000)
            handle = runner.start(job, loop)
            if job.timeout_ms:
                handle.cancel()
            else:
                loop.run(runner, lambda job=job: job.exits)
        elif kind == 2:
            job = FakeJob(yes, cap=100000)
            run(runner, loop, job)
        elif kind == 3:
            job = cannot_start(tmp_path)[sorted(failing)[i % len(failing)]][0]
            run(runner, loop, job)
        else:
            job = FakeJob(echo)
            run(runner, loop, job, b"z" * 300000)
        for outcome, _ in job.exits:
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    settle(runner, loop)
    assert loop.handlers == {}
    assert open_fds() == before
    assert_no_children()
    assert set(outcomes) == {"exit", "timeout", "killed", "failed"}
