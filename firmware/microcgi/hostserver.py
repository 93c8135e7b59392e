# CPython's additions to the server loop, never loaded on a board: small files kept
# in memory with their pre-built response heads (head and body go out in one
# send()), os.sendfile() for the others, files opened without ever blocking, and
# the check that a path does not leave ROOT through a symlink (follow_symlinks off).
# server.py swaps these classes in for its own on CPython, so everything that makes
# a server.Server gets them there.
import os
import socket

from microcgi import errorpage, http11, routing, server
from microcgi.compat import S_IFMT, S_IFREG, ticks_add, ticks_ms
from microcgi.errors import Forbidden
from microcgi.vhost import Hosts

_CACHE_FILE_MAX = 64 * 1024  # files up to this size are kept in memory
_CACHE_TOTAL = 16 * 1024 * 1024  # ... up to this much in all
_INSIDE_MAX = 1024  # paths whose symlink check is remembered (check_inside)
_LINGER_MS = 2000  # after the response: read and drop what the client still sends


def _temporary_file():
    """An unlinked temporary file (tempfile loaded only when a body needs one: it pulls
    in random, shutil, bz2 and lzma, several MiB of a server that may never spool)."""
    import tempfile

    return tempfile.TemporaryFile()


class _Body:
    """A script's handle as a CPython connection holds it: the request body goes to
    the script with flow control (the runner's handle does the rest).

    Past body_buffer bytes waiting for the script's stdin, the connection stops
    reading its socket (conn.held) until the runner says the backlog drained. If the
    script also waits for the client to read its output (paused), the rest of the
    body is spooled to an unlinked file instead and fed as the script drains: a
    client that reads only after sending its whole body (http.client does) and a
    script that writes before reading all of it (an echo) would otherwise wait for
    each other.
    """

    def __init__(self, conn, job, handle):
        self.conn = conn
        self.job = job
        self.handle = handle
        self.pause = handle.pause
        self.resume = handle.resume
        self.backlog = handle.backlog
        self.spool = None
        self.spool_in = self.spool_out = 0  # offsets written, and given to the script
        self.ended = False  # the body ended: stdin closes once the spool is given
        job.on_body_drained = self.drained  # (the runner looks it up on the job)

    def feed_body(self, data):
        if self.spool is not None:
            self.spool_in += os.pwrite(self.spool.fileno(), data, self.spool_in)
            return
        handle = self.handle
        handle.feed_body(data)
        if handle.backlog() > self.conn.server.cfg.body_buffer:
            self.conn.held = True
            if self.job.paused:
                self.start_spool()

    def end_body(self):
        if self.spool is not None:
            self.ended = True
        else:
            self.handle.end_body()

    def start_spool(self):
        self.conn.held = False
        self.spool = _temporary_file()

    def drained(self):
        conn = self.conn
        if self.job is not conn.job:
            return
        spool = self.spool
        if spool is None:
            if conn.held:
                conn.held = False
                conn.process()
            return
        handle = self.handle
        room = conn.server.cfg.body_buffer
        while self.spool_out < self.spool_in and handle.backlog() <= room:
            data = os.pread(spool.fileno(), room, self.spool_out)
            if not data:
                break
            self.spool_out += len(data)
            handle.feed_body(data)
        if self.spool_out >= self.spool_in:
            self.close()
            if self.ended:
                handle.end_body()

    def close(self):
        if self.spool is not None:
            self.spool.close()
            self.spool = None
        self.spool_in = self.spool_out = 0

    def cancel(self):
        self.close()
        self.handle.cancel()


class _Pending(list):
    """A chunked body waiting for its end (job.pending): in memory up to body_buffer
    bytes, then in an unlinked file, which becomes the script's stdin
    (job.body_file)."""

    def __init__(self, job, room):
        super().__init__()
        self.job = job
        self.room = room
        self.size = 0

    def append(self, data):
        f = self.job.body_file
        if f is None:
            self.size += len(data)
            if self.size <= self.room:
                super().append(data)
                return
            f = self.job.body_file = _temporary_file()
            for piece in self:
                f.write(piece)
            self.clear()
        f.write(data)


