# The select.poll() loop: listener, connections, routing, responses.
#
# One thread, non-blocking sockets. Each readable socket's bytes go to its
# connection's RequestParser; events come back out; responses are queued and
# written when the socket is writable. Script runners register their own file
# descriptors in the same loop (docs/design.md).
#
# A board keeps this module in RAM, so it holds the common paths only: static
# files, buffered script output, errors. The rest lives in modules loaded when a
# request needs them and dropped again (compat.lazy_call): directory indexes,
# redirects and listings, local redirects, the access log and close() in
# microcgi.rare; conditional and range answers in microcgi.conditional; streamed and NPH output in
# microcgi.stream; listen() in microcgi.startup. On CPython, microcgi.hostserver
# adds a file cache, sendfile(), lingering closes and the symlink check.
import errno
import gc
import select
import socket

from microcgi import __version__, compat, gateway, http11, static
from microcgi.compat import const, lazy_call, ticks_add, ticks_diff, ticks_ms
from microcgi.errors import HTTPError, ProtocolError, ScriptError

POLLIN = select.POLLIN
POLLOUT = select.POLLOUT
_GONE = select.POLLHUP | select.POLLERR
_WOULD_BLOCK = (errno.EAGAIN, errno.ETIMEDOUT)

SERVER_LINE = b"Server: microcgi/" + __version__.encode() + b"\r\n"
_SEND_TIMEOUT_MS = const(30000)  # a client that reads nothing for this long is dropped
_MAX_PIPELINE = const(65536)  # bytes read ahead of the request being answered
ACCEPT_ROOM = const(6144)  # free heap wanted before one more client is accepted,
_FEW = const(2)  # once this many are connected (ACCEPT_ROOM: startup.py reads it too)
_JOIN_BELOW = const(512)  # a script's writes shorter than this are joined (ScriptOutput)
_ENTRIES = const(8)  # file_entry()s kept on a roomy heap (Server.entries)
_OWN_DATE = const(1)  # bits of a script's own headers (gateway.parse_script_headers):
_OWN_SERVER = const(2)  # it sent Date, Server (head() then leaves out the server's)
_mem_free = getattr(gc, "mem_free", None)  # MicroPython
_MSG_MORE = getattr(socket, "MSG_MORE", 0)  # Linux; MicroPython has no send() flags
_SCRIPT_EXTS = (".sh", ".php", ".pl", ".cgi", ".py")  # never served as files
# TCP_NODELAY by the port's own numbers where it names them (the Pico W's lwIP socket:
# 0x40 since MicroPython 1.23), else Linux's and the ESP32's (level 6, option 1)
_NODELAY = (getattr(socket, "IPPROTO_TCP", 6), getattr(socket, "TCP_NODELAY", 1))

# connection phases
_NEW = const(-1)  # accepted, nothing received yet
_IDLE = const(0)  # kept alive, waiting for the first byte of the next request
_HEAD = const(1)  # part of a request head received
_BUSY = const(2)  # a request is being answered
LINGER = const(3)  # closing: output sent, draining input (hostserver.Connection.linger)
_CLOSED = const(4)


