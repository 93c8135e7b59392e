# In-process scripts (SPEC section 8): boards have no fork, so a script is a
# Python module in the site defining main(environ, stdin, stdout). Its raw CGI
# output goes through the same gateway.ScriptOutput as a subprocess's.
#
# main() may be a generator: the loop resumes it between polls, so other
# connections progress while it works. Timeout and output cap are cooperative:
# every write and every resume checks them and raises inside the script.
import io

from microcgi import compat
from microcgi.compat import ticks_diff, ticks_ms
from microcgi.runner import Runner


class ScriptStopped(Exception):
    """Raised inside a script at a write or resume once it must stop."""


class _Timeout(ScriptStopped):
    pass


class _OverCap(ScriptStopped):
    pass


class _Stdout:
    """What a script writes to; every write checks the deadline and the cap."""

    def __init__(self, task):
        self.task = task

    def write(self, data):
        task = self.task
        task.check()
        if not task.job.on_output(data):
            raise _OverCap("output cap")
        return len(data)

    def flush(self):
        pass


class _Task:
    """One script run: the handle the server holds (feed_body, end_body, ...)."""

    def __init__(self, runner, job):
        self.runner = runner
        self.job = job
        self.body = []
        self.state = 0  # 0 waiting for the body, 1 runnable, 2 generator, 3 done
        self.gen = None
        self.deadline = ticks_ms() + 0
        self.deadline = compat.ticks_add(ticks_ms(), job.timeout_ms)
        self.out = _Stdout(self)

    # ---- the handle ----
    def feed_body(self, data):
        if self.state == 0:
            self.body.append(bytes(data))

    def end_body(self):
        if self.state == 0:
            self.state = 1
            self.runner.ready.append(self)

    def cancel(self):
        if self.state != 3:
            self.state = 3
            self._close_gen()

    def backlog(self):
        return 0

    # ---- running ----
    def check(self):
        if self.state == 3:
            raise ScriptStopped("cancelled")
        if ticks_diff(ticks_ms(), self.deadline) >= 0:
            raise _Timeout("timeout")

    def _close_gen(self):
        gen, self.gen = self.gen, None
        if gen is not None:
            try:
                gen.close()
            except Exception:  # noqa: BLE001 - the script is going away anyway
                pass

    def step(self):
        """Run the script (state 1) or resume its generator (state 2) once."""
        try:
            if self.state == 1:
                main = self.runner.load(self.job.filename)
                stdin = io.BytesIO(b"".join(self.body))
                self.body = None
                self.check()
                result = main(self.job.environ, stdin, self.out)
                if result is not None and hasattr(result, "send"):
                    self.gen = result
                    self.state = 2
                    return
            else:
                self.check()
                try:
                    chunk = next(self.gen)
                except StopIteration:
                    chunk = None
                    self.gen = None
                if self.gen is not None:
                    if chunk:
                        self.out.write(chunk)
                    return
            self._end("exit", 0)
        except _Timeout:
            self._end("timeout", None)
        except _OverCap:
            self._end("killed", "output cap")
        except ScriptStopped:
            self._end(None, None)
        except MemoryError:
            self._close_gen()
            self.body = None
            self.runner.collect()
            self._end("memory", None)
        except Exception as e:  # noqa: BLE001 - a script's bug must not stop the server
            self.runner.log_exception(self.job, e)
            self._end("error", "exception %s: %s" % (type(e).__name__, e))

    def _end(self, outcome, detail):
        self._close_gen()
        was = self.state
        self.state = 3
        if outcome is not None and was != 3:
            self.job.on_exit(outcome, detail)


class CallableRunner(Runner):
    """Runs scripts as Python callables inside the server process.

    Args:
        log: a function taking one line for the error log.
    """

    def __init__(self, log=None):
        self.log = log or print
        self.ready = []  # tasks to step at the next tick
        self.running = []  # generator tasks
        self.cache = {}  # filename -> (size, mtime, main)

    def start(self, job, loop):
        return _Task(self, job)

    def wants_cpu(self):
        return bool(self.ready or self.running)

    def busy(self):
        return self.wants_cpu()

    def tick(self, now_ms):
        if self.ready:
            ready, self.ready = self.ready, []
            for task in ready:
                if task.state == 1:
                    task.step()
                    if task.state == 2:
                        self.running.append(task)
        if self.running:
            still = []
            for task in self.running:
                if task.state == 2:
                    task.step()
                if task.state == 2:
                    still.append(task)
            self.running = still

    def close(self):
        for task in self.ready + self.running:
            task.cancel()
        self.ready = []
        self.running = []

    def load(self, filename):
        """main() of the script module, compiled once and reloaded when it changes."""
        mode, size, mtime = compat.stat(filename)
        hit = self.cache.get(filename)
        if hit is not None and hit[0] == size and hit[1] == mtime:
            return hit[2]
        self.cache.pop(filename, None)
        with open(filename) as f:
            source = f.read()
        scope = {"__name__": "microcgi_script", "__file__": filename}
        code = compile(source, filename, "exec")
        source = None
        exec(code, scope)
        main = scope.get("main")
        if main is None:
            raise ValueError("%s defines no main(environ, stdin, stdout)" % filename)
        self.cache[filename] = (size, mtime, main)
        self.collect()
        return main

    def collect(self):
        try:
            import gc

            gc.collect()
        except ImportError:  # pragma: no cover
            pass

    def log_exception(self, job, e):
        buf = io.StringIO()
        compat.print_exception(e, buf)
        for line in buf.getvalue().split("\n"):
            if line:
                self.log("%s: %s" % (job.name, line))