class Connection(server.Connection):
    local = None  # (address, port) this client reached, once a script asked for it

    def error(self, status, msg="", close=False):
        """server.Connection.error(), with the site's own page for status (--error-page),
        else a small HTML page for a client that accepts text/html (status, reason, one
        sentence; never the message, which may name a path), else plain text."""
        pages = self.server.cfg.error_pages
        if pages and str(status) in pages and errorpage.send(self, status, close):
            return
        req = self.req
        if req is not None:
            accept = req.header(b"accept")
            if accept is not None and b"text/html" in accept:
                if close:
                    self.close_after = True
                body = _html_error(status)
                self.respond(status, [(b"Content-Type", b"text/html; charset=utf-8")], body)
                return
        super().error(status, msg, close)  # (it looks for the site's page again: no harm)

    def maybe_done(self):
        self.server.logging = self  # the connection whose line combined_log() may write
        super().maybe_done()

    def start_script(self, job):
        # SERVER_ADDR and SERVER_PORT: the address this client reached, which on a wildcard
        # bind (0.0.0.0, ::) is not the bound one. (A board keeps the bound address.)
        local = self.local
        if local is None:  # once per connection: the address does not change
            local = self.local = self.sock.getsockname()[:2]
        job.server_addr, job.server_port = local
        f = job.body_file
        if f is not None:
            f.seek(0)  # the runner makes it the script's stdin
        super().start_script(job)
        if job.handle is not None:
            job.handle = _Body(self, job, job.handle)
        elif f is not None:
            f.close()

    def spool_body(self):
        """The script waits for the client (stream.py), which may wait for us to
        read its body."""
        self.job.handle.start_spool()
        self.process()

    def script_exit(self, job, outcome, detail):
        if job is self.job:
            self._release(job)
        super().script_exit(job, outcome, detail)
        if self.held and self.job is None:  # the rest of the body is read and dropped
            self.held = False
            self.process()

    def abort(self):
        if self.job is not None:
            self._release(self.job)
        super().abort()

    def _release(self, job):
        if job.body_file is not None:
            job.body_file.close()
        if isinstance(job.handle, _Body):
            job.handle.close()

    def _pump_file(self):
        """sendfile() from the file's own position (send_file() seeks to the start of
        a range) until done (True) or the socket is full (BlockingIOError)."""
        if not hasattr(self.file, "fileno"):  # byteranges.Parts: multipart/byteranges
            return super()._pump_file()
        out = self.sock.fileno()
        fd = self.file.fileno()
        while self.file_left:
            n = os.sendfile(out, fd, None, self.file_left)
            if not n:
                # the file shrank under us: the promised length can't be kept
                self.close_after = True
                self.abort()
                return True
            self.file_left -= n
        self._close_file()
        return True

    def linger(self):
        """Half-close and drop input for a moment, so the client reads our answer."""
        self.phase = server.LINGER
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.abort()
            return
        self.mask = 0
        self._want(server.POLLIN, True)
        self.deadline = ticks_add(ticks_ms(), _LINGER_MS)


