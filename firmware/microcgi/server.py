# The select.poll() loop: listener, connections, routing, responses.
#
# One thread, non-blocking sockets. Each readable socket's bytes go to its
# connection's RequestParser; events come back out; responses are queued and
# written when the socket is writable. Script runners register their own file
# descriptors in the same loop (docs/design.md).
import errno
import os
import select
import socket

from microcgi import __version__, compat, gateway, http11, static
from microcgi.compat import ticks_add, ticks_diff, ticks_ms
from microcgi.errors import Forbidden, HTTPError, NotFound, ProtocolError, ScriptError
from microcgi.runner import ScriptJob

POLLIN = select.POLLIN
POLLOUT = select.POLLOUT
_POLLHUP = select.POLLHUP
_POLLERR = select.POLLERR
_WOULD_BLOCK = (errno.EAGAIN, errno.ETIMEDOUT)
_sendfile = getattr(os, "sendfile", None)

SOFTWARE = "microcgi/" + __version__
_SERVER_LINE = b"Server: " + SOFTWARE.encode() + b"\r\n"
_MAX_REDIRECTS = 5  # SPEC 7.3
_SEND_TIMEOUT_MS = 30000  # a client that reads nothing for this long is dropped
_LINGER_MS = 2000  # after an error: read and drop what the client still sends
_MAX_PIPELINE = 64 * 1024  # bytes read ahead of the request being answered
_CACHE_FILE_MAX = 64 * 1024  # CPython: files up to this size are kept in memory
_CACHE_TOTAL = 16 * 1024 * 1024  # ... up to this much in all

_REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    + _SERVER_LINE
    + b"Content-Type: text/plain\r\nContent-Length: 25\r\n"
    + b"Connection: close\r\nRetry-After: 1\r\n\r\n503 too many connections\n"
)

# connection phases
_IDLE = 0  # waiting for the first byte of a request
_HEAD = 1  # part of a request head received
_BUSY = 2  # a request is being answered
_LINGER = 3  # closing: output sent, draining input


class Settings:
    """A plain bag of settings (a board drops config.py after checking them)."""


class _GatewayConfig:
    def __init__(self, cfg):
        self.software = SOFTWARE
        self.path_env = cfg.path_env
        env = []
        for k in cfg.env:
            env.append((k, cfg.env[k]))
        self.extra_env = env


class _Script:
    def __init__(self, script_name, filename, path_info, document_root):
        self.script_name = script_name
        self.filename = filename
        self.path_info = path_info
        self.document_root = document_root


class _Job(ScriptJob):
    """A ScriptJob whose callbacks land in its connection."""

    def on_output(self, data):
        return self.conn.script_output(self, data)

    def on_exit(self, outcome, detail=None):
        self.conn.script_exit(self, outcome, detail)

    def log(self, msg):
        self.conn.server.log("%s: %s" % (self.name, msg))


def _peer(addr):
    """(ip, port) from whatever accept() returned on this port."""
    if isinstance(addr, tuple) and isinstance(addr[0], str):
        ip, port = addr[0], addr[1]
    else:  # MicroPython unix: raw sockaddr
        fam, raw, port = socket.sockaddr(addr)[:3]
        ip = ".".join([str(b) for b in raw]) if len(raw) == 4 else str(raw)
    if ip.startswith("::ffff:"):
        ip = ip[7:]
    return ip, port