class _Job:
    """A runner.ScriptJob whose callbacks land in its connection.

    It also carries what gateway.build_environ() reads of the connection and of the
    routed script (so it is passed as both), and the script's state on the server side.
    """

    # set when they change (class attributes until then: a smaller object)
    env = None  # the environ, once built
    stamp = None  # compat.stat() of the file as routing took it
    out = None  # the output collector, once made
    nph = False  # nph-*: the script writes the whole response (SPEC 7.8)
    stream = False  # output sent as it comes (SPEC 7.5)
    handle = None  # the runner's handle, once started
    error = None  # the ScriptError that stopped the output
    pending = None  # body pieces held while a chunked body arrives
    body_file = None  # hostserver: a chunked body spooled to a temporary file
    paused = False  # the runner was told to stop reading output (the client is behind)

    def __init__(self, conn, script_name, filename, path_info, interpreter):
        server = conn.server
        slash = filename.rfind("/")
        base = filename[slash + 1 :]
        # the fields of runner.ScriptJob
        self.filename = filename
        self.interpreter = interpreter  # "" = execute the file itself
        self.cwd = filename[:slash] or "/"
        cfg = server.cfg
        self.timeout_ms = int(cfg.script_timeout * 1000)
        if cfg.script_max_time is not None:
            self.max_time_ms = int(cfg.script_max_time * 1000)
        if base.startswith("nph-"):
            self.nph = True
        self.name = base
        self.argv = [interpreter or filename, base]
        self.conn = conn
        self.script_name = script_name
        self.path_info = path_info
        self.document_root = conn.req.root or server.root  # (a virtual host's)
        self.server_addr = server.addr
        self.server_port = server.port
        self.remote_addr, self.remote_port = conn.remote
        for prefix in cfg.stream_output:
            if script_name.startswith(prefix):
                self.stream = True

    @property
    def environ(self):
        # Built when a runner first asks for it: an in-process script's is then made
        # after its module is compiled, so that the two never share a board's heap.
        if self.env is None:
            conn = self.conn
            self.env = gateway.build_environ(conn.req, self, self, conn.server.cfg)
        return self.env

    @property
    def output(self):
        # gateway.ScriptOutput, made at the first output (after a compile, see environ)
        if self.out is None:
            cfg = self.conn.server.cfg
            self.out = gateway.ScriptOutput(cfg.max_script_header, cfg.max_output, _JOIN_BELOW)
        return self.out

    def on_output(self, data):
        return self.conn.script_output(self, data)

    max_time_ms = None  # script_max_time in ms, or None

    def on_exit(self, outcome, detail=None):
        conn = self.conn
        try:
            conn.script_exit(self, outcome, detail)
        except MemoryError:
            conn.out_of_memory()
        if conn.server.tight:
            # a small heap: what the script left is freed now, before anything that
            # lasts is placed among it (the next compile needs a large free block)
            gc.collect()

    def log(self, msg):
        self.conn.server.log("%s: %s" % (self.name, msg))


