# Script output that is not collected before it is sent: streamed output (SPEC 7.5,
# `stream_output`), sent as it comes, chunked on HTTP/1.1 and close-delimited on
# HTTP/1.0; and NPH scripts (SPEC 7.8), whose bytes are the whole response. Apart
# from server.py so that a board loads it only while such a script runs.
from microcgi import http11
from microcgi.errors import ScriptError


def output(conn, job, data):
    """server.Connection.script_output() of a streaming or NPH job."""
    if job.nph:
        if conn.status == 0:
            conn.status = 200
            conn.close_after = True
        conn.send(bytes(data))
        return True
    out = job.output
    try:
        out.feed(data)
    except ScriptError as e:
        job.error = e
        return False
    if out.head_done:
        _send(conn, out, False)
    return True


def ended(conn, job, outcome):
    """The end of a streaming or NPH job; False when nothing was sent yet, so that
    the buffered rules apply (server.Connection.script_exit())."""
    log = conn.server.log
    if job.nph:
        if conn.status == 0:
            log("%s: nph script produced nothing" % job.name)
            conn.error(500, "the script produced no output")
        else:
            conn.finish()
        return True
    if conn.status == 0:
        return False
    if outcome == "timeout":
        log("%s: timed out; response cut short" % job.name)
        conn.close_after = True
    _send(conn, job.output, True)
    return True


def _send(conn, out, last):
    chunked = conn.req.version == "HTTP/1.1"
    if conn.status == 0:
        if out.local_redirect is not None:
            return  # the redirect target answers instead, once the script ends
        reason = out.reason or http11.reason_phrase(out.status)
        conn.head(out.status, reason, out.headers, None, chunked, own=out.own)
    # HEAD, 204 or 304 (head() then sent no chunked framing either): no body
    status = conn.status
    bodiless = conn.req.method == "HEAD" or status == 204 or status == 304
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
