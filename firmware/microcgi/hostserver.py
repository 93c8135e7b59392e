# CPython's additions to the server loop, never loaded on a board: small files kept
# in memory with their pre-built response heads (head and body go out in one
# send()), os.sendfile() for the others, files opened without ever blocking, and
# the check that a path does not leave ROOT through a symlink (follow_symlinks off).
# server.py swaps these classes in for its own on CPython, so everything that makes
# a server.Server gets them there.
import os
import socket

from microcgi import routing, server
from microcgi.compat import S_IFMT, S_IFREG, ticks_add, ticks_ms
from microcgi.errors import Forbidden

_CACHE_FILE_MAX = 64 * 1024  # files up to this size are kept in memory
_CACHE_TOTAL = 16 * 1024 * 1024  # ... up to this much in all
_INSIDE_MAX = 1024  # paths whose symlink check is remembered (check_inside)
_LINGER_MS = 2000  # after the response: read and drop what the client still sends


class Connection(server.Connection):
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