class Connection:
    held = False  # hostserver: the script's stdin is behind, the socket is not read

    def __init__(self, server, sock, addr):
        self.server = server
        self.sock = sock
        if isinstance(addr, tuple) and isinstance(addr[0], str):
            ip, port = addr[0], addr[1]
        else:  # MicroPython unix: accept() gives a raw sockaddr
            raw, port = socket.sockaddr(addr)[1:3]
            ip = "%d.%d.%d.%d" % tuple(raw) if len(raw) == 4 else str(raw)
        if ip.startswith("::ffff:"):
            ip = ip[7:]
        self.remote = (ip, port)
        cfg = server.cfg
        self.parser = http11.RequestParser(
            cfg.max_request_line, cfg.max_header_bytes, cfg.max_headers, cfg.max_body
        )
        self.out = []  # queued buffers; out[0] may be a memoryview of the unsent rest
        self.file = None  # file being streamed, with file_left bytes still to send
        self.file_left = 0
        self.mask = POLLIN
        self.close_after = False  # close once the response is out
        self.reset(_NEW, server.header_ms)

    def reset(self, phase, timeout_ms):
        """Ready for a request: nothing of the last one is kept."""
        self.req = None
        self.job = None  # the _Job of a script
        self.body_done = False  # the request body has been read
        self.queued_all = False  # the whole response is queued
        self.status = 0  # of the response, once its head is queued
        self.length = 0  # body bytes of the response (for the access log)
        self.phase = phase
        self.deadline = ticks_add(ticks_ms(), timeout_ms)

    # ---- I/O events -------------------------------------------------------

    def on_poll(self, obj, ev):
        if ev & POLLOUT and self.phase != _CLOSED:
            self.flush()
        if not ev & ~POLLOUT or self.phase == _CLOSED:
            return
        if ev & _GONE and self.phase != LINGER:
            # reset, or closed both ways: nobody will read an answer (a client that
            # only shut down its sending side gets POLLIN and EOF, below). Lingering,
            # our own half-close makes POLLHUP: the input is still read to its end, or
            # closing with input unread would reset what the client has yet to read.
            self.abort()
            return
        server = self.server
        try:
            n = server.recv_into(self.sock, server.view)
        except OSError as e:
            if e.errno not in _WOULD_BLOCK:
                self.abort()
            return
        if n is None:
            return
        phase = self.phase
        if n == 0:
            # EOF: no more requests. The ones complete by now are still answered (a
            # client may shut down its sending side and wait); a part of one never
            # completes. A client that closed both ways is found gone when a send fails.
            # (EOF stays: when reading is on again after the answers, it comes back
            # here, idle, and the connection closes.)
            if phase != _BUSY or not self.body_done:
                self.abort()
                return
            self._want(POLLIN, False)
            return
        if phase == LINGER:
            return
        # the parser copies the bytes: the buffer is free again for the next recv
        self.parser.feed(server.view[:n])
        if phase <= _IDLE or (phase == _BUSY and not self.body_done):
            if phase <= _IDLE:
                self.phase = _HEAD
            self.deadline = ticks_add(ticks_ms(), server.header_ms)
        self.process()

    def process(self):
        """Turn buffered bytes into events while the current request can take them.

        Iterative: a request answered at once lets the loop go on to the next one
        buffered (maybe_done() calls back here only from outside the loop), so any
        depth of pipelining costs no stack.
        """
        server = self.server
        outer = server.processing
        if outer is self:
            return  # called from inside the loop below: it goes on by itself
        server.processing = self  # (one per server: a board has no room for it per client)
        parser = self.parser
        while self.phase < LINGER and not self.held:
            try:
                ev = parser.next_event()
            except ProtocolError as e:
                self.fail(e)
                break
            if ev is http11.NEED_DATA:
                break
            job = self.job
            if ev is http11.END:
                self.body_done = True
                if job is not None:
                    if job.handle is not None:
                        job.handle.end_body()
                    elif job.pending is not None:
                        self.start_script(job)  # the chunked body is complete
                self.maybe_done()  # the next request, if this one is answered
            elif isinstance(ev, http11.Data):
                if job is not None:
                    if job.handle is not None:
                        job.handle.feed_body(ev.data)
                    elif job.pending is not None:
                        # a chunked body waits for its end: a board holds ram_body bytes
                        # of it, 411 beyond (hostserver: spooled to a file)
                        job.pending.append(ev.data)
                        if self.req.body_length > server.ram_body:  # (so far)
                            self.fail(HTTPError("chunked body too large: send its length", 411))
            else:  # a Request
                self.phase = _BUSY
                self.deadline = ticks_add(ticks_ms(), server.header_ms)
                self.req = ev
                # RFC 9110 10.1.1: for a body of either framing; ignored on HTTP/1.0
                if ev.version == "HTTP/1.1" and (ev.body_length or ev.chunked):
                    if ev.header(b"expect") == b"100-continue":
                        self.send(b"HTTP/1.1 100 Continue\r\n\r\n")
                try:
                    server.route(self, ev, static.decode_path(ev.path))
                except HTTPError as e:
                    self.error(e.status, str(e))
        server.processing = outer
        # Read on unless a script's stdin is behind, or too much is read ahead of the
        # request being answered.
        phase = self.phase
        if phase < LINGER:
            self._want(
                POLLIN, not self.held and (phase != _BUSY or parser.buffered() <= _MAX_PIPELINE)
            )

    def _want(self, bit, on):
        mask = (self.mask | bit) if on else (self.mask & ~bit)
        if mask != self.mask and self.phase != _CLOSED:
            self.mask = mask
            self.server.poller.modify(self.sock, mask)

    # ---- answering --------------------------------------------------------

    def head(self, status, reason, headers, length, chunked=False, raw=None, body=None, own=0):
        """Queue a response head.

        length None means chunked (chunked=True) or close-delimited. A 204 or a 304
        has neither, nor a body (RFC 9110 6.4.1, 8.6): for them length, chunked and
        body are ignored. raw: header lines already encoded; body: a small body sent
        with the head in one send() (dropped for HEAD). own: _OWN_DATE and _OWN_SERVER
        bits, when headers hold the script's Date or Server: the server's own line is
        left out.

        Returns False when no body may follow the head (HEAD, 204, 304): the caller
        then drops the body pieces.
        """
        req = self.req
        head_only = req is not None and req.method == "HEAD"
        empty = status == 204 or status == 304
        if empty:
            length = None
            chunked = False
        server = self.server
        if (
            req is None
            or not req.keep_alive
            or (length is None and not chunked and not empty)
            # Clients wait for heap (or descriptors) in the listen backlog, or soon will
            # (the rule of on_poll()): this connection makes room once answered, and its
            # client queues up again. Keep-alive then needs no more heap than a new
            # connection per request (docs/performance.md, (c) and (b)).
            or server.paused
            or (server.tight and len(server.conns) > _FEW and _mem_free() < ACCEPT_ROOM)
        ):
            self.close_after = True
        parts = [b"HTTP/1.1 %d %s\r\n" % (status, reason.encode())]
        if not own & _OWN_SERVER:
            parts.append(SERVER_LINE)
        t = None if own & _OWN_DATE else compat.unix_time()
        if t is not None:  # a board may not know the time (SPEC 3)
            if t != server.date[0]:
                server.date = (t, b"Date: " + compat.http_date(t) + b"\r\n")
            parts.append(server.date[1])
        for name, value in headers:
            parts.append(b"%s: %s\r\n" % (name, value))
        if raw:
            parts.append(raw)
        if length is not None:
            parts.append(b"Content-Length: %d\r\n" % length)
            if not head_only:
                self.length = length
        elif chunked:
            parts.append(b"Transfer-Encoding: chunked\r\n")
        if self.close_after:
            parts.append(b"Connection: close\r\n")
        elif req.version == "HTTP/1.0":
            parts.append(b"Connection: keep-alive\r\n")
        parts.append(b"\r\n")
        if body and not (empty or head_only):
            parts.append(body)
        parts = b"".join(parts)
        self.status = status
        self.send(parts)
        return not (empty or head_only)

    def respond(self, status, headers, body):
        """Queue a whole response with a bytes body."""
        self.head(status, http11.reason_phrase(status), headers, len(body), body=body)
        self.finish()

    def error(self, status, msg="", close=False):
        if self.server.cfg.error_pages:  # the site's own (microcgi.errorpage)
            try:
                sent = lazy_call("errorpage", "send", self, status, close)
            except MemoryError:  # no room to load it: the plain answer
                sent = False
            gc.collect()  # the module's heap back at once, in one piece
            if sent:
                return
        if close:
            self.close_after = True
        body = b"%d %s\n" % (status, http11.reason_phrase(status).encode())
        if msg:
            body += msg.encode() + b"\n"
        self.respond(status, [(b"Content-Type", b"text/plain; charset=utf-8")], body)

    def fail(self, e):
        """An HTTPError outside routing: answer it and close (h11 moves the peer to ERROR)."""
        lazy_call("failed", "fail", self, e)

    def out_of_memory(self):
        """A MemoryError while serving: 503 if no head was sent yet, else hang up."""
        gc.collect()
        try:
            if self.status == 0 and self.phase != _CLOSED:
                self.fail(HTTPError("out of memory", 503))
                return
        except MemoryError:
            pass
        self.abort()

    def finish(self):
        self.queued_all = True
        self.maybe_done()

    def maybe_done(self):
        if not (self.queued_all and self.body_done) or self.phase == _CLOSED:
            return
        if self.out or self.file_left:
            return  # flush() comes back here
        server = self.server
        if server.access_log is not None and self.req is not None:
            server.access_log(lazy_call("rare", "access_line", self))
        if self.close_after:
            self.linger()
            return
        parser = self.parser
        parser.next_request()
        if parser.buffered():
            self.reset(_HEAD, server.header_ms)
            self.process()  # (inside process() already: its loop goes on)
        else:
            self.reset(_IDLE, server.keepalive_ms)
            self._want(POLLIN, True)

    # ---- static files -----------------------------------------------------

    def send_file(self, fs, size, mtime, url_path):
        server = self.server
        entry = server.file_entry(fs, size, mtime, url_path)
        content = entry[4]
        # Opened before anything is queued, for HEAD and 304 too: a file that cannot
        # be read is a 403 (a vanished one 404) whatever the request's headers.
        f = server.open_file(fs) if content is None else None
        req = self.req
        start, end = 0, size
        for header in req.headers:
            if header[0] in static.CONDITIONAL:
                part = lazy_call("conditional", "answer", self, fs, size, mtime, entry)
                if part is None:
                    if f is not None:
                        f.close()
                    return  # 304 or 416, queued
                start, end = part
                break
        if content is not None:
            # a small file from the cache: head and body in one send(); a 206's
            # head is queued already, its bytes come from the cache too
            if self.status == 0:
                self.head(200, "OK", (), size, raw=entry[3], body=content)
            else:
                self.send(memoryview(content)[start:end])
            self.finish()
            return
        # the file first: flush() then sends the head and the file's bytes together
        if end > start and req.method != "HEAD":
            self.file = f
            if start:
                f.seek(start)
            self.file_left = end - start
        else:
            f.close()
        if self.status == 0:
            self.head(200, "OK", (), size, raw=entry[3])
        self.finish()
        self.flush()

    def _close_file(self):
        if self.file is not None:
            self.file.close()
            self.file = None
        self.file_left = 0

    # ---- scripts ----------------------------------------------------------

    def start_script(self, job):
        server = self.server
        try:
            handle = server.runner.start(job, server)
        except HTTPError as e:
            self.job = None
            server.log("%s: %s" % (job.name, e))
            self.error(e.status, "the script could not run")
            return
        job.handle = handle
        if handle is not None:
            if job.pending:
                for piece in job.pending:
                    handle.feed_body(piece)
            job.pending = None
            if self.body_done:
                handle.end_body()

    def script_output(self, job, data):
        if job is not self.job or self.phase == _CLOSED:
            return False
        if not (job.nph or job.stream):
            out = job.output
            try:
                out.feed(data)
            except ScriptError as e:
                job.error = e
                return False
            if out.body_len <= self.server.cfg.buffer_output or out.local_redirect is not None:
                return True
            job.stream = True  # more than is worth holding for a Content-Length
            data = None
        from microcgi import stream

        return stream.output(self, job, data)

    def script_exit(self, job, outcome, detail):
        if job is not self.job or self.phase == _CLOSED:
            return
        self.job = None
        if outcome == "exit" and detail:
            self.server.log("%s: exit status %s" % (job.name, detail))
        # NPH, streamed, or cut short (SPEC 7.6); an NPH job never makes an output collector
        if (
            job.nph
            or job.stream
            or (
                job.output.head_done and (outcome == "timeout" or outcome == "exit" and detail < 0)
            )
        ) and lazy_call("stream", "ended", self, job, outcome, detail):
            return
        out = job.output
        if outcome in ("exit", "closed") and job.error is None and out.head_done:
            if out.local_redirect is not None and out.status == 200:
                lazy_call("rare", "local_redirect", self, out.local_redirect)
                return
            reason = out.reason or http11.reason_phrase(out.status)
            pieces = out.body
            body = None
            if self.req.method == "HEAD":
                pieces = ()
            elif out.body_len <= self.server.one_send:
                # hostserver: a small body goes with the head, in one send()
                body = pieces[0] if len(pieces) == 1 else b"".join(pieces)
                pieces = ()
            if not self.head(
                out.status, reason, out.headers, out.body_len, body=body, own=out.own
            ):
                pieces = ()  # a 204 or 304: head() sent no length, so no body either
            for piece in pieces:
                self.send(piece)
            self.finish()
            return
        # no usable response (SPEC 7): nothing of it is sent, its heap goes first
        job.out = None
        gc.collect()
        if outcome == "memory":  # (no room to load a module)
            self.server.log("%s: out of memory" % job.name)
            self.error(503, "out of memory")
            return
        lazy_call("failed", "script_failed", self, job, out, outcome, detail)

    # ---- writing ----------------------------------------------------------

    def send(self, data):
        if self.phase == _CLOSED:
            return
        self.out.append(data)
        if len(self.out) == 1:
            self.flush()

    def flush(self):
        sock = self.sock
        out = self.out
        try:
            while out:
                first = out[0]
                if _MSG_MORE and self.file_left:
                    # the head of a file: the kernel sends it with the file's first bytes
                    n = sock.send(first, _MSG_MORE) or 0
                else:
                    n = sock.send(first) or 0
                if n < len(first):
                    out[0] = memoryview(first)[n:]
                    break
                out.pop(0)
            else:
                if not self.file_left or self._pump_file():
                    self._want(POLLOUT, False)
                    job = self.job
                    if job is None:
                        if self.phase == _BUSY:
                            self.maybe_done()
                    elif job.paused and job.handle is not None:
                        job.paused = False  # the client caught up: the script goes on
                        job.handle.resume()
                    return
        except OSError as e:
            if e.errno not in _WOULD_BLOCK:
                self.abort()
                return
        # the socket is full: go on when it has room, or give up on the client
        self._want(POLLOUT, True)
        self.deadline = ticks_add(ticks_ms(), _SEND_TIMEOUT_MS)

    def _pump_file(self):
        """Send file bytes until done (True) or the socket is full (False)."""
        # The chunks go through the server's one buffer, so nothing may stay in it
        # between polls: what the socket did not take is read again next time.
        f = self.file
        view = self.server.view
        size = len(view)
        while self.file_left:
            got = f.readinto(view[: size if self.file_left > size else self.file_left])
            if not got:
                # the file shrank under us: the promised length can't be kept
                self.close_after = True
                self.abort()
                return True
            try:
                n = self.sock.send(view[:got]) or 0
            except OSError:
                f.seek(-got, 1)
                raise
            self.file_left -= n
            if n < got:
                f.seek(n - got, 1)
                return False
        self._close_file()
        return True

    # ---- endings ----------------------------------------------------------

    def expire(self, now):
        """The deadline passed: idle, lingering or new connections close; the rest is
        in failed.expire() (408, a client that reads nothing, a script's wait)."""
        if self.phase <= _IDLE or self.phase == LINGER:
            self.abort()
        else:
            lazy_call("failed", "expire", self, now)

    def abort(self):
        if self.phase == _CLOSED:
            return
        self.phase = _CLOSED
        job = self.job
        self.job = None
        if job is not None and job.handle is not None:
            job.handle.cancel()
        self._close_file()
        self.out = []
        server = self.server
        server.unregister(self.sock)
        try:
            self.sock.close()
        except OSError:
            pass
        if self in server.conns:
            server.conns.remove(self)
        if server.paused:  # room for a client again
            server.paused = False
            server.poller.modify(server.sock, POLLIN)

    # After the response, with input maybe still coming: MicroPython sockets have
    # no shutdown() to half-close with, so a board just closes (hostserver lingers).
    linger = abort


