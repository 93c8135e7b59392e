"""Run CGI scripts as child processes whose pipes are polled by the server loop.

SPEC section 5 (how a script starts), 7.5 (output cap), 7.6 (timeout), 7.9 (a script
that cannot start); the contract is docs/design.md, "Scripts: ScriptJob and Runner".

Nothing here blocks and nothing installs a signal handler. The script's stdin, stdout and
stderr are non-blocking pipes registered in the server's poll loop next to its sockets,
and, when the script closed its stdout before it could be reaped, a pidfd that becomes
readable when it exits (with no pidfd, tick() polls waitpid instead). tick() enforces the
deadline, sends the SIGKILL that follows a SIGTERM, and reaps the processes of scripts that
were stopped.

A request without a body (no CONTENT_LENGTH in job.environ, or "0"; SPEC 6) gives the
script /dev/null as its stdin, which reads as EOF at once, just as an empty pipe closed by
end_body() would: one pipe fewer per request. feed_body() then drops what it is given.

job.on_exit(outcome, detail) is called exactly once per started job, and only from
on_poll() or tick(), never from inside start(), feed_body() or cancel():

  "exit"     detail = exit status (negative: killed by that signal); stdout reached EOF
  "timeout"  detail = None; SIGTERM sent to the process group, SIGKILL follows in 1 s
  "failed"   detail = "cannot run PATH: reason"; nothing was started (SPEC 7.9)
  "killed"   detail = "output cap"; job.on_output() returned False, the group got SIGKILL
  "error"    detail = message; job.on_output() raised (logged with its traceback)

After on_exit() the runner holds nothing of the job: its pipes are closed, and its
process is reaped or queued for reaping in tick(). cancel() stops a script without any
on_exit(). Besides the Runner interface, busy() says whether tick() still has work, and
wants_cpu() whether it has a failure to report right away (the server then polls with
timeout 0).
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import time
from collections import deque

# typing costs start-up time and memory and the hints need none of it at run time; mypy
# reads any constant named TYPE_CHECKING as typing.TYPE_CHECKING.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol
else:
    Protocol = object

READ_SIZE = 64 * 1024  # bytes per os.read() of stdout or stderr
MAX_LOG_LINE = 4 * 1024  # a longer stderr line is cut to this many bytes
KILL_GRACE_MS = 1000  # SIGTERM, then SIGKILL this much later (SPEC 7.6)
CLOSE_WAIT_MS = 2000  # close(): how long to wait for SIGKILLed processes to be reapable
_MAX_DRAIN_READS = 16  # reads of stderr when a job ends (its last words, bounded)
# Reads of stdout per poll event. More than one: a script's last write and its exit are
# usually microseconds apart, so the read after the data often finds EOF at once and
# saves a round through poll().
_MAX_STDOUT_READS = 4

# Ignored signals stay ignored across exec, and CPython ignores SIGPIPE and SIGXFSZ: give
# the script their default actions back, as subprocess.Popen(restore_signals=True) does.
# (glibc's posix_spawn leaves its two internal signals, 32 and 33, ignored in the child;
# Python refuses to name them, and glibc installs their handlers when a program uses them.)
_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)
_O_PATH = getattr(os, "O_PATH", os.O_RDONLY)  # Linux: needs no read permission


class Job(Protocol):
    """The parts of microcgi.runner.ScriptJob that a runner uses."""

    filename: str
    interpreter: str
    argv: list[str]
    environ: dict[str, str]
    cwd: str
    timeout_ms: int | None

    def on_output(self, data: bytes) -> bool: ...
    def on_exit(self, outcome: str, detail: object = None) -> None: ...
    def log(self, msg: str) -> None: ...


class Loop(Protocol):
    """What the server loop offers: handler.on_poll(fd, events) is called on events."""

    def register(self, obj: int, mask: int, handler: object) -> None: ...
    def modify(self, obj: int, mask: int) -> None: ...
    def unregister(self, obj: int) -> None: ...


def _now_ms() -> int:
    # The same clock as microcgi.compat.ticks_ms() on CPython, which feeds tick(now_ms).
    return int(time.monotonic() * 1000)


class SubprocessRunner:
    """Starts scripts with posix_spawn and runs them from the server's poll loop.

    Args:
        log: callable(str) for the runner's own messages (a callback that raised, a
            process that would not die), or None for silence. A script's stderr goes
            to job.log(), not here.
    """

    def __init__(self, log: Callable[[str], None] | None = None) -> None:
        self._log = log
        self._running: set[ScriptProcess] = set()  # started, on_exit not yet called
        self._stopped: list[_Stopped] = []  # process groups still to SIGKILL or reap
        self._failures = 0  # spawn failures waiting for tick() to report them
        _disinherit_fds()
        # The stdin of scripts run for requests without a body; O_CLOEXEC, above 0-2.
        self._devnull = _above_stdio(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))

    def start(self, job: Job, loop: Loop) -> ScriptProcess:
        """Start job's script; returns its handle. Never raises for a script that
        cannot run: that is reported as on_exit("failed", ...) at the next tick()."""
        proc = ScriptProcess(self, job, loop)
        self._running.add(proc)
        proc.spawn()
        return proc

    def tick(self, now_ms: int) -> None:
        """Deadlines, the SIGKILL after a SIGTERM's grace, reaping. Call every iteration."""
        for proc in list(self._running):
            proc.tick(now_ms)
        if self._stopped:
            self._stopped = [e for e in self._stopped if not self._finish_stopped(e, now_ms)]

    def wants_cpu(self) -> bool:
        """True when tick() has something to report at once (a script that could not
        start): the server then polls without waiting (firmware/microcgi/server.py)."""
        return self._failures > 0

    def busy(self) -> bool:
        """True while a script runs or a stopped one still has to be killed or reaped."""
        return bool(self._running or self._stopped)

    def close(self) -> None:
        """Kill every script's process group and reap them all (server shutdown)."""
        for proc in list(self._running):
            proc.cancel()
        for stopped in self._stopped:
            stopped.kill_at = 0  # SIGKILL now, whatever grace was left
        give_up = _now_ms() + CLOSE_WAIT_MS
        self.tick(_now_ms())
        while self._stopped and _now_ms() < give_up:
            time.sleep(0.005)
            self.tick(_now_ms())
        if self._stopped:
            self._say("cgi: could not reap process groups %r" % [s.pgid for s in self._stopped])
            self._stopped = []
        if self._devnull >= 0:
            os.close(self._devnull)
            self._devnull = -1

    def _stop(self, pgid: int, sig: int, kill_at: int | None, reap: bool) -> None:
        """Signal a script's process group and remember to SIGKILL/reap it later."""
        _killpg(pgid, sig)
        if kill_at is not None or reap:
            self._stopped.append(_Stopped(pgid, kill_at, reap))

    def _finish_stopped(self, stopped: _Stopped, now_ms: int) -> bool:
        if stopped.kill_at is not None:
            if now_ms < stopped.kill_at:
                return False
            _killpg(stopped.pgid, signal.SIGKILL)
            stopped.kill_at = None
        # The leader stays a zombie until the last signal went out, so that its pid,
        # which is the group id, cannot be given to an unrelated process meanwhile.
        return not stopped.reap or _reap(stopped.pgid) is not None

    def _say(self, msg: str) -> None:
        if self._log is not None:
            self._log(msg)


