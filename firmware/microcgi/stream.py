# Script output that is not collected before it is sent: streamed output (SPEC 7.5,
# `stream_output`, or a buffered response that outgrew `buffer_output`), sent as it
# comes, chunked on HTTP/1.1 and close-delimited on HTTP/1.0; NPH scripts (SPEC
# 7.8), whose bytes are the whole response; and responses cut short (SPEC 7.6).
# Apart from server.py so that a board loads it only while such a script runs.
#
# While the client's socket is behind (the connection still holds queued output),
# the script is paused (_sent() below; server.Connection.flush() resumes it):
# memory stays bounded by one read of its output, whatever the response's size and
# the client's speed.
from microcgi import http11
from microcgi.errors import ScriptError


def output(conn, job, data):
    """server.Connection.script_output() of a streaming or NPH job (data None: a
    buffered job just switched to streaming, with its output collected so far)."""
    if job.nph:
        if conn.status == 0:
            conn.status = 200
            conn.close_after = True
        conn.length += len(data)
        conn.send(bytes(data))
        _sent(conn, job)
        return True
    out = job.output
    if data is not None:
        try:
            out.feed(data)
        except ScriptError as e:
            job.error = e
            return False
    if out.head_done:
        send(conn, out, False)
        _sent(conn, job)
    return True


def _sent(conn, job):
    """While the client is behind, the script waits (and, on CPython, a body it also
    waits for is spooled: hostserver.Connection.spool_body())."""
    if conn.out and not job.paused:
        job.paused = True
        job.handle.pause()
        if conn.held:
            conn.spool_body()


def ended(conn, job, outcome, detail):
    """The end of a streaming or NPH job, or of a buffered one to be cut short.

    Returns False when nothing was sent and nothing is to be cut short, so that the
    buffered rules apply (server.Connection.script_exit()).
    """
    log = conn.server.log
    complete = job.error is None and (
        outcome == "closed" or (outcome == "exit" and not (detail and detail < 0))
    )
    if job.nph:
        if conn.status == 0:
            log("%s: nph script produced nothing" % job.name)
            conn.error(500, "the script produced no output")
            return True
        if not complete:
            _cut(conn, job, outcome, detail)
        conn.finish()
        return True
    out = job.output
    if conn.status == 0 and (complete or not out.head_done or out.local_redirect is not None):
        return False
    if complete:
        send(conn, out, True)
        return True
    # The output so far goes out (weborf's contract), and the client can tell that it
    # is not all: no last chunk on HTTP/1.1, no length on HTTP/1.0; then the close.
    _cut(conn, job, outcome, detail)
    send(conn, out, False)
    conn.finish()
    return True


def _cut(conn, job, outcome, detail):
    if outcome == "timeout":
        why = "timed out"
    elif outcome == "exit":
        why = "killed by signal %d" % -detail
    elif job.error is not None:
        why = str(job.error)
    else:
        why = "%s %s" % (outcome, detail or "")
    conn.server.log("%s: %s; response cut short" % (job.name, why))
    conn.close_after = True


def send(conn, out, last):
    """Send what out holds: the head first if not sent yet (chunked on HTTP/1.1),
    then the body pieces; with last, the final chunk and the end of the response."""
    req = conn.req
    chunked = req.version == "HTTP/1.1"
    if conn.status == 0:
        if out.local_redirect is not None:
            return  # the redirect target answers instead, once the script ends
        reason = out.reason or http11.reason_phrase(out.status)
        conn.head(out.status, reason, out.headers, None, chunked, own=out.own)
    # HEAD, 204 or 304 (head() then sent no chunked framing either): no body
    status = conn.status
    bodiless = req.method == "HEAD" or status == 204 or status == 304
    for piece in out.take_body():
        if bodiless or not piece:
            continue
        conn.length += len(piece)
        if chunked:
            conn.send(b"%x\r\n" % len(piece))
            conn.send(piece)
            conn.send(b"\r\n")
        else:
            conn.send(piece)
    if last:
        if chunked and not bodiless:
            conn.send(b"0\r\n\r\n")
        conn.finish()
