"""Run CGI scripts as child processes whose pipes are polled by the server loop.

SPEC section 5 (how a script starts), 7.5 (output cap), 7.6 (timeout), 7.9 (a script
that cannot start); the contract is docs/design.md, "Scripts: ScriptJob and Runner".

Nothing here blocks and nothing installs a signal handler. The script's stdin, stdout and
stderr are non-blocking pipes registered in the server's poll loop next to its sockets,
and, when the script closed its stdout before it could be reaped, a pidfd that becomes
readable when it exits (with no pidfd, tick() polls waitpid instead). tick() enforces the
deadlines, sends the SIGKILL that follows a SIGTERM, and reaps the processes of scripts
that were stopped.

A request without a body (no CONTENT_LENGTH in job.environ, or "0"; SPEC 6) gives the
script /dev/null as its stdin, which reads as EOF at once, just as an empty pipe closed by
end_body() would: one pipe fewer per request. feed_body() then drops what it is given. A
job with a body_file (a chunked body the server spooled) gets that file as its stdin.

job.on_exit(outcome, detail) is called exactly once per started job, and only from
on_poll() or tick(), never from inside start(), feed_body() or cancel():

  "exit"     detail = exit status (negative: killed by that signal); stdout reached EOF
  "closed"   detail = None; stdout reached EOF while the process works on: the response
             is complete, the process finishes in the background (bounded, reaped)
  "timeout"  detail = None (no progress for job.timeout_ms) or "max_time" (job.max_time_ms
             passed); SIGTERM sent to the process group, SIGKILL follows in 1 s
  "failed"   detail = "cannot run PATH: reason"; nothing was started (SPEC 7.9)
  "killed"   detail = "output cap"; job.on_output() returned False, the group got SIGKILL
  "error"    detail = message; job.on_output() raised (logged with its traceback)

After on_exit() the runner holds nothing of the job: its pipes are closed, and its
process is reaped or queued for reaping in tick() (a "closed" script keeps its stderr
pipe until it ends). cancel() stops a script without any on_exit(). Besides the Runner
interface, busy() says whether tick() still has work, and wants_cpu() whether it has a
failure to report right away (the server then polls with timeout 0).

On Linux the server becomes a child subreaper (prctl PR_SET_CHILD_SUBREAPER) at its first
script: a script's descendants that lose their parent become the server's children rather
than init's, so that a timeout or a cancel finds them even after they left the script's
process group (setsid), and tick() reaps them (docs/cgi.md, "What a timeout stops").
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import time
from collections import deque

from microcgi.errors import HTTPError

# typing costs start-up time and memory and the hints need none of it at run time; mypy
# reads any constant named TYPE_CHECKING as typing.TYPE_CHECKING.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Protocol
else:
    Protocol = object

READ_SIZE = 64 * 1024  # bytes per os.read() of stdout or stderr
MAX_LOG_LINE = 4 * 1024  # a longer stderr line is cut to this many bytes
# A script's stderr beyond its first MAX_STDERR_LOG bytes is read and dropped, and counted
# in one last line: a script printing without end cannot fill the disk with the log.
MAX_STDERR_LOG = 64 * 1024
KILL_GRACE_MS = 1000  # SIGTERM, then SIGKILL this much later (SPEC 7.6)
CLOSE_WAIT_MS = 2000  # close(): how long to wait for SIGKILLed processes to be reapable
# stdout at EOF, the process not reapable yet: how long to wait for its exit (and status)
# before reporting "closed". A script's stdout closes in the kernel's exit path before the
# process becomes reapable; measured on a 2-core box with 3 CPU hogs, up to 8 ms apart.
EXIT_WAIT_MS = 50
_MAX_DRAIN_READS = 16  # reads of stderr when a job ends (its last words, bounded)
# Reads of stdout per poll event. More than one: a script's last write and its exit are
# usually microseconds apart, so the read after the data often finds EOF at once and
# saves a round through poll().
_MAX_STDOUT_READS = 4
_REAP_EVERY_MS = 1000  # how often tick() reaps children of the server no script owns
_STRAY_WAIT_MS = 10000  # how long tick() looks after a descendant it SIGKILLed
_SWEEP_PASSES = 4  # rounds of looking for descendants, for those forked meanwhile
_PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>

# Ignored signals stay ignored across exec, and CPython ignores SIGPIPE and SIGXFSZ: give
# the script their default actions back, as subprocess.Popen(restore_signals=True) does.
# (glibc's posix_spawn leaves its two internal signals, 32 and 33, ignored in the child;
# Python refuses to name them, and glibc installs their handlers when a program uses them.)
_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)
_O_PATH = getattr(os, "O_PATH", os.O_RDONLY)  # Linux: needs no read permission
# pipe() or posix_spawn() failing for want of descriptors, processes or memory: 503
_SHORTAGE = (errno.EMFILE, errno.ENFILE, errno.EAGAIN, errno.ENOMEM)


class Job(Protocol):
    """The parts of microcgi.runner.ScriptJob that a runner uses. Optional, read with
    getattr: max_time_ms (int or None), body_file (an open file or None), and
    on_body_drained() (docs/design.md)."""

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
        max_scripts: at most this many scripts at once (those finishing in the
            background after closing their output count too); start() raises
            HTTPError 503 beyond it. None or 0: no limit.
    """

    def __init__(self, log: Callable[[str], None] | None = None, max_scripts: int | None = None):
        self._log = log
        self._max_scripts = max_scripts or 0
        self._running: set[ScriptProcess] = set()  # started, on_exit not yet called
        self._background: set[ScriptProcess] = set()  # "closed" and still running
        self._stopped: list[_Stopped] = []  # process groups still to SIGKILL or reap
        self._strays: dict[int, int] = {}  # pid SIGKILLed by a sweep -> when to forget it
        self._failures = 0  # spawn failures waiting for tick() to report them
        self._pid = os.getpid()
        self._subreaper: bool | None = None  # None: not tried yet (at the first start())
        self._next_reap = 0
        _disinherit_fds()
        # The stdin of scripts run for requests without a body; O_CLOEXEC, above 0-2.
        self._devnull = _above_stdio(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))

    def start(self, job: Job, loop: Loop) -> ScriptProcess:
        """Start job's script; returns its handle. Never raises for a script that
        cannot run: that is reported as on_exit("failed", ...) at the next tick().
        Raises HTTPError (503) when max_scripts are running, or when the server is out
        of descriptors or processes for now (EMFILE, ENFILE, EAGAIN, ENOMEM)."""
        if self._max_scripts and len(self._running) + len(self._background) >= self._max_scripts:
            raise HTTPError("too many scripts running", 503)
        if self._subreaper is None:
            # Here rather than in __init__: ctypes costs the start-up 3-4 ms.
            self._subreaper = _set_subreaper(1)
        proc = ScriptProcess(self, job, loop)
        self._running.add(proc)
        try:
            proc.spawn()
        except HTTPError:
            self._running.discard(proc)
            raise
        return proc

    def tick(self, now_ms: int) -> None:
        """Deadlines, the SIGKILL after a SIGTERM's grace, reaping. Call every iteration."""
        for proc in list(self._running):
            proc.tick(now_ms)
        if self._background:
            for proc in list(self._background):
                proc.tick_background(now_ms)
        if self._stopped:
            self._stopped = [e for e in self._stopped if not self._finish_stopped(e, now_ms)]
        if self._subreaper and (self._strays or now_ms >= self._next_reap):
            self._reap_orphans(now_ms)

    def wants_cpu(self) -> bool:
        """True when tick() has something to report at once (a script that could not
        start): the server then polls without waiting (firmware/microcgi/server.py)."""
        return self._failures > 0

    def busy(self) -> bool:
        """True while a script runs or a stopped one still has to be killed or reaped."""
        return bool(self._running or self._background or self._stopped or self._strays)

    def close(self) -> None:
        """Kill every script's process group and reap them all (server shutdown)."""
        for proc in list(self._running):
            proc.cancel()
        for proc in list(self._background):
            self._stop(proc.pid, signal.SIGKILL, None, proc._status is None)
            proc._end_background()
        for stopped in self._stopped:
            stopped.kill_at = 0  # SIGKILL now, whatever grace was left
        if self._subreaper:
            self._sweep(0, signal.SIGKILL)  # what scripts left behind and the server adopted
        give_up = _now_ms() + CLOSE_WAIT_MS
        self.tick(_now_ms())
        while (self._stopped or self._strays) and _now_ms() < give_up:
            time.sleep(0.005)
            self.tick(_now_ms())
        if self._stopped:
            self._say("cgi: could not reap process groups %r" % [s.pgid for s in self._stopped])
            self._stopped = []
        self._strays.clear()
        if self._subreaper:
            self._reap_orphans(_now_ms())  # the zombies among them
            _set_subreaper(0)  # (a test suite runs servers in its own process)
            self._subreaper = None
        if self._devnull >= 0:
            os.close(self._devnull)
            self._devnull = -1

    def _stop(self, pgid: int, sig: int, kill_at: int | None, reap: bool) -> None:
        """Signal a script's process group and the descendants that left it, and
        remember to SIGKILL/reap it later."""
        _killpg(pgid, sig)
        # The script's own descendants only while it is unreaped: a reaped pid may be
        # someone else's by now.
        self._sweep(pgid if reap else 0, sig)
        if kill_at is not None or reap:
            self._stopped.append(_Stopped(pgid, kill_at, reap))

    def _finish_stopped(self, stopped: _Stopped, now_ms: int) -> bool:
        if stopped.kill_at is not None:
            if now_ms < stopped.kill_at:
                return False
            _killpg(stopped.pgid, signal.SIGKILL)
            self._sweep(stopped.pgid if stopped.reap else 0, signal.SIGKILL)
            stopped.kill_at = None
        # The leader stays a zombie until the last signal went out, so that its pid,
        # which is the group id, cannot be given to an unrelated process meanwhile.
        return not stopped.reap or _reap(stopped.pgid) is not None

    # -- descendants that left the process group (setsid, setpgid) -----------------------

    def _tracked(self) -> set[int]:
        """The pids this runner reaps itself: scripts and stopped group leaders."""
        pids = {p.pid for p in self._running if p.pid}
        pids.update(p.pid for p in self._background)
        pids.update(s.pgid for s in self._stopped)
        return pids

    def _sweep(self, pid: int, sig: int) -> None:
        """Send sig to every descendant of pid (0: none), and, when the server is a
        subreaper, to every child of the server that is not a script of its own, with
        theirs: those are descendants of scripts whose parent died (a double fork, or
        the script itself). Top-down, so that a SIGKILLed parent forks no more; a few
        rounds, for the children of those that died meanwhile (they become the
        server's)."""
        live = {p.pid for p in self._running if p.pid}
        live.update(p.pid for p in self._background)
        seen: set[int] = set()
        for _ in range(_SWEEP_PASSES):
            roots = [(c, pid) for c in _children(pid)] if pid > 1 else []
            if self._subreaper:
                roots.extend((c, self._pid) for c in _children(self._pid) if c not in live)
            found = _signal_tree(roots, sig, seen)
            if sig == signal.SIGKILL:
                give_up = _now_ms() + _STRAY_WAIT_MS
                for p in found:
                    self._strays[p] = give_up
            if not found:
                break

    def _reap_orphans(self, now_ms: int) -> None:
        """Reap the server's children that no script owns (descendants of scripts that
        lost their parent), without touching the scripts' own exit statuses."""
        self._next_reap = now_ms + _REAP_EVERY_MS
        tracked = self._tracked()
        for pid in _children(self._pid):
            if pid not in tracked:
                _reap(pid)
        for pid in list(self._strays):
            if now_ms >= self._strays[pid] or not os.path.exists("/proc/%d" % pid):
                del self._strays[pid]

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
        self._drained = False  # on_body_drained() to call at the end of this event
        self._paused = False  # pause(): stdout is not read
        self._status: int | None = None  # exit code once the process is reaped
        self._err_tail = b""  # an incomplete stderr line
        self._err_skip = False  # inside a stderr line that was cut
        self._err_room = MAX_STDERR_LOG  # stderr bytes still to log
        self._err_dropped = 0  # stderr bytes dropped past MAX_STDERR_LOG
        self._failure: str | None = None
        self._done = False  # on_exit() called, or cancel()
        self._background = False  # on_exit("closed") called, the process still runs
        self._exit_wait: int | None = None  # stdout at EOF: "closed" from this time on
        self._bg_until: int | None = None  # in the background: stopped at this time
        now = _now_ms()
        self._timeout = timeout = job.timeout_ms
        self._deadline = None if timeout is None else now + timeout
        max_time = getattr(job, "max_time_ms", None)
        self._end_at = None if max_time is None else now + max_time

    # -- start ---------------------------------------------------------------------------

    def spawn(self) -> None:
        job = self.job
        path = job.interpreter or job.filename
        body_file = getattr(job, "body_file", None)
        body = body_file is None and _has_body(job.environ)
        # stdout r, w; stderr r, w; with a body stdin r, w. All O_CLOEXEC: the child gets
        # its ends through dup2 only.
        fds: list[int] = []
        spare = -1  # a copy of body_file's fd above 0-2, when it is one of them
        try:
            for _ in range(3 if body else 2):
                fds.extend(os.pipe())
            for i in (1, 3, 4) if body else (1, 3):
                # the child's ends must not be 0-2 (a server run with those closed)
                fds[i] = _above_stdio(fds[i])
            for i in (0, 2, 5) if body else (0, 2):  # the server's ends; the child's block
                os.set_blocking(fds[i], False)
            if body_file is not None:
                stdin = body_file.fileno()
                if stdin <= 2:
                    stdin = spare = fcntl.fcntl(stdin, fcntl.F_DUPFD_CLOEXEC, 3)
            else:
                stdin = fds[4] if body else self._runner._devnull
            pid = _spawn(path, job, stdin, fds[1], fds[3])
        except (OSError, ValueError, TypeError) as e:  # (a NUL or a non-str in environ)
            for fd in fds:
                os.close(fd)
            if isinstance(e, OSError) and e.errno in _SHORTAGE:
                # out of descriptors or processes for now, not a broken script
                msg = "cannot start a script now: %s" % os.strerror(e.errno)
                raise HTTPError(msg, 503) from None
            self._failure = "cannot run %s: %s" % (path, _reason(e, path, job))
            self._runner._failures += 1
            return
        finally:
            if spare >= 0:
                os.close(spare)
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

    def pause(self) -> None:
        """The client is behind: stop reading stdout (the pipe fills and the script
        blocks in write); the no-progress deadline does not run meanwhile."""
        if self._paused or self._done:
            return
        self._paused = True
        fd = self._stdout
        if fd is not None and fd in self._polled:
            # Out of the poll set, not mask 0: poll() reports POLLHUP whatever the mask,
            # and the script may exit (and hang up) while paused.
            self._polled.discard(fd)
            self._loop.unregister(fd)

    def resume(self) -> None:
        """Read stdout again; the no-progress deadline starts again from now."""
        if not self._paused or self._done:
            return
        self._paused = False
        if self._timeout is not None:
            self._deadline = _now_ms() + self._timeout
        if self._stdout is not None and self._stdout not in self._polled:
            self._watch(self._stdout, select.POLLIN)

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
            if self._background:
                self._poll_background(fd)
            return
        if fd == self._stdout:
            self._read_stdout()
        elif fd == self._stderr:
            if (
                not self._read_stderr()
                and self._stderr is None
                and self._stdout is not None
                and not self._paused
            ):
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
        if self._drained:
            self._drained = False
            if not self._done:
                drained = getattr(self.job, "on_body_drained", None)
                if drained is not None:
                    drained()

    def tick(self, now_ms: int) -> None:
        if self._done:
            return
        if self._failure is not None:
            self._end()
            self.job.on_exit("failed", self._failure)
            return
        if self._stdout is None and self._status is None:
            if self._pidfd is None:
                self._reap()  # stdout is at EOF and there is no pidfd: poll for the exit
                self._maybe_exit()
            if not self._done and self._exit_wait is not None and now_ms >= self._exit_wait:
                self._closed()
                return
        if self._done:
            return
        if self._end_at is not None and now_ms >= self._end_at:
            self._time_out(now_ms, "max_time")
        elif not self._paused and self._deadline is not None and now_ms >= self._deadline:
            # SPEC 7.6. Also ends a script that exited while a child of its still holds
            # stdout open: that child gets the same SIGTERM, then SIGKILL.
            self._time_out(now_ms, None)

    def _time_out(self, now_ms: int, detail: str | None) -> None:
        self._runner._stop(self.pid, signal.SIGTERM, now_ms + KILL_GRACE_MS, self._status is None)
        self._end()
        self.job.on_exit("timeout", detail)

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
            if self._timeout is not None:
                self._deadline = _now_ms() + self._timeout
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
            if self._paused:  # (on_output may have called pause())
                return

    def _stdout_closed(self) -> None:
        """EOF on stdout: the job ends once the process is reaped too. Usually it is
        reapable by now or within microseconds (a script's stdout closes as it exits):
        a pidfd says when (or tick() polls waitpid where there are no pidfds). If it is
        still running EXIT_WAIT_MS later, the script closed its output and works on:
        tick() reports "closed" and the process finishes in the background."""
        assert self._stdout is not None
        self._close(self._stdout)
        self._stdout = None
        if self._status is None:
            self._reap()
        if self._status is None:
            self._exit_wait = _now_ms() + EXIT_WAIT_MS
            self._watch_exit()
        self._maybe_exit()

    def _watch_exit(self) -> None:
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (OSError, AttributeError):  # Linux < 5.3, seccomp, not Linux, EMFILE
            self._pidfd = None
        else:
            self._watch(self._pidfd, select.POLLIN)

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
        self._end_stderr()
        self._close_stdin()
        for fd in (self._stdout, self._pidfd):
            if fd is not None:
                self._close(fd)
        self._stdout = self._pidfd = None

    def _end_stderr(self) -> None:
        if self._stderr is not None:
            for _ in range(_MAX_DRAIN_READS):
                if not self._read_stderr():
                    break
            if self._stderr is not None:
                self._flush_stderr()
                self._close(self._stderr)
                self._stderr = None

    # -- a script that closed its stdout and works on -------------------------------------

    def _closed(self) -> None:
        """Report "closed": the response is complete; the process finishes on its own,
        its stderr still logged, until max_time_ms (if set) else timeout_ms from now."""
        self._done = self._background = True
        runner = self._runner
        runner._running.discard(self)
        runner._background.add(self)
        self._close_stdin()
        now = _now_ms()
        if self._end_at is not None:
            self._bg_until = self._end_at
        elif self._timeout is not None:
            self._bg_until = now + self._timeout
        self.job.on_exit("closed", None)

    def _poll_background(self, fd: int) -> None:
        if fd == self._stderr:
            self._read_stderr()
        elif fd == self._pidfd:
            self._reap()
            if self._status is not None:
                self._end_background()

    def tick_background(self, now_ms: int) -> None:
        if self._pidfd is None:
            self._reap()
            if self._status is not None:
                self._end_background()
                return
        if self._bg_until is not None and now_ms >= self._bg_until:
            self.job.log("still running after its output ended: stopped")
            self._runner._stop(self.pid, signal.SIGTERM, now_ms + KILL_GRACE_MS, True)
            self._end_background()

    def _end_background(self) -> None:
        self._runner._background.discard(self)
        self._background = False
        self._end_stderr()
        if self._pidfd is not None:
            self._close(self._pidfd)
            self._pidfd = None
        if self._status:
            self.job.log("exit status %d (after its output ended)" % self._status)

    # -- stdin -----------------------------------------------------------------------------

    def _write(self, data: bytes | memoryview) -> int | None:
        """Write what the pipe takes now; None when the script's stdin is gone."""
        assert self._stdin is not None
        try:
            n = os.write(self._stdin, data)
        except BlockingIOError:
            return 0
        except OSError:  # EPIPE: the script exited or closed its stdin
            self._close_stdin()
            return None
        if n and self._timeout is not None:
            self._deadline = _now_ms() + self._timeout  # progress
        return n

    def _write_queue(self, events: int) -> None:
        # Called only while the queue is not empty (stdin is polled then): whatever
        # empties it, written or dropped, on_body_drained() follows.
        self._drained = True
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
                self._drained = False
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
        room = self._err_room
        full = len(data) >= room
        if full:
            self._err_dropped += len(data) - room
            if not room:
                return True
            data = data[:room]
        self._err_room = room - len(data)
        # Lines end at \n or \r: progress meters (git, curl, wget) redraw one line with \r.
        lines = (self._err_tail + data).replace(b"\r", b"\n").split(b"\n")
        tail = lines.pop()
        for line in lines:
            if self._err_skip:  # the rest of a line that was already logged, cut
                self._err_skip = False
            else:
                self._log_line(line)
        if self._err_skip:
            tail = b""
        elif full:  # the line the cap cut in two is dropped whole
            self._err_dropped += len(tail)
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
        if self._err_dropped:
            self.job.log(
                "\u2026 %d bytes of stderr dropped (%d are logged at most)"
                % (self._err_dropped, MAX_STDERR_LOG)
            )
            self._err_dropped = 0

    def _log_line(self, line: bytes) -> None:
        text = line[:MAX_LOG_LINE].decode("utf-8", "replace")
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