class Connection:
    def __init__(self, server, sock, addr):
        self.server = server
        self.sock = sock
        self.remote_addr, self.remote_port = _peer(addr)
        self.server_addr = server.addr
        self.server_port = server.port
        cfg = server.cfg
        self.parser = http11.RequestParser(
            cfg.max_request_line, cfg.max_header_bytes, cfg.max_headers, cfg.max_body
        )
        self.rbuf = server.rbuf  # shared: consumed before the next recv
        self.out = []  # queued buffers
        self.out_pos = 0  # bytes of out[0] already sent
        self.file = None  # file being streamed, with file_pos/file_left
        self.file_pos = 0
        self.file_left = 0
        self.fbuf = None  # chunk buffer for files (boards; CPython uses sendfile)
        self.fb_pos = 0
        self.fb_len = 0
        self.mask = POLLIN
        self.closed = False
        self.peer_eof = False
        self.close_after = False
        self._reset_request()
        self.phase = _IDLE
        self.deadline = ticks_add(ticks_ms(), int(cfg.header_timeout * 1000))

    def _reset_request(self):
        self.req = None
        self.job = None
        self.handle = None
        self.output = None
        self.body_done = False
        self.queued_all = False  # the whole response is queued
        self.head_only = False
        self.streaming = False
        self.status = 0
        self.length = 0
        self.hops = 0
        self.deferred = None  # (job, stream) waiting for a chunked body to end
        self.body_buf = None

    # ---- I/O events -------------------------------------------------------

    def on_poll(self, obj, ev):
        if self.closed:
            return
        if ev & POLLOUT:
            self.flush()
        if self.closed:
            return
        if ev & POLLIN or ev & (_POLLHUP | _POLLERR):
            self.read()

    def read(self):
        mv = self.server.rview
        try:
            n = self.server.recv_into(self.sock, mv)
        except OSError as e:
            if e.errno in _WOULD_BLOCK:
                return
            self.abort()
            return
        if n is None:
            return
        if n == 0:
            self.peer_eof = True
            if self.phase == _LINGER or self.phase != _BUSY:
                self.abort()
                return
            self._want(POLLIN, False)
            if not self.body_done or self.job is not None or self.deferred is not None:
                # The body will never come, or a script works for nobody: a
                # half-closed socket looks the same as a closed one from here,
                # and a script must not outlive its client (SPEC 3).
                self.abort()
            return
        if self.phase == _LINGER:
            return
        self.parser.feed(mv[:n])
        now = ticks_ms()
        if self.phase == _IDLE:
            self.phase = _HEAD
            self.deadline = ticks_add(now, int(self.server.cfg.header_timeout * 1000))
        elif self.phase == _BUSY and not self.body_done:
            self.deadline = ticks_add(now, int(self.server.cfg.header_timeout * 1000))
        self.process()

    def process(self):
        """Turn buffered bytes into events while the current request can take them."""
        parser = self.parser
        while not self.closed:
            try:
                ev = parser.next_event()
            except ProtocolError as e:
                self.fail(e)
                return
            if ev is http11.NEED_DATA:
                break
            if isinstance(ev, http11.Data):
                if self.handle is not None:
                    self.handle.feed_body(ev.data)
                elif self.deferred is not None:
                    self.body_buf.append(ev.data)
            elif ev is http11.END:
                self.body_done = True
                if self.handle is not None:
                    self.handle.end_body()
                elif self.deferred is not None:
                    self._start_deferred()
                self.maybe_done()
                return
            else:
                self.phase = _BUSY
                self.deadline = ticks_add(ticks_ms(), int(self.server.cfg.header_timeout * 1000))
                self.start_request(ev)
        if self.phase == _BUSY and parser.buffered() > _MAX_PIPELINE:
            self._want(POLLIN, False)

    def _want(self, bit, on):
        mask = (self.mask | bit) if on else (self.mask & ~bit)
        if mask != self.mask and not self.closed:
            self.mask = mask
            self.server.poller.modify(self.sock, mask)

    # ---- answering --------------------------------------------------------

    def start_request(self, req):
        self.req = req
        if req.header(b"expect") == b"100-continue" and req.body_length:
            self.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            self.server.route(self, req, static.decode_path(req.path))
        except HTTPError as e:
            self.error(e.status, str(e))
        except MemoryError:
            self.server.collect()
            self.error(503, "out of memory")

    def head(self, status, reason, headers, length, chunked=False, raw=None, body=None):
        """Queue a response head.

        length None means chunked (chunked=True) or close-delimited; a 304 has
        neither (RFC 9110 15.4.5) and passes length None, chunked False.
        raw: header lines already encoded; body: a small body sent with the head
        in one send() (dropped for HEAD).
        """
        req = self.req
        self.status = status
        self.head_only = req is not None and req.method == "HEAD"
        if req is None or not req.keep_alive or self.peer_eof:
            self.close_after = True
        if length is None and not chunked and status != 304:
            self.close_after = True
        parts = [b"HTTP/1.1 %d " % status, reason.encode(), b"\r\n", _SERVER_LINE]
        date = self.server.date_line()
        if date:
            parts.append(date)
        for name, value in headers:
            parts.append(name)
            parts.append(b": ")
            parts.append(value)
            parts.append(b"\r\n")
        if raw:
            parts.append(raw)
        if length is not None:
            parts.append(b"Content-Length: %d\r\n" % length)
            if not self.head_only:
                self.length = length
        elif chunked:
            parts.append(b"Transfer-Encoding: chunked\r\n")
        if self.close_after:
            parts.append(b"Connection: close\r\n")
        elif req.version == "HTTP/1.0":
            parts.append(b"Connection: keep-alive\r\n")
        parts.append(b"\r\n")
        if body and not self.head_only:
            parts.append(body)
        self.send(b"".join(parts))

    def respond(self, status, headers, body, reason=None):
        """Queue a whole response with a bytes body."""
        self.head(status, reason or http11.reason_phrase(status), headers, len(body), body=body)
        self.finish()

    def error(self, status, msg="", close=False):
        if close:
            self.close_after = True
        reason = http11.reason_phrase(status)
        body = b"%d %s\n" % (status, reason.encode())
        if msg:
            body += msg.encode() + b"\n"
        self.respond(status, [(b"Content-Type", b"text/plain; charset=utf-8")], body)

    def fail(self, e):
        """A ProtocolError: answer it and close (h11 moves the peer to ERROR)."""
        self.phase = _BUSY
        self.body_done = True
        self.server.log("http: %s from %s" % (e, self.remote_addr))
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        self.out = []
        self.out_pos = 0
        self._close_file()
        self.error(e.status, str(e), True)

    def finish(self):
        self.queued_all = True
        self.maybe_done()

    def maybe_done(self):
        if not (self.queued_all and self.body_done) or self.closed:
            return
        if self.out or self.file_left:
            return  # flush() comes back here
        self.server.access(self)
        if self.close_after or self.peer_eof:
            self.linger()
            return
        self._reset_request()
        self.phase = _IDLE
        self.deadline = ticks_add(ticks_ms(), int(self.server.cfg.keepalive_timeout * 1000))
        self.parser.next_request()
        self._want(POLLIN, True)
        if self.parser.buffered():
            self.phase = _HEAD
            self.deadline = ticks_add(ticks_ms(), int(self.server.cfg.header_timeout * 1000))
            self.process()

    # ---- static files -----------------------------------------------------

    def send_file(self, fs, size, mtime, url_path):
        entry = self.server.file_entry(fs, size, mtime, url_path)
        tag, raw, content = entry[2], entry[3], entry[4]
        req = self.req
        status, start, end = static.evaluate(req.method, req.header, size, mtime, tag)
        if status == 304:
            self.head(304, "Not Modified", (), None, raw=raw)
            self.finish()
            return
        if status == 416:
            self.respond(
                416, [(b"Content-Range", b"bytes */%d" % size)], b"416 Range Not Satisfiable\n"
            )
            return
        if status == 206:
            rng = [(b"Content-Range", b"bytes %d-%d/%d" % (start, end - 1, size))]
            self.head(206, "Partial Content", rng, end - start, raw=raw)
        elif content is not None:
            # a small file from the cache: head and body in one send()
            self.head(200, "OK", (), size, raw=raw, body=content)
            self.finish()
            return
        else:
            self.head(200, "OK", (), size, raw=raw)
        if end > start and not self.head_only:
            self.file = open(fs, "rb")
            self.file_pos = start
            self.file_left = end - start
            if start and _sendfile is None:
                self.file.seek(start)
        self.finish()
        self.flush()

    def _close_file(self):
        if self.file is not None:
            self.file.close()
            self.file = None
        self.file_left = 0
        self.fb_pos = self.fb_len = 0

    # ---- scripts ----------------------------------------------------------

    def start_script(self, job, stream):
        server = self.server
        cfg = server.cfg
        job.conn = self
        self.job = job
        self.output = gateway.ScriptOutput(cfg.max_script_header, cfg.max_output, stream)
        self.streaming = stream
        try:
            self.handle = server.runner.start(job, server)
        except HTTPError as e:
            self.job = None
            server.log("%s: %s" % (job.name, e))
            self.error(e.status, "the script could not run")
            return
        handle = self.handle
        if handle is not None:
            if self.body_buf:
                for piece in self.body_buf:
                    handle.feed_body(piece)
                self.body_buf = None
            if self.body_done:
                handle.end_body()

    def defer_script(self, job, stream):
        """Chunked body: CONTENT_LENGTH is known only at its end (RFC 3875 4.1.2)."""
        self.deferred = (job, stream)
        self.body_buf = []

    def _start_deferred(self):
        job, stream = self.deferred
        self.deferred = None
        job.environ = gateway.build_environ(self.req, self, job.script, self.server.gw)
        self.start_script(job, stream)

    def script_output(self, job, data):
        if job is not self.job or self.closed:
            return False
        if job.nph:
            if self.status == 0:
                self.status = 200
                self.close_after = True
            self.send(bytes(data))
            return True
        out = self.output
        try:
            out.feed(data)
        except ScriptError as e:
            job.error = e
            return False
        if self.streaming and out.head_done:
            self._stream_some(False)
        return True

    def _stream_some(self, last):
        out = self.output
        chunked = self.req.version == "HTTP/1.1"
        if self.status == 0:
            if out.local_redirect is not None:
                return  # the redirect target answers instead, once the script ends
            self.head(out.status, self._reason(out), out.headers, None, chunked)
        for piece in out.take_body():
            if self.head_only or not piece:
                continue
            self.length += len(piece)
            if chunked:
                self.send(b"%x\r\n" % len(piece))
                self.send(piece)
                self.send(b"\r\n")
            else:
                self.send(piece)
        if last:
            if chunked and not self.head_only:
                self.send(b"0\r\n\r\n")
            self.finish()

    def _reason(self, out):
        return out.reason or http11.reason_phrase(out.status)

    def script_exit(self, job, outcome, detail):
        if job is not self.job or self.closed:
            return
        self.job = None
        self.handle = None
        server = self.server
        out = self.output
        if outcome == "exit" and detail:
            server.log("%s: exit status %s" % (job.name, detail))
        if job.nph:
            if self.status == 0:
                server.log("%s: nph script produced nothing" % job.name)
                self.error(500, "the script produced no output")
            else:
                self.finish()
            return
        if self.status:  # streaming: the head is out already
            if outcome == "timeout":
                server.log("%s: timed out; response cut short" % job.name)
                self.close_after = True
            self._stream_some(True)
            return
        err = getattr(job, "error", None)
        if outcome == "timeout":
            if out.head_done:
                server.log("%s: timed out; sending the partial output" % job.name)
                self.close_after = True
                self._send_script_response(out)
            else:
                server.log("%s: timed out before its header block" % job.name)
                self.error(504, "the script timed out")
            return
        if outcome == "memory":
            server.collect()
            server.log("%s: out of memory" % job.name)
            self.error(503, "out of memory")
            return
        if err is None and outcome in ("exit", "closed"):
            try:
                out.finish()
            except ScriptError as e:
                err = e
        if err is None and outcome not in ("exit", "closed"):
            err = ScriptError("cgi: %s" % (detail or outcome))
        if err is not None:
            server.log("%s: %s" % (job.name, err))
            self.error(err.status, "the script failed; see the server log")
            return
        if out.local_redirect is not None and out.status == 200:
            self._local_redirect(out.local_redirect)
            return
        self._send_script_response(out)

    def _send_script_response(self, out):
        self.head(out.status, self._reason(out), out.headers, out.body_len)
        if not self.head_only:
            for piece in out.body:
                self.send(piece)
        self.output = None
        self.finish()

    def _local_redirect(self, location):
        # RFC 3875 6.2.2: the server answers as if the client had asked for location
        self.hops += 1
        if self.hops > _MAX_REDIRECTS:
            self.server.log("cgi: more than %d local redirects" % _MAX_REDIRECTS)
            self.error(500, "too many local redirects")
            return
        old = self.req
        target = location.encode()
        method = "HEAD" if old.method == "HEAD" else "GET"
        req = http11.Request(method, target, old.version, old.headers)
        req.headers = [h for h in old.headers if h[0] not in (b"content-length", b"content-type")]
        req.keep_alive = old.keep_alive
        self.req = req
        self.output = None
        try:
            self.server.route(self, req, static.decode_path(req.path))
        except HTTPError as e:
            self.error(e.status, str(e))

    # ---- writing ----------------------------------------------------------

    def send(self, data):
        if self.closed:
            return
        self.out.append(data)
        if len(self.out) == 1:
            self.flush()

    def flush(self):
        sock = self.sock
        try:
            while self.out:
                first = self.out[0]
                if self.out_pos:
                    n = sock.send(memoryview(first)[self.out_pos :])
                else:
                    n = sock.send(first)
                if n is None:
                    n = 0
                self.out_pos += n
                if self.out_pos < len(first):
                    self._blocked()
                    return
                self.out.pop(0)
                self.out_pos = 0
            if self.file_left and not self._pump_file():
                self._blocked()
                return
        except OSError as e:
            if e.errno in _WOULD_BLOCK:
                self._blocked()
                return
            self.abort()
            return
        self._want(POLLOUT, False)
        if self.phase == _BUSY and self.job is None:
            self.maybe_done()

    def _blocked(self):
        self._want(POLLOUT, True)
        self.deadline = ticks_add(ticks_ms(), _SEND_TIMEOUT_MS)

    def _pump_file(self):
        """Send file bytes until done (True) or the socket is full (False)."""
        sock = self.sock
        if _sendfile is not None:
            fd = self.file.fileno()
            while self.file_left:
                n = _sendfile(sock.fileno(), fd, self.file_pos, self.file_left)
                if not n:
                    break
                self.file_pos += n
                self.file_left -= n
        else:
            if self.fbuf is None:
                self.fbuf = bytearray(self.server.cfg.buffer_size)
            mv = memoryview(self.fbuf)
            while self.file_left:
                if self.fb_pos == self.fb_len:
                    want = len(mv) if self.file_left > len(mv) else self.file_left
                    n = self.file.readinto(mv[:want])
                    if not n:
                        break
                    self.fb_pos, self.fb_len = 0, n
                n = sock.send(mv[self.fb_pos : self.fb_len])
                if not n:
                    return False
                self.fb_pos += n
                self.file_left -= n
        if self.file_left:
            # the file shrank under us: the promised length can't be kept
            self.close_after = True
            self.abort()
            return True
        self._close_file()
        return True

    # ---- endings ----------------------------------------------------------

    def linger(self):
        """Half-close and drop input for a moment, so the client reads our answer."""
        self.phase = _LINGER
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except (OSError, AttributeError):
            self.abort()
            return
        self.mask = 0
        self._want(POLLIN, True)
        self.deadline = ticks_add(ticks_ms(), _LINGER_MS)

    def expire(self, now):
        """The deadline passed."""
        phase = self.phase
        if phase == _HEAD or (phase == _BUSY and not self.body_done and self.status == 0):
            if self.handle is not None:
                self.handle.cancel()
                self.job = None
                self.handle = None
            self.out = []
            self.fail(ProtocolError("request not complete in time", 408))
            return
        if phase == _BUSY and (self.out or self.file_left):
            self.server.log("http: %s stopped reading; dropped" % self.remote_addr)
        if phase == _BUSY and self.job is not None:
            # waiting for a script: the runner owns the timeout
            self.deadline = ticks_add(now, _SEND_TIMEOUT_MS)
            return
        self.abort()

    def abort(self):
        if self.closed:
            return
        self.closed = True
        if self.handle is not None:
            self.handle.cancel()
        self.job = None
        self.handle = None
        self._close_file()
        self.out = []
        self.server.drop(self)


