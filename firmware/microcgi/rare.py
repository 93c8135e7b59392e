# The server's rarely used paths, apart from server.py so that a board loads them
# only while a request needs one (compat.lazy_call() drops them again afterwards):
# directory redirects and listings, OPTIONS *, local redirects of scripts (RFC 3875
# 6.2.2), the access-log line, a script's traceback, and the server's end.
# Conditional and range answers for static files are in microcgi.conditional.
import io
import os

from microcgi import compat, http11, static
from microcgi.compat import lazy_call, unload
from microcgi.errors import Forbidden, HTTPError, ScriptError

_MAX_REDIRECTS = 5  # SPEC 7.3


def directory(server, conn, req, path, fs, root):
    """A folder (SPEC 4): its index file, a 301 to its slash form, or its listing.

    fs is the folder's path (ending in "/" when path does), root the folder that
    path's files are under (ROOT or an alias's): a symlink must not leave it.
    """
    if req.target == b"*":
        # OPTIONS * (http11 routes it as "/"): the server's methods (RFC 9110 9.3.7)
        allow = http11.METHODS.strip().replace(b" ", b", ")
        conn.respond(200, [(b"Allow", allow)], b"")
        return
    if path.endswith("/"):
        for name in server.cfg.index:
            try:
                st = compat.stat(fs + name)
            except OSError:
                continue
            mode = st[0]
            if mode & compat.S_IFMT != compat.S_IFREG:
                continue  # a folder, a FIFO, ...: never an index, never opened
            if server.realpath is not None:
                server.check_inside(fs + name, root)  # hostserver, follow_symlinks off
            interp = server.interpreter(fs + name, path + name, mode)
            if interp is not None:
                server.run_script(conn, req, path + name, fs + name, None, interp, st)
            elif req.method in ("GET", "HEAD"):
                conn.send_file(fs + name, st[1], st[2], name)
            else:
                raise HTTPError("method not allowed on a static file", 405)
            return
    else:
        location = lazy_call("urlpath", "quote_path", path) + "/"
        if req.query is not None:
            location += "?" + req.query.decode()
        location = location.encode()
        conn.respond(
            301,
            [(b"Location", location), (b"Content-Type", b"text/plain")],
            b"moved to " + location + b"\n",
        )
        return
    if not server.cfg.listing:
        raise Forbidden("directory listing is off")
    if req.method not in ("GET", "HEAD"):
        raise HTTPError("method not allowed on a directory", 405)
    try:
        names = os.listdir(fs)
    except OSError as e:
        raise server.unreadable(fs, e)
    entries = []
    for name in names:
        try:
            mode, size, mtime = compat.stat(fs + name)
        except OSError:
            continue
        entries.append((name, mode & compat.S_IFMT == compat.S_IFDIR, size, mtime))
    names = None
    from microcgi import listing

    body = b"".join(listing.listing(path, entries, server.cfg.serve_dotfiles))
    entries = listing = None
    unload("microcgi.listing")
    unload("microcgi.urlpath")
    conn.respond(200, [(b"Content-Type", b"text/html; charset=utf-8")], body)


def local_redirect(conn, location):
    """RFC 3875 6.2.2: answer as if the client had asked for location (a GET)."""
    old = conn.req
    hops = getattr(old, "hops", 0) + 1
    if hops > _MAX_REDIRECTS:
        conn.server.log("cgi: more than %d local redirects" % _MAX_REDIRECTS)
        conn.error(500, "too many local redirects")
        return
    method = "HEAD" if old.method == "HEAD" else "GET"
    headers = [h for h in old.headers if h[0] not in (b"content-length", b"content-type")]
    req = http11.Request(method, location.encode(), old.version, headers)
    req.keep_alive = old.keep_alive
    req.hops = hops
    conn.req = req
    try:
        conn.server.route(conn, req, static.decode_path(req.path))
    except HTTPError as e:
        conn.error(e.status, str(e))


def access_line(conn):
    """The Common Log Format line of conn's request."""
    req = conn.req
    t = compat.unix_time()
    when = "-"
    if t:
        d = compat.http_date(t).decode().split()  # 10/Oct/2000:13:55:36 +0000
        when = "%s/%s/%s:%s +0000" % (d[1], d[2], d[3], d[4])
    return '%s - - [%s] "%s %s %s" %d %d' % (
        conn.remote[0],
        when,
        req.method,
        req.target.decode(),
        req.version,
        conn.status,
        conn.length,
    )


def traceback_lines(log, name, e):
    """Log the traceback of exception e, each line prefixed with a script's name."""
    buf = io.StringIO()
    compat.print_exception(e, buf)
    for line in buf.getvalue().split("\n"):
        if line:
            log("%s: %s" % (name, line))


def close(server):
    """server.Server.close()."""
    for conn in list(server.conns):
        conn.abort()
    if server.runner is not None:
        server.runner.close()
    if server.sock is not None:
        server.unregister(server.sock)
        server.sock.close()
        server.sock = None


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


def hold_body(conn, job, data):
    """server.Connection.hold_body() on a board: 411 past body_buffer."""
    job.pending_len += len(data)
    if job.pending_len > conn.server.cfg.body_buffer:
        conn.job = None
        conn.fail(HTTPError("chunked body too large: send a Content-Length", 411))
        return
    job.pending.append(data)


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
