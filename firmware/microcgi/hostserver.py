# CPython's additions to the server loop, never loaded on a board: small files kept
# in memory with their pre-built response heads (head and body go out in one
# send()), os.sendfile() for the others, files opened without ever blocking, and
# the check that a path does not leave ROOT through a symlink (follow_symlinks off).
# server.py swaps these classes in for its own on CPython, so everything that makes
# a server.Server gets them there.
import os
import socket
import tempfile

from microcgi import routing, server
from microcgi.compat import S_IFMT, S_IFREG, ticks_add, ticks_ms
from microcgi.errors import Forbidden

_CACHE_FILE_MAX = 64 * 1024  # files up to this size are kept in memory
_CACHE_TOTAL = 16 * 1024 * 1024  # ... up to this much in all
_INSIDE_MAX = 1024  # paths whose symlink check is remembered (check_inside)
_LINGER_MS = 2000  # after the response: read and drop what the client still sends


class Connection(server.Connection):
    # Request body the script's stdin could not take yet, spooled to an unlinked file
    # while the script also waits for the client to read its output: a client that
    # reads only after sending its whole body (http.client does) and a script that
    # writes before reading all of it (an echo) would otherwise wait for each other.
    spool = None
    spool_in = spool_out = 0  # offsets written, and given to the script
    spool_end = False  # the body ended: stdin closes once the spool is given

    def body_to_script(self, job, data):
        if self.spool is not None:
            self.spool_in += os.pwrite(self.spool.fileno(), data, self.spool_in)
            return
        handle = job.handle
        handle.feed_body(data)
        if handle.backlog() > self.server.cfg.body_buffer:
            # the script reads slower than the client sends: stop reading the socket
            # until it catches up (body_drained), or spool if it waits for us too
            self.held = True
            if job.paused:
                self._spool()

    def body_end(self, job):
        if self.spool is not None:
            self.spool_end = True
        else:
            job.handle.end_body()

    def script_paused(self, job):
        super().script_paused(job)
        if self.held and job.paused:
            self._spool()
            self.process()

    def _spool(self):
        self.held = False
        self.spool = tempfile.TemporaryFile()

    def body_drained(self, job):
        """The runner wrote the script's stdin backlog: read the socket again, or
        give the script the next part of the spool."""
        if job is not self.job:
            return
        spool = self.spool
        if spool is None:
            if self.held:
                self.held = False
                self.process()
            return
        handle = job.handle
        while self.spool_out < self.spool_in and handle.backlog() <= self.server.cfg.body_buffer:
            data = os.pread(spool.fileno(), self.server.cfg.body_buffer, self.spool_out)
            if not data:
                break
            self.spool_out += len(data)
            handle.feed_body(data)
        if self.spool_out >= self.spool_in:
            ended = self.spool_end
            self._close_spool()
            if ended:
                handle.end_body()

    def _close_spool(self):
        if self.spool is not None:
            self.spool.close()
        self.spool = None
        self.spool_in = self.spool_out = 0
        self.spool_end = False

    def reset(self, phase, timeout_ms):
        self._close_spool()
        super().reset(phase, timeout_ms)

    def abort(self):
        self._close_spool()
        super().abort()

    def _pump_file(self):
        """sendfile() from the file's own position (send_file() seeks to the start of
        a range) until done (True) or the socket is full (BlockingIOError)."""
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

    def hold_body(self, job, data):
        """A chunked body past body_buffer goes to an unlinked temporary file, which
        becomes the script's stdin once the body is complete (job.body_file)."""
        f = job.body_file
        if f is None:
            job.pending_len += len(data)
            if job.pending_len <= self.server.cfg.body_buffer:
                job.pending.append(data)
                return
            f = job.body_file = tempfile.TemporaryFile()
            for piece in job.pending:
                f.write(piece)
            job.pending = []  # (not None: the script still waits for the end)
        f.write(data)

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
    one_send = 16 * 1024

    def __init__(self, cfg, runner=None, log=None, access_log=None, realpath=None):
        super().__init__(cfg, runner, log, access_log, realpath)
        if cfg.follow_symlinks:
            self.realpath = None  # nothing to check: routing skips check_inside()
        self.real_bases = {}  # ROOT or an alias's folder -> its real path + "/"
        self.inside = {}  # path -> (st_dev, st_ino, st_ctime_ns) it was found inside with
        self.file_cache = {}
        self.cache_bytes = 0

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
        key = (st.st_dev, st.st_ino, st.st_ctime_ns)
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