def _set_subreaper(on: int) -> bool:
    """prctl(PR_SET_CHILD_SUBREAPER, on) (Linux >= 3.4); False where that fails."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, on, 0, 0, 0) == 0
    except (OSError, AttributeError, ImportError):
        return False


_HAVE_CHILDREN_FILE = os.path.exists("/proc/self/task/%d/children" % os.getpid())


def _children(pid: int) -> list[int]:
    """The pids of pid's children (zombies too); [] when pid is gone. Linux /proc: the
    children file of each of its threads, else (a kernel without CONFIG_PROC_CHILDREN)
    every process's parent pid."""
    if not _HAVE_CHILDREN_FILE:
        return [p for p, parent in _parents() if parent == pid]
    found: list[int] = []
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return found
    for tid in tasks:
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid), "rb") as f:
                found.extend(int(n) for n in f.read().split())
        except OSError:  # the thread ended meanwhile
            pass
    return found


def _parents() -> Iterable[tuple[int, int]]:
    """(pid, parent pid) of every process."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return
    for name in names:
        if name.isdigit():
            parent = _ppid(int(name))
            if parent is not None:
                yield int(name), parent


def _ppid(pid: int) -> int | None:
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses
            return int(f.read().rpartition(b")")[2].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _signal_tree(roots: list[tuple[int, int]], sig: int, seen: set[int]) -> list[int]:
    """Send sig to each (pid, parent) of roots and to all their descendants, parents
    before children; skips and extends seen; returns the pids signalled now.

    A pid is signalled through a pidfd after checking that its parent is still the one
    it was found under, so that a pid freed and reused meanwhile is never hit."""
    done: list[int] = []
    todo = list(roots)
    while todo:
        pid, parent = todo.pop()
        if pid in seen:
            continue
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        except (OSError, AttributeError):  # no pidfds here (or out of descriptors)
            pidfd = -1
        try:
            if _ppid(pid) != parent:
                continue  # gone, or reparented: found again under its new parent
            seen.add(pid)
            if pidfd >= 0:
                signal.pidfd_send_signal(pidfd, sig)
            else:
                os.kill(pid, sig)
            done.append(pid)
            children = _children(pid)
            if pidfd >= 0:
                signal.pidfd_send_signal(pidfd, 0)  # still the same process (or its zombie)
        except ProcessLookupError:
            continue
        finally:
            if pidfd >= 0:
                os.close(pidfd)
        todo.extend((child, pid) for child in children)
    return done