class Server:
    """One listening socket and everything it serves.

    Args:
        cfg: a config.Config.
        runner: a runner.Runner for scripts, or None (scripts then give 500).
        log: a function taking one message line (the error log).
        access_log: a function taking one Common Log Format line, or None.
        realpath: os.path.realpath where it exists, to refuse symlinks leaving ROOT.
    """

    connection = Connection  # the class of a connection (hostserver has its own)
    # A script's body up to this size goes out with its head, in one send(). Not on
    # a small board's heap, where the joined copy costs more than a send() (startup.py
    # sets it on a roomy one; hostserver too).
    one_send = -1
    # A roomy board's heap keeps the file_entry() of a few files (startup.py makes it a
    # dict; hostserver has a cache of its own)
    entries = None
    # The heap is checked before each accept (MicroPython). gc.mem_free() walks the whole
    # heap: startup.py turns the check off for a heap with room for every connection.
    tight = _mem_free is not None
    warned = False  # routing.unrunnable() has logged (once per server)
    # A board's watchdog and Wi-Fi (microcgi.watch): called with ticks_ms() once per
    # turn of the loop; startup.py sets it only when there is something to do.
    hook = None
    # microcgi.vhost.Hosts: on a board when cfg.vhosts names any (startup.py), on CPython
    # always (hostserver)
    vhosts = None

    def __init__(self, cfg, runner=None, log=None, access_log=None, realpath=None):
        # start-up code (the attributes are set there): a board drops it again
        lazy_call("startup", "init", self, cfg, runner, log, access_log, realpath)

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
        return lazy_call("startup", "listen", self)  # start-up code: a board drops it

    def serve_forever(self):
        while True:
            self.run_once()

    def run_once(self, timeout_ms=None):
        runner = self.runner
        if timeout_ms is None:
            if runner is not None and runner.wants_cpu():
                timeout_ms = 0  # an in-process script is waiting to be resumed
            elif self.conns or (runner is not None and runner.busy()):
                timeout_ms = 200
            else:
                timeout_ms = 1000
        handlers = self.handlers
        poll = self._ipoll or self.poller.poll
        for item in poll(timeout_ms):
            key = item[0]
            h = handlers.get(key)
            if h is None:  # closed meanwhile
                try:
                    self.poller.unregister(key)
                except (KeyError, OSError, ValueError):
                    pass
                continue
            try:
                h.on_poll(key, item[1])
                if runner is not None and runner.wants_cpu():
                    # Run what this event started before the next connection's
                    # request is read: eight scripts waiting for the same tick
                    # would hold eight environs, jobs and outputs at once.
                    runner.tick(ticks_ms())
            except MemoryError:
                # the request that ran out pays for it, not the server (SPEC 3)
                if isinstance(h, Connection):
                    h.out_of_memory()
                else:
                    gc.collect()
            except Exception as e:  # noqa: BLE001 - a request never takes the server down
                lazy_call("failed", "crashed", self, h, e)
        now = ticks_ms()
        h = runner
        try:
            if runner is not None:
                runner.tick(now)
            for h in self.conns:
                if ticks_diff(now, h.deadline) >= 0:
                    h.expire(now)
        except MemoryError:
            gc.collect()
        except Exception as e:  # noqa: BLE001
            lazy_call("failed", "crashed", self, h, e)
        if self.hook is not None:
            self.hook(now)

    def close(self):
        """Stop every connection and script, and the listener."""
        lazy_call("rare", "close", self)

    # ---- connections -------------------------------------------------------

    starved = False  # accept() found no free descriptor (EMFILE, ENFILE)

    def on_poll(self, obj, ev):
        """The listener is readable: accept the waiting connections there is room for."""
        while True:
            if self.tight and len(self.conns) >= _FEW and _mem_free() < ACCEPT_ROOM:
                gc.collect()
                if _mem_free() < ACCEPT_ROOM and lazy_call("failed", "evict", self):
                    gc.collect()
                if _mem_free() < ACCEPT_ROOM:
                    # Too little heap for one more client: the others wait in the
                    # listen backlog until a connection ends (abort() listens again),
                    # rather than all of them failing for want of memory. A few are
                    # always let in, so that a slow script blocks nobody (SPEC 8).
                    self.poller.modify(self.sock, 0)
                    self.paused = True
                    return
            try:
                sock, addr = self.sock.accept()
            except OSError as e:
                err = e.errno
                if err in _WOULD_BLOCK:
                    self.starved = False
                    return
                if not self.starved:
                    self.log("http: accept failed: %s" % e)
                if err in (23, 24):  # ENFILE, EMFILE (not in MicroPython's errno)
                    # The listener stays readable: polling it would spin. It waits, as
                    # above, or for host/cli.py's retry; one log line until it is done.
                    # (Here, not in a module loaded for it: that needs a descriptor.)
                    self.starved = True
                    self.poller.modify(self.sock, 0)
                    self.paused = True
                return
            if self.paused:  # host/cli.py's retry got a descriptor
                self.paused = False
                self.poller.modify(self.sock, POLLIN)
            sock.setblocking(False)
            conn = None
            if len(self.conns) < self.cfg.max_connections or lazy_call("failed", "evict", self):
                try:
                    conn = self.connection(self, sock, addr)
                except MemoryError:
                    gc.collect()
            if conn is None:
                try:
                    lazy_call("rare", "refuse", sock)  # 503 too many connections
                except Exception:  # noqa: BLE001 - no heap or descriptor to load it
                    pass
                sock.close()
                continue
            try:
                sock.setsockopt(_NODELAY[0], _NODELAY[1], 1)
            except OSError:
                pass
            self.conns.append(conn)
            self.register(conn.sock, POLLIN, conn)  # (over TLS, the SSL object)

    def file_entry(self, fs, size, mtime, url_path):
        """(size, mtime, etag, encoded validator headers, content or None) of a file.

        content is the whole file when it is at hand (hostserver's cache), else None.
        """
        cache = self.entries
        if cache is not None:
            entry = cache.get(fs)
            if entry is not None and entry[0] == size and entry[1] == mtime:
                return entry
        tag = static.etag(size, mtime)
        raw = b"Content-Type: %s\r\nLast-Modified: %s\r\nETag: %s\r\nAccept-Ranges: bytes\r\n" % (
            static.mime_type(url_path),
            compat.http_date(mtime),
            tag,
        )
        entry = (size, mtime, tag, raw, None)
        if cache is not None:
            if len(cache) >= _ENTRIES:
                cache.clear()
            cache[fs] = entry
        return entry

    # ---- routing (SPEC 2, 4, 5) --------------------------------------------

    def route(self, conn, req, path):
        """Answer req for the decoded URL path: a script, a file or a folder.

        The path names a file under ROOT (or the folder of the virtual host that the
        request's Host names, microcgi.vhost), or under an alias's folder once the alias's
        prefix is cut off (routing.alias() runs an alias's program itself). One set of
        checks for every route (SPEC 4): a dot name is 404, as if missing
        (routing.hidden() lets /.well-known/ through); anything but a file or a folder is
        403, never opened (a FIFO would block the loop); with follow_symlinks off, a
        real path leaving its root is 403 (hostserver).
        """
        root = self.root if self.vhosts is None else self.vhosts.pick(req)
        sub = path  # the part of path below root
        if self.cfg.alias:
            hit = lazy_call("routing", "alias", self, conn, req, path)
            if hit is True:
                return  # an alias's program runs
            if hit is not None:
                root, sub = hit
        fs = root + sub
        info = None  # PATH_INFO
        try:
            st = compat.stat(fs)
        except OSError as e:
            if e.errno == errno.EACCES:  # in a folder that cannot be entered
                raise lazy_call("routing", "unreadable", self, fs, e)
            # /cgi-bin/app.py/a/b: a script among the leading segments, or nothing
            i = 0
            while True:
                i = sub.find("/", i + 1)
                if i < 0:
                    raise HTTPError("no such file", 404)
                fs = root + sub[:i]
                try:
                    st = compat.stat(fs)
                except OSError:
                    raise HTTPError("no such file", 404)
                if st[0] & compat.S_IFMT != compat.S_IFDIR:
                    break
            info = sub[i:]
            sub = sub[:i]
            path = path[: len(path) - len(info)]
        mode, size, mtime = st
        if "/." in sub and not self.cfg.serve_dotfiles and lazy_call("routing", "hidden", sub):
            raise HTTPError("no such file", 404)
        kind = mode & compat.S_IFMT
        if kind != compat.S_IFREG and kind != compat.S_IFDIR:
            raise HTTPError("not a file or a folder", 403)
        if self.realpath is not None:
            self.check_inside(fs, root)  # hostserver, with follow_symlinks off
        if kind == compat.S_IFDIR:
            lazy_call("rare", "directory", self, conn, req, path, fs, root)  # index, listing
            return
        interp = self.interpreter(fs, path, mode)
        if interp is not None:
            self.run_script(conn, req, path, fs, info, interp, st)
            return
        if info is not None:
            raise HTTPError("no such file", 404)
        if req.method not in ("GET", "HEAD"):
            if req.method == "OPTIONS":
                conn.respond(204, [(b"Allow", b"GET, HEAD, OPTIONS")], b"")
                return
            raise HTTPError("method not allowed on a static file", 405)
        conn.send_file(fs, size, mtime, path)

    def interpreter(self, fs, path, mode):
        """The interpreter of a mapped script ("" = run itself), or None for a plain file.

        path is the file's URL path; None for an alias's program, which runs itself
        when no extension mapping applies (as an executable under cfg.cgi_dirs does).
        """
        name = fs[fs.rfind("/") + 1 :]
        dot = name.rfind(".")
        ext = name[dot:] if dot > 0 else ""
        interp = self.cfg.cgi.get(ext)
        executable = mode & 0o111
        if interp is None:
            if executable and (path is None or lazy_call("routing", "in_cgi_dir", self, path)):
                return ""
            if ext in _SCRIPT_EXTS or (compat.IS_MICROPYTHON and path and "/cgi-bin/" in path):
                # a script this server cannot run: never served as its source (SPEC 2)
                raise lazy_call("routing", "unrunnable", self, path or fs, ext)
            return None
        if interp == "" and not executable and ext == ".sh":
            return "/bin/sh"
        return interp

    def open_file(self, fs):
        """fs opened for reading; HTTPError 404 when it vanished, 403 when unreadable."""
        try:
            return open(fs, "rb")
        except OSError as e:
            raise lazy_call("routing", "unreadable", self, fs, e)

    def run_script(self, conn, req, script_name, fs, path_info, interp, stamp=None):
        # every method the parser lets through may run a script (SPEC 5)
        if self.runner is None:
            raise ScriptError("no script runner")
        job = _Job(conn, script_name, fs, path_info, interp)
        if stamp is not None:
            job.stamp = stamp  # the in-process runner need not stat() it again
        conn.job = job
        if req.chunked and not conn.body_done:
            # CONTENT_LENGTH is known only at the end of a chunked body (RFC 3875
            # 4.1.2): the script starts then, with the pieces held until then
            job.pending = []
        else:
            conn.start_script(job)


if not compat.IS_MICROPYTHON:
    # CPython: a file cache, sendfile() and the symlink check (never on a board)
    from microcgi.hostserver import Connection, Server  # noqa: E402, F401, F811
