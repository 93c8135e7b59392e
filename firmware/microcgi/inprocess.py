# In-process scripts (SPEC section 8): boards have no fork, so a script is a
# Python module in the site defining main(environ, stdin, stdout). Its raw CGI
# output goes through the same gateway.ScriptOutput as a subprocess's.
#
# main() may be a generator: the loop resumes it between polls, so other
# connections progress while it works, and not while its client is behind (pause()):
# a generator's output is then bounded by what one step writes. Timeouts and the
# output cap are cooperative: every write and every resume checks them and raises
# inside the script. script_timeout counts from the last write (or the start),
# script_max_time from the start.
import gc
import io

from microcgi import compat
from microcgi.compat import const, lazy_call, ticks_add, ticks_diff, ticks_ms

# task states
_WAITING = const(0)  # for the end of the request body
_RUNNABLE = const(1)
_GENERATOR = const(2)  # main() returned a generator, resumed at every tick
_DONE = const(3)

_CACHE_ROOM = const(8192)  # free heap below which compiled scripts are not kept
_mem_free = getattr(gc, "mem_free", None)  # MicroPython


class ScriptStopped(Exception):
    """Raised inside a script at a write or resume once it must stop.

    args[0] is the outcome the job is told ("timeout", "killed"), or None when the
    server cancelled the script (nothing is told then).
    """


class _Task:
    """One script run: the handle the server holds (feed_body, end_body, cancel,
    backlog, pause, resume) and the script's stdout (write, flush)."""

    paused = False
    end = None  # ticks_ms() past which the script is stopped (script_max_time)
    stdin = None  # microcgi.upload.Stdin: the body read as it arrives

    def __init__(self, runner, job):
        self.runner = runner
        self.job = job
        self.body = []
        self.state = _WAITING
        self.gen = None
        now = ticks_ms()
        self.deadline = ticks_add(now, job.timeout_ms)
        max_ms = getattr(job, "max_time_ms", None)
        if max_ms is not None:
            self.end = ticks_add(now, max_ms)

    # ---- the handle ----
    def feed_body(self, data):
        if self.state == _WAITING:
            self.body.append(bytes(data))
        elif self.stdin is not None and self.state != _DONE:
            self.body.append(bytes(data))
            self.stdin.fed(len(data))

    def end_body(self):
        if self.state == _WAITING:
            self.state = _RUNNABLE
            self.runner.ready.append(self)

    def cancel(self):
        if self.state != _DONE:
            self.state = _DONE
            self._close_gen()

    def backlog(self):
        return 0

    def pause(self):
        self.paused = True

    def resume(self):
        self.paused = False
        self.deadline = ticks_add(ticks_ms(), self.job.timeout_ms)

    # ---- the script's stdout: every write checks the deadline and the cap ----
    def write(self, data):
        self.check()
        if not self.job.on_output(data):
            raise ScriptStopped("killed")
        self.deadline = ticks_add(ticks_ms(), self.job.timeout_ms)  # progress
        return len(data)

    def flush(self):
        pass

    # ---- running ----
    def check(self):
        if self.state == _DONE:
            raise ScriptStopped(None)
        now = ticks_ms()
        if ticks_diff(now, self.deadline) >= 0:
            raise ScriptStopped("timeout")
        if self.end is not None and ticks_diff(now, self.end) >= 0:
            raise ScriptStopped("timeout")

    def _close_gen(self):
        gen, self.gen = self.gen, None
        if gen is not None:
            try:
                gen.close()
            except Exception:  # noqa: BLE001 - the script is going away anyway
                pass

    def step(self):
        """Run the script (_RUNNABLE) or resume its generator (_GENERATOR) once."""
        # The script runs in a call of its own: once that returns, what its frames and its
        # exception held is garbage before the job's answer needs the heap (MicroPython
        # keeps an exception reachable from each frame it passed through until that ends).
        ended = self._run(self.job)
        if ended is None:
            return
        self._close_gen()
        was = self.state
        self.state = _DONE
        if ended[0] is not None and was != _DONE:
            self.job.on_exit(ended[0], ended[1])
        if self.stdin is not None:
            self.body = None
            self.stdin.finish()  # what the script left of the body is read and dropped

    def _run(self, job):
        """step(): None while the script goes on, else (outcome, detail) for job.on_exit."""
        try:
            if self.state == _RUNNABLE:
                main = self.runner.load(job.filename, job.stamp)
                stdin = self.stdin
                if stdin is None:
                    stdin = getattr(job, "body_file", None) or io.BytesIO(b"".join(self.body))
                    self.body = None
                self.check()
                result = main(job.environ, stdin, self)
                if result is not None and hasattr(result, "send"):
                    self.gen = result
                    self.state = _GENERATOR
                    return None
            else:
                self.check()
                try:
                    chunk = next(self.gen)
                except StopIteration:
                    chunk = self.gen = None
                if self.gen is not None:
                    if chunk:
                        self.write(chunk)
                    return None
            return "exit", 0
        except ScriptStopped as e:
            outcome = e.args[0]
            return outcome, ("output cap" if outcome == "killed" else None)
        except MemoryError:
            self._close_gen()
            self.body = None
            gc.collect()
            return "memory", None
        except Exception as e:  # noqa: BLE001 - a script's bug must not stop the server
            detail = type(e).__name__
            log = self.runner.log
            try:
                detail = "exception %s: %s" % (detail, e)
                gc.collect()  # what the script left: room to load the module that logs it
                lazy_call("failed", "traceback_lines", log, job.name, e)
            except MemoryError:
                # the job still ends with its one-line cause; the traceback is lost: say so
                lost = "traceback lost: MemoryError"
                try:
                    log("%s: %s" % (job.name, lost))
                except MemoryError:
                    log(lost)
            return "error", detail