class _Stopped:
    """A stopped script's process group: SIGKILL due at kill_at (ms) unless None; its
    leader (pid == pgid) still to be reaped when reap is true."""

    __slots__ = ("kill_at", "pgid", "reap")

    def __init__(self, pgid: int, kill_at: int | None, reap: bool) -> None:
        self.pgid = pgid
        self.kill_at = kill_at
        self.reap = reap


class ScriptProcess:
    """One running script: the handle start() returns, and the poll handler of its fds."""

    def __init__(self, runner: SubprocessRunner, job: Job, loop: Loop) -> None:
        self.job = job
        self.pid = 0
        self._runner = runner
        self._loop = loop
        self._stdin: int | None = None
        self._stdout: int | None = None
        self._stderr: int | None = None
        self._pidfd: int | None = None
        self._polled: set[int] = set()
        self._queue: deque[memoryview] = deque()  # body not yet written to stdin
        self._queued = 0
        self._body_ended = False
        self._status: int | None = None  # exit code once the process is reaped
        self._err_tail = b""  # an incomplete stderr line
        self._err_skip = False  # inside a stderr line that was cut
        self._failure: str | None = None
        self._done = False
        timeout = job.timeout_ms
        self._deadline = None if timeout is None else _now_ms() + timeout

    # -- start ---------------------------------------------------------------------------

    def spawn(self) -> None:
        job = self.job
        path = job.interpreter or job.filename
        body = _has_body(job.environ)
        # stdout r, w; stderr r, w; with a body stdin r, w. All O_CLOEXEC: the child gets
        # its ends through dup2 only.
        fds: list[int] = []
        try:
            for _ in range(3 if body else 2):
                fds.extend(os.pipe())
            for i in (1, 3, 4) if body else (1, 3):
                # the child's ends must not be 0-2 (a server run with those closed)
                fds[i] = _above_stdio(fds[i])
            for i in (0, 2, 5) if body else (0, 2):  # the server's ends; the child's block
                os.set_blocking(fds[i], False)
            stdin = fds[4] if body else self._runner._devnull
            pid = _spawn(path, job, stdin, fds[1], fds[3])
        except (OSError, ValueError, TypeError) as e:  # (a NUL or a non-str in environ)
            for fd in fds:
                os.close(fd)
            self._failure = "cannot run %s: %s" % (path, _reason(e, path, job))
            self._runner._failures += 1
            return
        os.close(fds[1])
        os.close(fds[3])
        self.pid = pid
        self._stdout, self._stderr = fds[0], fds[2]
        if body:
            os.close(fds[4])
            self._stdin = fds[5]
        self._watch(self._stdout, select.POLLIN)
        self._watch(self._stderr, select.POLLIN)

    # -- the handle (docs/design.md) -----------------------------------------------------

    def feed_body(self, data: bytes) -> None:
        """Queue request body bytes for the script's stdin; written as the pipe drains."""
        if self._stdin is None or self._body_ended or not data:
            # the script closed its stdin, is gone, or has /dev/null: the body is dropped
            return
        if not self._queue:
            n = self._write(data)
            if n is None or n == len(data):
                return
            data = data[n:]
        chunk = bytes(data)  # a copy: the caller may reuse its buffer
        self._queue.append(memoryview(chunk))
        self._queued += len(chunk)
        if self._stdin not in self._polled:
            self._watch(self._stdin, select.POLLOUT)

    def end_body(self) -> None:
        """No more body: stdin is closed once the queue is written."""
        self._body_ended = True
        if not self._queue:
            self._close_stdin()

    def backlog(self) -> int:
        """Body bytes accepted by feed_body() but not yet written to the script."""
        return self._queued

    def cancel(self) -> None:
        """Stop the script now (SIGKILL to its group); no on_exit() follows."""
        if self._done:
            return
        if self._failure is None:
            self._runner._stop(self.pid, signal.SIGKILL, None, self._status is None)
        self._end()

    # -- events --------------------------------------------------------------------------

    def on_poll(self, fd: int, events: int) -> None:
        if self._done:
            return
        if fd == self._stdout:
            self._read_stdout()
        elif fd == self._stderr:
            if not self._read_stderr() and self._stderr is None and self._stdout is not None:
                # stderr at EOF: the script is most likely exiting, and its stdout's EOF
                # is often there already; reading now saves a round through poll().
                self._read_stdout()
        elif fd == self._stdin:
            self._write_queue(events)
        elif fd == self._pidfd:
            self._reap()
            self._close(self._pidfd)
            self._pidfd = None
            self._maybe_exit()

    def tick(self, now_ms: int) -> None:
        if self._done:
            return
        if self._failure is not None:
            self._end()
            self.job.on_exit("failed", self._failure)
            return
        if self._stdout is None and self._status is None and self._pidfd is None:
            self._reap()  # stdout is at EOF and there is no pidfd: poll for the exit
            self._maybe_exit()
        if not self._done and self._deadline is not None and now_ms >= self._deadline:
            # SPEC 7.6. Also ends a script that exited while a child of its still holds
            # stdout open: that child gets the same SIGTERM, then SIGKILL.
            self._runner._stop(
                self.pid, signal.SIGTERM, now_ms + KILL_GRACE_MS, self._status is None
            )
            self._end()
            self.job.on_exit("timeout", None)

    def _read_stdout(self) -> None:
        for _ in range(_MAX_STDOUT_READS):
            assert self._stdout is not None
            try:
                data = os.read(self._stdout, READ_SIZE)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._stdout_closed()
                return
            try:
                more = self.job.on_output(data)
            except Exception as e:
                import traceback  # (only now: a start-up cost the normal case never pays)

                self._runner._say("cgi: on_output failed\n" + traceback.format_exc().rstrip())
                if not self._done:
                    self._kill("error", "cgi: on_output failed: %r" % e)
                return
            if self._done:  # (on_output may have called cancel())
                return
            if more is False:
                self._kill("killed", "output cap")
                return

    def _stdout_closed(self) -> None:
        """EOF on stdout: the job ends once the process is reaped too. Usually it is
        reapable by now (a script's stdout closes when it exits); if not, a pidfd says
        when it is (or tick() polls waitpid where there are no pidfds)."""
        assert self._stdout is not None
        self._close(self._stdout)
        self._stdout = None
        if self._status is None:
            self._reap()
        if self._status is None:
            try:
                self._pidfd = os.pidfd_open(self.pid)
            except (OSError, AttributeError):  # Linux < 5.3, seccomp, not Linux
                self._pidfd = None
            else:
                self._watch(self._pidfd, select.POLLIN)
        self._maybe_exit()

    def _kill(self, outcome: str, detail: str) -> None:
        self._runner._stop(self.pid, signal.SIGKILL, None, self._status is None)
        self._end()
        self.job.on_exit(outcome, detail)

    def _maybe_exit(self) -> None:
        if self._stdout is None and self._status is not None and not self._done:
            self._end()
            self.job.on_exit("exit", self._status)

    def _reap(self) -> None:
        self._status = _reap(self.pid)

    def _end(self) -> None:
        """Release everything of the job: stderr's last lines logged, every fd closed."""
        self._done = True
        self._runner._running.discard(self)
        if self._failure is not None:
            self._runner._failures -= 1
        if self._stderr is not None:
            for _ in range(_MAX_DRAIN_READS):
                if not self._read_stderr():
                    break
            if self._stderr is not None:
                self._flush_stderr()
                self._close(self._stderr)
                self._stderr = None
        self._close_stdin()
        for fd in (self._stdout, self._pidfd):
            if fd is not None:
                self._close(fd)
        self._stdout = self._pidfd = None

    # -- stdin -----------------------------------------------------------------------------

    def _write(self, data: bytes | memoryview) -> int | None:
        """Write what the pipe takes now; None when the script's stdin is gone."""
        assert self._stdin is not None
        try:
            return os.write(self._stdin, data)
        except BlockingIOError:
            return 0
        except OSError:  # EPIPE: the script exited or closed its stdin
            self._close_stdin()
            return None

    def _write_queue(self, events: int) -> None:
        if events & select.POLLERR:
            self._close_stdin()
            return
        while self._queue:
            chunk = self._queue[0]
            n = self._write(chunk)
            if n is None:
                return
            self._queued -= n
            if n < len(chunk):
                self._queue[0] = chunk[n:]
                return
            self._queue.popleft()
        if self._body_ended:
            self._close_stdin()
        else:
            assert self._stdin is not None
            self._polled.discard(self._stdin)
            self._loop.unregister(self._stdin)

    def _close_stdin(self) -> None:
        self._queue.clear()
        self._queued = 0
        if self._stdin is not None:
            self._close(self._stdin)
            self._stdin = None

    # -- stderr: one job.log() per line ----------------------------------------------------

    def _read_stderr(self) -> bool:
        """Read once; False when there is nothing more to read now."""
        assert self._stderr is not None
        try:
            data = os.read(self._stderr, READ_SIZE)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if not data:
            self._flush_stderr()
            self._close(self._stderr)
            self._stderr = None
            return False
        lines = (self._err_tail + data).split(b"\n")
        tail = lines.pop()
        for line in lines:
            if self._err_skip:  # the rest of a line that was already logged, cut
                self._err_skip = False
            else:
                self._log_line(line)
        if self._err_skip:
            tail = b""
        elif len(tail) > MAX_LOG_LINE:
            self._log_line(tail)
            self._err_skip = True
            tail = b""
        self._err_tail = tail
        return True

    def _flush_stderr(self) -> None:
        if self._err_tail:
            self._log_line(self._err_tail)
        self._err_tail = b""

    def _log_line(self, line: bytes) -> None:
        text = line[:MAX_LOG_LINE].rstrip(b"\r").decode("utf-8", "replace")
        if len(line) > MAX_LOG_LINE:
            text += " [line cut at %d bytes]" % MAX_LOG_LINE
        if text:
            self.job.log(text)

    # -- fds -------------------------------------------------------------------------------

    def _watch(self, fd: int, mask: int) -> None:
        self._loop.register(fd, mask, self)
        self._polled.add(fd)

    def _close(self, fd: int) -> None:
        # Unregister first: once closed, the number can be reused by a new socket.
        if fd in self._polled:
            self._polled.discard(fd)
            self._loop.unregister(fd)
        os.close(fd)


