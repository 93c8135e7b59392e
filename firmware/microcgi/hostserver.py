# CPython's additions to the server loop, never loaded on a board: small files kept
# in memory with their pre-built response heads (head and body go out in one
# send()), os.sendfile() for the others, and the check that a path does not leave
# ROOT through a symlink. server.py swaps these classes in for its own on CPython,
# so everything that makes a server.Server gets them there.
import os
import socket

from microcgi import server
from microcgi.compat import ticks_add, ticks_ms
from microcgi.errors import Forbidden

_CACHE_FILE_MAX = 64 * 1024  # files up to this size are kept in memory
_CACHE_TOTAL = 16 * 1024 * 1024  # ... up to this much in all
_REAL_CACHE_MAX = 1024  # paths whose symlink check is remembered
_LINGER_MS = 2000  # after the response: read and drop what the client still sends


class Connection(server.Connection):
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
    one_send = 16 * 1024

    def __init__(self, cfg, runner=None, log=None, access_log=None, realpath=None):
        super().__init__(cfg, runner, log, access_log, realpath)
        self.real_root = realpath(self.root) if realpath else self.root
        self.real_cache = {}
        self.file_cache = {}
        self.cache_bytes = 0

    def check_inside(self, fs):
        """Raise Forbidden when the real path of fs (which exists) is outside ROOT."""
        inside = self.real_cache.get(fs)
        if inside is None:
            real = self.realpath(fs)
            inside = real == self.real_root or real.startswith(self.real_root + "/")
            if len(self.real_cache) > _REAL_CACHE_MAX:
                self.real_cache.clear()
            self.real_cache[fs] = inside
        if not inside:
            raise Forbidden("outside the document root")

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
            with open(fs, "rb") as f:
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
