# HTTPS: the listener speaks TLS (tls_cert, tls_key), inside the same poll loop.
# Loaded only when TLS is configured (startup.listen(), host/cli.py); a board without
# it never pays for it. setup() loads the certificate and swaps in a connection class
# whose socket is an SSL object; redirect() adds a plain listener that answers every
# request with a 301 to the https URL (redirect_http).
#
# Non-blocking throughout. CPython: the handshake is do_handshake() retried on
# SSLWantRead/SSLWantWrite, the poll mask following what it waits for. MicroPython
# (mbedtls) has no do_handshake(): the handshake runs inside the first reads, which
# return None until it is done. Either way it counts against header_timeout: a
# connection that has not sent a whole request by then is closed (a stalled handshake,
# a TLS client that says nothing) or gets a 408 (part of a request).
#
# Decrypted bytes may wait inside the SSL object while its socket is not readable
# (a record larger than the one receive buffer): a connection that may still hold
# some (CPython: pending(); MicroPython: the last read filled the buffer) also asks
# for POLLOUT, which comes back at once, and reads on then (Connection.on_poll).
import errno
import ssl

from microcgi import server as _server

POLLIN = _server.POLLIN
POLLOUT = _server.POLLOUT
_GONE = _server._GONE
_CLOSED = 4  # server._CLOSED

_base = _server.Connection  # hostserver.Connection on CPython
_CPYTHON = hasattr(ssl, "SSLWantReadError")
_full = [False]  # MicroPython: the last read filled the buffer (more may be inside)


def _pem_to_der(data):
    """The first PEM block of data as DER (mbedtls in MicroPython reads DER only);
    data that is no PEM is taken as DER already."""
    start = data.find(b"-----BEGIN")
    if start < 0:
        return data
    from binascii import a2b_base64

    start = data.find(b"\n", start) + 1
    end = data.find(b"-----END", start)
    return a2b_base64(data[start:end].replace(b"\r", b"").replace(b"\n", b""))


def context(cert, key):
    """An SSLContext for a server with cert and key (file paths, PEM; DER on a board
    too). Raises ValueError with a one-line message when either cannot be used."""
    for what, path in (("certificate", cert), ("key", key)):
        try:
            with open(path, "rb") as f:
                f.read(1)
        except OSError as e:
            raise ValueError("tls: cannot read %s %s: %s" % (what, path, _reason(e)))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        if _CPYTHON:
            ctx.load_cert_chain(cert, key)
        else:
            with open(cert, "rb") as f:
                c = _pem_to_der(f.read())
            with open(key, "rb") as f:
                k = _pem_to_der(f.read())
            ctx.load_cert_chain(c, k)
    except (OSError, ValueError) as e:
        raise ValueError(
            "tls: cannot use certificate %s with key %s: %s" % (cert, key, _reason(e))
        )
    if _CPYTHON:
        ctx.sslsocket_class = _Socket
    return ctx


def _reason(e):
    return getattr(e, "strerror", None) or getattr(e, "reason", None) or str(e) or repr(e)


def setup(server):
    """Make server's listener speak TLS (before listen())."""
    if server.connection is Connection:
        return  # (host/cli.py sets it up before listen(), for its errors)
    cfg = server.cfg
    if not (cfg.tls_cert and cfg.tls_key):
        raise ValueError("tls: tls_cert and tls_key go together")
    if getattr(server, "tls", None) is None:
        server.tls = context(cfg.tls_cert, cfg.tls_key)
    server.connection = Connection
    server.recv_into = _recv_into
    if cfg.redirect_http is not None:
        server.route = _Redirecting(server.route)


if _CPYTHON:

    class _Socket(ssl.SSLSocket):
        """An SSLSocket as the loop uses a plain one: send() takes (and ignores) the
        flags of server.flush(), and a send that must wait is EAGAIN."""

        def send(self, data, flags=0):
            try:
                return super().send(data)
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                raise BlockingIOError(errno.EAGAIN, "TLS: would block") from None

    def _recv_into(sock, view):
        try:
            return sock.recv_into(view)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return None
        except ssl.SSLError as e:  # a close in the middle of a record, garbage
            raise OSError(errno.ECONNRESET, str(e)) from None

    def _pending(sock):
        try:
            return sock.pending() > 0
        except (OSError, ValueError):
            return False

else:

    def _recv_into(sock, view):
        n = sock.readinto(view)
        _full[0] = n == len(view)
        return n

    def _pending(sock):
        return _full[0]