def _spawn(path: str, job: Job, stdin: int, stdout: int, stderr: int) -> int:
    """posix_spawn path in job.cwd, in a new process group, with stdio on the given fds.

    Measured on this project's 2-core Linux box (glibc 2.36, Python 3.11), /bin/true with
    three pipes, spawn + wait: os.posix_spawn 1330-1660 spawns/s, subprocess.Popen
    1150-1480 (10-25% slower; it runs more Python and an extra exec-error pipe). glibc's
    posix_spawn uses clone(CLONE_VM|CLONE_VFORK), so a big server costs no page-table copy.

    posix_spawn has no working-directory option in Python 3.11, so the server (single-
    threaded, absolute paths everywhere) steps into job.cwd around the call. The way back
    is an fd, not a path, so it works even if the server's folder was renamed or deleted.
    """
    actions = [
        (os.POSIX_SPAWN_DUP2, stdin, 0),
        (os.POSIX_SPAWN_DUP2, stdout, 1),
        (os.POSIX_SPAWN_DUP2, stderr, 2),
    ]
    home = os.open(".", _O_PATH | os.O_DIRECTORY)
    try:
        if job.cwd:
            os.chdir(job.cwd)
        try:
            return os.posix_spawn(
                path,
                job.argv,
                job.environ,
                file_actions=actions,
                setpgroup=0,
                setsigmask=(),
                setsigdef=_DEFAULT_SIGNALS,
            )
        finally:
            os.fchdir(home)
    finally:
        os.close(home)


