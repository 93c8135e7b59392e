# What the server does when a request fails: protocol errors (fail), scripts that
# left no usable response, tracebacks, and bugs caught by the loop (crashed). Apart
# from server.py and rare.py so that a board, often short of heap just then, loads
# only this small module (compat.lazy_call() drops it again afterwards).
import io

from microcgi import compat
from microcgi.errors import ProtocolError, ScriptError


def fail(conn, e):
    """server.Connection.fail(). One request, one answer: when this request's answer
    is out or on its way already (a static file answered before its body was read),
    nothing more is sent: the connection closes once that answer is out."""
    conn.server.log("http: %s from %s" % (e, conn.remote[0]))
    if conn.status:
        conn.close_after = True
        conn.body_done = True
        if conn.queued_all:
            conn.maybe_done()
        else:
            conn.abort()  # a script's response under way: cut short
        return
    conn.phase = 2  # server._BUSY
    conn.body_done = True
    job = conn.job
    conn.job = None
    if job is not None and job.handle is not None:
        job.handle.cancel()
    conn.out = []
    conn._close_file()
    conn.error(e.status, str(e), True)


def script_failed(conn, job, out, outcome, detail):
    """server.Connection.script_exit() of a script that left no usable response."""
    log = conn.server.log
    if outcome == "timeout":
        log("%s: timed out before its header block" % job.name)
        conn.error(504, "the script timed out")
        return
    err = job.error
    if err is None and outcome in ("exit", "closed"):
        try:
            out.finish()
        except ScriptError as e:
            err = e
    if err is None:
        err = ScriptError("cgi: %s" % (detail or outcome))
    log("%s: %s" % (job.name, err))
    conn.error(err.status, "the script failed; see the server log")


def traceback_lines(log, name, e):
    """Log the traceback of exception e, each line prefixed with a script's name.

    Short of heap this raises MemoryError, maybe after some lines: the caller then
    logs that the traceback was lost (inprocess.py). The text is taken apart line by
    line rather than split(), which would hold every line at once next to it.
    """
    buf = io.StringIO()
    compat.print_exception(e, buf)
    text = buf.getvalue()
    buf = None
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        if end < 0:
            end = len(text)
        if end > start:
            log("%s: %s" % (name, text[start:end]))
        start = end + 1


def crashed(server, handler, e):
    """server.Server.crashed(): one line with the cause and where it was raised; the
    connection concerned (the handler, or the connection of a script's handler) gets
    a 500 when nothing was sent yet, else is closed."""
    buf = io.StringIO()
    compat.print_exception(e, buf)
    lines = [line.strip() for line in buf.getvalue().split("\n") if line.strip()]
    where = lines[-2] if len(lines) > 1 else ""
    conn = handler
    job = getattr(handler, "job", None)
    if not hasattr(handler, "sock") and job is not None:
        conn = getattr(job, "conn", None)
        try:
            handler.cancel()
        except Exception:  # noqa: BLE001 - it is broken already
            pass
    peer = getattr(conn, "remote", ("-",))[0]
    server.log("http: internal error serving %s: %s: %s (%s)" % (peer, type(e).__name__, e, where))
    if conn is None or not hasattr(conn, "sock"):
        return
    try:
        if conn.status == 0 and conn.phase != 4:  # server._CLOSED
            job, conn.job = conn.job, None
            if job is not None and job.handle is not None:
                job.handle.cancel()
            conn.out = []
            conn.phase = 2  # server._BUSY
            conn.close_after = True
            conn.body_done = True
            conn.error(500, "internal server error")
            return
    except Exception:  # noqa: BLE001 - then it only closes
        pass
    conn.abort()


def expire(conn, now):
    """server.Connection.expire() of a connection in the middle of a request."""
    phase = conn.phase
    if phase == 1 or (  # server._HEAD
        phase == 2 and not conn.body_done and conn.status == 0 and not conn.held  # _BUSY
    ):
        conn.fail(ProtocolError("request not complete in time", 408))
        return
    if phase == 2 and (conn.out or conn.file_left):
        # (a script writing to it was paused meanwhile: abort() stops it)
        conn.server.log("http: %s stopped reading; dropped" % conn.remote[0])
    elif phase == 2 and conn.job is not None:
        # waiting for a script: the runner owns the timeout; 30 s until the next look
        conn.deadline = compat.ticks_add(now, 30000)
        return
    conn.abort()


def evict(server):
    """Make room for a new client (server.Server.on_poll()): close the connection idle
    the longest between requests (a keep-alive client loses nothing but a reconnect),
    if it has been idle a second at least (one just answered may be sending its next
    request: closing it then would reset that). False when none is."""
    best = None
    for conn in server.conns:
        if conn.phase == 0 and (  # server._IDLE
            best is None or compat.ticks_diff(conn.deadline, best.deadline) < 0
        ):
            best = conn
    if best is None:
        return False
    if compat.ticks_diff(best.deadline, compat.ticks_ms()) > server.keepalive_ms - 1000:
        return False
    best.abort()
    return True