class Connection(_base):
    """A connection over TLS: its sock is the SSL object (the loop polls that)."""

    shaking = _CPYTHON  # do_handshake() still to finish (MicroPython: inside the reads)
    more = False  # the SSL object may hold decrypted bytes not yet read
    polled = POLLIN  # the mask the poller has (mask, plus POLLOUT for more)

    def __init__(self, server, sock, addr):
        super().__init__(server, sock, addr)
        try:  # before wrapping: CPython's wrap detaches the socket
            sock.setsockopt(_server._NODELAY[0], _server._NODELAY[1], 1)
        except OSError:
            pass
        try:
            self.sock = server.tls.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        except OSError:
            # no room for the TLS buffers (an ESP32 keeps them outside the MicroPython
            # heap: ENOMEM): refused as when the heap is short (server.Server.on_poll)
            raise MemoryError
        if not _CPYTHON:
            self.raw = sock  # closed with it: MicroPython's SSL object may not close it

    def on_poll(self, obj, ev):
        if self.shaking:
            if ev & _GONE:
                self.abort()
                return
            try:
                self.sock.do_handshake()
            except ssl.SSLWantReadError:
                self._want(POLLOUT, False)
                return
            except ssl.SSLWantWriteError:
                self._want(POLLOUT, True)
                return
            except (OSError, ValueError):
                # not TLS (plain HTTP to this port), a failed handshake, a reset
                self.abort()
                return
            self.shaking = False
            self._want(POLLOUT, False)
            ev = POLLIN  # the request may have come with the handshake's last flight
        elif ev & POLLOUT and not self.mask & POLLOUT:
            ev &= ~POLLOUT  # only the call to read on (more)
        if self.more and self.mask & POLLIN:
            ev |= POLLIN
        self.more = False
        super().on_poll(obj, ev)
        if self.phase != _CLOSED:
            self.more = _pending(self.sock)
            self._want(0, True)

    def _want(self, bit, on):
        mask = (self.mask | bit) if on else (self.mask & ~bit)
        self.mask = mask
        if self.more and mask & POLLIN:
            mask |= POLLOUT
        if mask != self.polled and self.phase != _CLOSED:
            self.polled = mask
            self.server.poller.modify(self.sock, mask)

    def start_script(self, job):
        job.https = True  # gateway.build_environ(): HTTPS=on, REQUEST_SCHEME=https
        super().start_script(job)

    def abort(self):
        super().abort()
        raw = getattr(self, "raw", None)
        if raw is not None:
            self.raw = None
            try:
                raw.close()
            except OSError:
                pass

    if _CPYTHON:

        def _pump_file(self):
            # no sendfile() through TLS: the file's bytes go through the SSL object
            return _server.Connection.__mro__[1]._pump_file(self)

        def linger(self):
            # TLS's own close (close_notify) first, then hostserver's half-close
            try:
                self.sock.unwrap()
            except (OSError, ValueError):
                pass
            super().linger()


class _Redirecting:
    """server.route for a server with a plain listener too (redirect_http): requests
    that came through that one get a 301 to the same target over https."""

    def __init__(self, route):
        self.route = route

    def __call__(self, conn, req, path):
        if isinstance(conn, Connection):
            self.route(conn, req, path)
            return
        srv = conn.server
        host = req.header(b"host") or b""
        if host[:1] == b"[":
            end = host.find(b"]")
            host = host[: end + 1] if end > 0 else b""
        else:
            host = host.split(b":")[0]
        if not host or not _hostname(host):
            host = srv.addr.encode()
            if b":" in host:
                host = b"[" + host + b"]"
        port = b"" if srv.port == 443 else b":%d" % srv.port
        target = req.target if req.target[:1] == b"/" else b"/"
        conn.close_after = True
        conn.respond(301, [(b"Location", b"https://" + host + port + target)], b"")


def _hostname(host):
    for c in host:
        if not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c in b".-_[]:"):
            return False
    return True


class _Listener:
    """The plain listener of redirect_http: its connections are plain ones."""

    def __init__(self, server, sock):
        self.server = server
        self.listener = sock  # (not .sock: failed.crashed() takes that for a connection)

    def on_poll(self, obj, ev):
        srv = self.server
        while True:
            try:
                sock, addr = self.listener.accept()
            except OSError:
                return
            sock.setblocking(False)
            if len(srv.conns) >= srv.cfg.max_connections:
                sock.close()
                continue
            conn = _base(srv, sock, addr)
            srv.conns.append(conn)
            srv.register(sock, POLLIN, conn)


def redirect(server, s):
    """Serve redirects on s, a listening socket (startup.listen()); returns its port."""
    server.redirect_sock = s
    server.register(s, POLLIN, _Listener(server, s))
    if hasattr(s, "getsockname"):
        return s.getsockname()[1]
    return server.cfg.redirect_http