def _reason(e: Exception, path: str, job: Job) -> str:
    """Why a script could not start, in words an operator can act on."""
    if not isinstance(e, OSError) or e.errno is None:
        return str(e)
    reason = os.strerror(e.errno)
    if e.filename is not None and e.filename != path:
        return "%s: %s" % (e.filename, reason)  # job.cwd
    if job.interpreter or e.errno not in (errno.ENOENT, errno.ENOEXEC):
        return reason
    try:
        with open(path, "rb") as f:
            first = f.readline(256)
    except OSError:
        return reason
    if not first.startswith(b"#!"):
        return reason + " (no #! line)" if e.errno == errno.ENOEXEC else reason
    shebang = first[2:].strip().decode("utf-8", "replace")
    return "bad interpreter in #! line %r: %s" % (shebang, reason)


def _reap(pid: int) -> int | None:
    """Exit status of pid if it has ended (and reap it), else None. Never blocks."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # somebody else reaped it
        return -1
    if done == 0:
        return None
    return os.waitstatus_to_exitcode(status)


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _above_stdio(fd: int) -> int:
    """fd itself if it is above 2, else a close-on-exec copy above 2 (fd is closed)."""
    if fd > 2:
        return fd
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    os.close(fd)
    return new


def _has_body(environ: dict[str, str]) -> bool:
    """Whether the request has a body for the script's stdin (SPEC 6: CONTENT_LENGTH is
    set only when it does)."""
    length = environ.get("CONTENT_LENGTH")
    return length is not None and length != "0"


def _disinherit_fds() -> None:
    """Mark every fd above 2 close-on-exec.

    Python opens its own fds non-inheritable (PEP 446), but the server may have been
    started with inheritable ones (a shell's or make's extra fds, a supervisor's
    pipes); none of them may reach a script (SPEC 5).
    """
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return
    for name in names:
        fd = int(name)
        if fd > 2:
            try:
                if os.get_inheritable(fd):
                    os.set_inheritable(fd, False)
            except OSError:  # the fd listdir itself used, closed by now
                pass
