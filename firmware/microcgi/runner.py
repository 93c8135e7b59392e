# The script-runner interface (docs/design.md, "Scripts").
#
# The server routes a request to a script and hands a ScriptJob to a runner:
# SubprocessRunner (host/, fork+exec on Linux) or CallableRunner (in-process
# Python callables, for boards without fork). Both report raw CGI output
# through job.on_output(), so one gateway.ScriptOutput parses it.
#
# These classes are the contract. The firmware follows it without inheriting
# (server._Job is a ScriptJob, inprocess.CallableRunner a Runner, as host's
# SubprocessRunner is), so that a board never spends RAM on this module.


class ScriptJob:
    """What a runner needs to run one script, and where it reports back."""

    def __init__(self, filename, interpreter, environ, cwd, timeout_ms, nph=False):
        self.filename = filename
        self.interpreter = interpreter  # "" = execute the file itself
        self.environ = environ
        self.cwd = cwd
        self.timeout_ms = timeout_ms
        self.nph = nph
        base = filename[filename.rfind("/") + 1 :]
        self.name = base
        self.argv = [interpreter or filename, base]

    stamp = None  # compat.stat() of filename when the server has just taken it, else None
    # timeout_ms is the longest the script may go without progress (no output read from
    # it, no body taken by its stdin); max_time_ms bounds its whole run (None: no bound)
    max_time_ms = None
    # an open regular file that is the request body (a chunked body the server spooled):
    # the script's stdin is that file, and feed_body()/end_body() do nothing
    body_file = None

    # The server replaces these with its own callbacks.
    def on_output(self, data):
        """Output of the script; False: stop it (over max_output)."""
        return True

    def on_exit(self, outcome, detail=None):
        """Exactly once: "exit" (detail: exit status), "closed" (stdout closed, the
        process finishes in the background), "timeout", "failed", "killed",
        "memory", "error"."""

    def on_body_drained(self):
        """Optional: the body accepted by feed_body() is all written to the script."""

    def log(self, msg):
        pass


class Runner:
    """Base class of script runners; methods raise NotImplementedError (no abc)."""

    def start(self, job, loop):
        """Start job; return a handle: feed_body(data), end_body(), cancel(),
        backlog() (body bytes accepted, not yet written), pause() (the client is
        behind: read no more output, the no-progress clock stops) and resume().
        May raise errors.HTTPError (e.g. 503: too many scripts)."""
        raise NotImplementedError

    def tick(self, now_ms):
        """Called every loop iteration: timeouts, kills, reaping."""

    def wants_cpu(self):
        """True when work is runnable now (the loop then polls without waiting)."""
        return False

    def busy(self):
        """True while anything is in flight (the loop then polls more often)."""
        return False

    def close(self):
        """Stop every script (server shutdown)."""