class Server(server.Server):
    connection = Connection
    logging = None  # the connection at its access log line (combined_log())
    one_send = 16 * 1024

    def __init__(self, cfg, runner=None, log=None, access_log=None, realpath=None):
        super().__init__(cfg, runner, log, access_log, realpath)
        self.ram_body = cfg.max_body  # (the parser's 413 comes first: _Pending spools)
        if cfg.follow_symlinks:
            self.realpath = None  # nothing to check: routing skips check_inside()
        # without virtual hosts too: a Host that is not a host name is a 400 (RFC 9112
        # 3.2), and SERVER_NAME never carries anything else
        self.vhosts = Hosts(cfg.vhosts, self.root)
        if cfg.auth:  # prefixes that need a password (a board: startup.py)
            from microcgi import auth

            auth.install(self)
        self.real_bases = {}  # ROOT or an alias's folder -> its real path + "/"
        self.inside = {}  # path -> (st_dev, st_ino, st_ctime_ns, base) it was inside with
        self.file_cache = {}
        self.cache_bytes = 0

    def run_script(self, conn, req, script_name, fs, path_info, interp, stamp=None):
        super().run_script(conn, req, script_name, fs, path_info, interp, stamp)
        job = conn.job
        if job is not None and job.pending is not None:
            job.pending = _Pending(job, self.cfg.body_buffer)

    def check_inside(self, fs, base):
        """Raise Forbidden when the real path of fs (which exists) leaves base (ROOT or
        an alias's folder).

        realpath() costs more than the rest of a static request (docs/performance.md),
        so a path found inside is remembered with the identity of the file it reached
        (device, inode, ctime): when anything on the way changes (the path is replaced
        by a symlink, a folder on it moved), stat() reaches another file, and the path
        is checked again. A file that is still the same one was inside before.
        """
        st = os.stat(fs)
        # base is part of the key: roots may nest (a virtual host's folder or an alias's
        # inside ROOT), and a path inside the outer one may leave the inner one
        key = (st.st_dev, st.st_ino, st.st_ctime_ns, base)
        if self.inside.get(fs) == key:
            return
        real_base = self.real_bases.get(base)
        if real_base is None:
            real_base = self.realpath(base).rstrip("/") + "/"
            self.real_bases[base] = real_base
        real = self.realpath(fs)
        if not real.startswith(real_base) and real + "/" != real_base:
            raise Forbidden("outside the document root")
        if len(self.inside) >= _INSIDE_MAX:
            self.inside.clear()
        self.inside[fs] = key

    def open_file(self, fs):
        """server.Server.open_file(), without blocking: O_NONBLOCK, so that whatever
        replaced the file since routing's stat() (a FIFO) cannot hold up the loop,
        and a regular file only (403 for anything else)."""
        try:
            fd = os.open(fs, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as e:
            raise routing.unreadable(self, fs, e) from None
        try:
            regular = os.fstat(fd).st_mode & S_IFMT == S_IFREG
        except OSError:
            regular = False
        if not regular:
            os.close(fd)
            raise Forbidden("not a file")
        return os.fdopen(fd, "rb")

    def file_entry(self, fs, size, mtime, url_path):
        """server.Server.file_entry(), kept and checked against size and mtime at every
        request; the content of a small file is kept too."""
        cache = self.file_cache
        entry = cache.get(fs)
        if entry is not None and entry[0] == size and entry[1] == mtime:
            return entry
        entry = super().file_entry(fs, size, mtime, url_path)
        content = None
        if size <= _CACHE_FILE_MAX:
            with self.open_file(fs) as f:
                content = f.read(size + 1)
            if len(content) != size:
                content = None  # changing under us: stream it instead
            if self.cache_bytes + size > _CACHE_TOTAL:
                cache.clear()
                self.cache_bytes = 0
            self.cache_bytes += size
        entry = entry[:4] + (content,)
        cache[fs] = entry
        return entry


def _log_field(value):
    """A request header's value for the access log: "-" when absent; quotes, backslashes
    and control bytes escaped (as Apache does), so that a line stays one line."""
    if value is None:
        return "-"
    out = []
    for c in value.decode("latin-1"):
        if c in '"\\':
            out.append("\\" + c)
        elif c < " " or c == "\x7f":
            out.append("\\x%02x" % ord(c))
        else:
            out.append(c)
    return "".join(out)


def combined_log(server, write):
    """An access log writer for server that adds the referrer and the user agent to each
    Common Log Format line: the Combined Log Format of Apache and nginx."""

    def log(line):
        req = server.logging.req
        write(
            '%s "%s" "%s"'
            % (line, _log_field(req.header(b"referer")), _log_field(req.header(b"user-agent")))
        )

    return log


_SENTENCES = {
    400: "The request could not be understood.",
    403: "This address is not served.",
    404: "There is nothing at this address.",
    405: "This address does not take that method.",
    408: "The request took too long to arrive.",
    413: "The request body is larger than this server accepts.",
    414: "The address is longer than this server accepts.",
    431: "The request headers are larger than this server accepts.",
    500: "The server could not make this page; its log says why.",
    503: "The server is too busy just now; try again in a moment.",
    504: "The page took too long to make.",
}


def _html_error(status):
    reason = http11.reason_phrase(status)
    sentence = _SENTENCES.get(status) or (
        "The request could not be served." if status < 500 else "The server failed."
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>%d %s</title>\n"
        "<style>body{font:16px/1.5 system-ui,sans-serif;margin:2em auto;max-width:36em;"
        "padding:0 1em}</style>\n"
        "</head><body><h1>%d %s</h1>\n<p>%s</p>\n</body></html>\n"
        % (status, reason, status, reason, sentence)
    ).encode()