class Server:
    """One listening socket and everything it serves.

    Args:
        cfg: a config.Config.
        runner: a runner.Runner for scripts, or None (scripts then give 500).
        log: a function taking one message line (the error log).
        access_log: a function taking one Common Log Format line, or None.
        realpath: os.path.realpath where it exists, to refuse symlinks leaving ROOT.
    """

    def __init__(self, cfg, runner=None, log=None, access_log=None, realpath=None):
        self.cfg = cfg
        self.runner = runner
        self.log = log or _print_log
        self.access_log = access_log
        self.realpath = realpath
        root = cfg.root
        while len(root) > 1 and root.endswith("/"):
            root = root[:-1]
        self.root = root
        self.real_root = realpath(root) if realpath else root
        self.gw = _GatewayConfig(cfg)
        self.poller = select.poll()
        self.handlers = {}
        self.conns = []
        self.sock = None
        self.addr = cfg.host
        self.port = cfg.port
        self.rbuf = bytearray(cfg.buffer_size)
        self.rview = memoryview(self.rbuf)
        self._date_sec = -1
        self._date = b""
        self._ipoll = getattr(self.poller, "ipoll", None)
        self.recv_into = _recv_into if hasattr(socket.socket, "recv_into") else _readinto
        self.stream_prefixes = cfg.stream_output
        self.cgi = cfg.cgi
        self._wants_cpu = getattr(runner, "wants_cpu", None)
        # a board has no RAM to spare for caches
        self.file_cache = None if compat.IS_MICROPYTHON else {}
        self.cache_bytes = 0
        self.real_cache = {}

    # ---- the loop's registry (used by runners too) -------------------------

    def register(self, obj, mask, handler):
        self.poller.register(obj, mask)
        self.handlers[compat.poll_key(obj)] = handler

    def modify(self, obj, mask):
        self.poller.modify(obj, mask)

    def unregister(self, obj):
        try:
            self.poller.unregister(obj)
        except (KeyError, OSError, ValueError):
            pass
        self.handlers.pop(compat.poll_key(obj), None)

    # ---- life cycle --------------------------------------------------------

    def listen(self):
        """Bind and listen; returns (address, port) actually bound."""
        cfg = self.cfg
        ai = socket.getaddrinfo(cfg.host, cfg.port, 0, socket.SOCK_STREAM)[0]
        s = socket.socket(ai[0], socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(ai[-1])
            s.listen(cfg.backlog)
        except OSError:
            s.close()
            raise
        s.setblocking(False)
        self.sock = s
        if hasattr(s, "getsockname"):
            self.addr, self.port = s.getsockname()[:2]
        self.register(s, POLLIN, self)
        return self.addr, self.port

    def serve_forever(self):
        while True:
            self.run_once()

    def run_once(self, timeout_ms=None):
        runner = self.runner
        if timeout_ms is None:
            if self._wants_cpu is not None and self._wants_cpu():
                timeout_ms = 0  # an in-process script is waiting to be resumed
            elif self.conns or (runner is not None and runner.busy()):
                timeout_ms = 200
            else:
                timeout_ms = 1000
        handlers = self.handlers
        if self._ipoll is not None:
            for item in self._ipoll(timeout_ms):
                h = handlers.get(item[0])
                if h is not None:
                    h.on_poll(item[0], item[1])
                else:
                    self._stray(item[0])
        else:
            for key, ev in self.poller.poll(timeout_ms):
                h = handlers.get(key)
                if h is not None:
                    h.on_poll(key, ev)
                else:
                    self._stray(key)
        now = ticks_ms()
        if runner is not None:
            runner.tick(now)
        for conn in self.conns:
            if ticks_diff(now, conn.deadline) >= 0:
                conn.expire(now)

    def _stray(self, key):
        try:
            self.poller.unregister(key)
        except (KeyError, OSError, ValueError):
            pass

    def close(self):
        for conn in list(self.conns):
            conn.abort()
        if self.runner is not None:
            self.runner.close()
        if self.sock is not None:
            self.unregister(self.sock)
            self.sock.close()
            self.sock = None

    def collect(self):
        try:
            import gc

            gc.collect()
        except ImportError:  # pragma: no cover
            pass

    # ---- connections -------------------------------------------------------

    def on_poll(self, obj, ev):
        """The listener is readable: accept every waiting connection."""
        while True:
            try:
                sock, addr = self.sock.accept()
            except OSError as e:
                if e.errno not in _WOULD_BLOCK:
                    self.log("http: accept failed: %s" % e)
                return
            sock.setblocking(False)
            if len(self.conns) >= self.cfg.max_connections:
                self._refuse(sock)
                continue
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (OSError, AttributeError):
                pass
            conn = Connection(self, sock, addr)
            self.conns.append(conn)
            self.register(sock, POLLIN, conn)

    def _refuse(self, sock):
        try:
            sock.send(_REFUSED)
        except OSError:
            pass
        sock.close()

    def drop(self, conn):
        self.unregister(conn.sock)
        try:
            conn.sock.close()
        except OSError:
            pass
        if conn in self.conns:
            self.conns.remove(conn)

    def file_entry(self, fs, size, mtime, url_path):
        """(size, mtime, etag, encoded validator headers, content or None) of a file.

        On CPython, small files and their pre-built header lines are cached,
        checked against size and mtime at every request.
        """
        cache = self.file_cache
        entry = cache.get(fs) if cache is not None else None
        if entry is not None and entry[0] == size and entry[1] == mtime:
            return entry
        tag = static.etag(size, mtime)
        raw = b"".join(
            (
                b"Content-Type: ",
                static.mime_type(url_path),
                b"\r\nLast-Modified: ",
                compat.http_date(mtime),
                b"\r\nETag: ",
                tag,
                b"\r\nAccept-Ranges: bytes\r\n",
            )
        )
        content = None
        if cache is not None and size <= _CACHE_FILE_MAX:
            with open(fs, "rb") as f:
                content = f.read(size + 1)
            if len(content) != size:
                content = None  # changing under us: stream it instead
            if self.cache_bytes + size > _CACHE_TOTAL:
                cache.clear()
                self.cache_bytes = 0
            self.cache_bytes += size
        entry = (size, mtime, tag, raw, content)
        if cache is not None:
            cache[fs] = entry
        return entry

    def date_line(self):
        t = compat.unix_time()
        if t is None:
            return None
        if t != self._date_sec:
            self._date_sec = t
            self._date = b"Date: " + compat.http_date(t) + b"\r\n"
        return self._date

    # ---- logging -----------------------------------------------------------

    def access(self, conn):
        if self.access_log is None or conn.req is None:
            return
        req = conn.req
        t = compat.unix_time()
        when = _clf_date(t) if t else "-"
        line = '%s - - [%s] "%s %s %s" %d %d' % (
            conn.remote_addr,
            when,
            req.method,
            req.target.decode(),
            req.version,
            conn.status,
            conn.length,
        )
        self.access_log(line)

    # ---- routing (SPEC 2, 4, 5) --------------------------------------------

    def route(self, conn, req, path):
        """Answer req for the decoded URL path: a script, a file or a folder."""
        fs = self.root + path
        try:
            mode, size, mtime = compat.stat(fs)
        except OSError:
            self._route_path_info(conn, req, path)
            return
        if self.realpath is not None:
            inside = self.real_cache.get(fs)
            if inside is None:
                real = self.realpath(fs)
                inside = real == self.real_root or real.startswith(self.real_root + "/")
                if len(self.real_cache) > 1024:
                    self.real_cache.clear()
                self.real_cache[fs] = inside
            if not inside:
                raise Forbidden("outside the document root")
        if mode & compat.S_IFMT == compat.S_IFDIR:
            self._route_dir(conn, req, path, fs)
            return
        interp = self._interpreter(fs, path, mode)
        if interp is not None:
            self._run(conn, req, path, fs, None, interp, mode)
            return
        if req.method not in ("GET", "HEAD"):
            if req.method == "OPTIONS":
                conn.respond(204, [(b"Allow", b"GET, HEAD, OPTIONS")], b"")
                return
            raise HTTPError("method not allowed on a static file", 405)
        conn.send_file(fs, size, mtime, path)

    def _route_path_info(self, conn, req, path):
        # /cgi-bin/app.py/a/b: find the script among the leading segments
        i = 0
        while True:
            i = path.find("/", i + 1)
            if i < 0:
                raise NotFound("no such file")
            head = path[:i]
            fs = self.root + head
            try:
                mode = compat.stat(fs)[0]
            except OSError:
                raise NotFound("no such file")
            if mode & compat.S_IFMT != compat.S_IFDIR:
                interp = self._interpreter(fs, head, mode)
                if interp is None:
                    raise NotFound("no such file")
                self._run(conn, req, head, fs, path[i:], interp, mode)
                return

    def _route_dir(self, conn, req, path, fs):
        if not path.endswith("/"):
            location = static.quote_path(path) + "/"
            if req.query is not None:
                location += "?" + req.query.decode()
            conn.respond(
                301,
                [(b"Location", location.encode()), (b"Content-Type", b"text/plain")],
                b"moved to " + location.encode() + b"\n",
            )
            return
        for name in self.cfg.index:
            try:
                mode, size, mtime = compat.stat(fs + name)
            except OSError:
                continue
            if mode & compat.S_IFMT == compat.S_IFDIR:
                continue
            interp = self._interpreter(fs + name, path + name, mode)
            if interp is not None:
                self._run(conn, req, path + name, fs + name, None, interp, mode)
            elif req.method in ("GET", "HEAD"):
                conn.send_file(fs + name, size, mtime, name)
            else:
                raise HTTPError("method not allowed on a static file", 405)
            return
        if not self.cfg.listing:
            raise Forbidden("directory listing is off")
        if req.method not in ("GET", "HEAD"):
            raise HTTPError("method not allowed on a directory", 405)
        entries = []
        for name in os.listdir(fs):
            try:
                mode, size, mtime = compat.stat(fs + name)
            except OSError:
                continue
            entries.append((name, mode & compat.S_IFMT == compat.S_IFDIR, size, mtime))
        from microcgi import listing

        body = b"".join(listing.listing(path, entries))
        entries = listing = None
        _unload("microcgi.listing")
        conn.respond(200, [(b"Content-Type", b"text/html; charset=utf-8")], body)

    def _interpreter(self, fs, path, mode):
        """The interpreter of a mapped script ("" = run itself), or None for a plain file."""
        name = path[path.rfind("/") + 1 :]
        dot = name.rfind(".")
        ext = name[dot:] if dot > 0 else ""
        interp = self.cgi.get(ext)
        executable = mode & 0o111
        if interp is None:
            if path.startswith("/cgi-bin/") and executable:
                return ""
            return None
        if interp == "" and not executable and ext == ".sh":
            return "/bin/sh"
        return interp

    def _run(self, conn, req, script_name, fs, path_info, interp, mode):
        if req.method not in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            raise HTTPError("method not allowed", 405)
        if self.runner is None:
            raise ScriptError("no script runner")
        script = _Script(script_name, fs, path_info, self.root)
        cwd = fs[: fs.rfind("/")] or "/"
        name = fs[fs.rfind("/") + 1 :]
        job = _Job(fs, interp, None, cwd, int(self.cfg.script_timeout * 1000), name[:4] == "nph-")
        job.script = script
        stream = False
        for prefix in self.stream_prefixes:
            if script_name.startswith(prefix):
                stream = True
        if req.chunked and not conn.body_done:
            conn.defer_script(job, stream)
            return
        job.environ = gateway.build_environ(req, conn, script, self.gw)
        conn.start_script(job, stream)


def _unload(name):
    """Forget a module used once in a while, so that a board's heap gets it back."""
    if compat.IS_MICROPYTHON:
        import sys

        sys.modules.pop(name, None)
        pkg = sys.modules.get("microcgi")
        try:
            delattr(pkg, name[9:])  # the package keeps its submodules as attributes
        except (AttributeError, TypeError):
            pass


def _recv_into(sock, mv):
    return sock.recv_into(mv)


def _readinto(sock, mv):
    return sock.readinto(mv)


def _print_log(msg):
    print(msg)


def _clf_date(t):
    # Common Log Format: 10/Oct/2000:13:55:36 +0000
    d = compat.http_date(t).decode().split()
    return "%s/%s/%s:%s +0000" % (d[1], d[2], d[3], d[4])