class CallableRunner:
    """A runner.Runner that runs scripts as Python callables inside the server process.

    Args:
        log: a function taking one line for the error log.
    """

    # a body longer than this is read by the script as it arrives (microcgi.upload),
    # not held whole first; None: always held (CPython: hostserver spools and holds)
    stream_over = None

    def __init__(self, log=None):
        self.log = log or print
        self.ready = []  # tasks to step at the next tick
        self.running = []  # generator tasks
        self.cache = {}  # filename -> (size, mtime, main)

    def start(self, job, loop):
        task = _Task(self, job)
        over = self.stream_over
        if over is not None:
            conn = job.conn
            length = conn.req.body_length
            if length is not None and length > over and not conn.req.chunked:
                task.stdin = lazy_call("upload", "Stdin", task, conn, length, over)
                task.end_body()  # runnable now: its stdin waits for the body
        return task

    def wants_cpu(self):
        if self.ready:
            return True
        for task in self.running:
            if not task.paused:
                return True
        return False

    def busy(self):
        return bool(self.ready or self.running)

    def tick(self, now_ms):
        if self.ready:
            ready, self.ready = self.ready, []
            for task in ready:
                if task.state == _RUNNABLE:
                    task.step()
                    if task.state == _GENERATOR:
                        self.running.append(task)
        if self.running:
            still = []
            for task in self.running:
                if task.state == _GENERATOR and not task.paused:
                    task.step()
                if task.state == _GENERATOR:
                    still.append(task)
            self.running = still

    def close(self):
        for task in self.ready + self.running:
            task.cancel()
        self.ready = []
        self.running = []

    def load(self, filename, stamp=None):
        """main() of the script module, compiled once and reloaded when it changes.

        stamp: compat.stat() of the file, when the caller has just taken it.

        The cached scripts make way for a new one when the heap is short (they are
        compiled again when next asked for): a board runs one script at a time.
        """
        if not filename.endswith(".py"):
            raise ValueError("%s: in-process scripts are Python modules (.py)" % filename)
        if stamp is None:
            stamp = compat.stat(filename)
        size, mtime = stamp[1], stamp[2]
        hit = self.cache.get(filename)
        if hit is not None and hit[0] == size and hit[1] == mtime:
            return hit[2]
        self.cache.pop(filename, None)
        hit = None
        if _mem_free is not None and _mem_free() < _CACHE_ROOM:
            self.cache.clear()
        while True:
            try:
                with open(filename) as f:
                    source = f.read()
                scope = {"__name__": "microcgi", "__file__": filename}  # not "__main__"
                try:
                    code = compile(source, filename, "exec")
                    source = None
                    exec(code, scope)
                finally:
                    code = source = None
                    gc.collect()  # the compiler's scratch, before it fragments the heap
                break
            except MemoryError:
                if not self.cache:
                    raise
                self.cache.clear()
                gc.collect()
        main = scope.get("main")
        if main is None:
            raise ValueError("%s defines no main(environ, stdin, stdout)" % filename)
        self.cache[filename] = (size, mtime, main)
        return main
