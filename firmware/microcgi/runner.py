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

    # The server replaces these three with its own callbacks.
    def on_output(self, data):
        return True

    def on_exit(self, outcome, detail=None):
        pass

    def log(self, msg):
        pass


class Runner:
    """Base class of script runners; methods raise NotImplementedError (no abc)."""

    def start(self, job, loop):
        """Start job; return a handle (feed_body, end_body, cancel, backlog)."""
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
