# The server's rarely used paths, apart from server.py so that a board loads them
# only while a request needs one (compat.lazy_call() drops them again afterwards):
# directory redirects and listings, OPTIONS *, local redirects of scripts (RFC 3875
# 6.2.2), the access-log line, the 503 of a client with no room and the server's end
# (failures: microcgi.failed).
# Conditional and range answers for static files are in microcgi.conditional.
import os

from microcgi import compat, http11, static
from microcgi.compat import lazy_call, unload
from microcgi.errors import Forbidden, HTTPError

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
        raise lazy_call("routing", "unreadable", server, fs, e)
    entries = []
    for name in names:
        # only what a request for it would get: no FIFO or device (403), and with
        # follow_symlinks off no symlink leaving root (403)
        try:
            mode, size, mtime = compat.stat(fs + name)
            mode &= compat.S_IFMT
            if mode != compat.S_IFDIR and mode != compat.S_IFREG:
                continue
            if server.realpath is not None:
                server.check_inside(fs + name, root)
        except (OSError, Forbidden):
            continue
        entries.append((name, mode == compat.S_IFDIR, size, mtime))
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
    return '%s - %s [%s] "%s %s %s" %d %d' % (
        conn.remote[0],
        getattr(req, "user", None) or "-",  # the user who authenticated (microcgi.auth)
        when,
        req.method,
        req.target.decode(),
        req.version,
        conn.status,
        conn.length,
    )


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


def refuse(sock):
    """server.Server.on_poll(): no room for one more client (the caller closes sock)."""
    from microcgi.server import SERVER_LINE

    try:
        sock.send(
            b"HTTP/1.1 503 Service Unavailable\r\n"
            + SERVER_LINE
            + b"Content-Type: text/plain\r\nContent-Length: 25\r\n"
            + b"Connection: close\r\nRetry-After: 1\r\n\r\n503 too many connections\n"
        )
    except OSError:
        pass
