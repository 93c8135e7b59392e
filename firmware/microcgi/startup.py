# Start-up code, loaded for one call and dropped again (compat.lazy_call): a board
# needs the heap it takes more while it serves. server.Server.listen(), and a board's
# start for board.run(): read config.json, bring up Wi-Fi when asked to, listen.
import gc
import select
import socket

from microcgi import __version__
from microcgi.compat import S_IFDIR, S_IFMT, const, lazy_call, stat, unload

# keys of config.json that are not server settings
_BOARD_KEYS = ("board", "network", "wifi", "interpreter", "heap_bytes", "mpy_cross", "runner")
_GC_START = const(2048)  # bytes allocated between collections while starting
_GC_SHARE = const(8)  # then this fraction of the free heap,
_GC_ROOMY = const(128 * 1024)  # or half of it when this much or more is free
_ROOMY_HEAP = const(80 * 1024)  # free heap (while starting) for 1 KiB buffers


def read_config(path="config.json"):
    import json

    try:
        with open(path) as f:
            data = json.load(f)
    except OSError:
        data = {}
    if not isinstance(data, dict):
        raise ValueError("%s: must hold a JSON object" % path)
    return data


class Settings:
    """A plain bag of settings (a board drops config.py after checking them)."""


def load_settings(data):
    """Server settings for a board: board defaults, then config.json, checked.

    The checking code (microcgi.config) is dropped again afterwards: a board
    needs its heap more than it needs that module twice. It is loaded before the
    server modules, so that it never shares the heap with them.
    """
    from microcgi.config import SETTINGS, Config

    cfg = Config(host="0.0.0.0", port=80, root="www", cgi={".py": ""})
    cfg.max_connections = 6  # lwIP: 10 sockets, the listener included
    # the one receive and file-chunk buffer: half as big on a small heap
    cfg.buffer_size = 1024 if gc.mem_free() > _ROOMY_HEAP else 512
    cfg.max_body = 1024 * 1024  # past body_buffer, a script reads it as it comes (upload.py)
    cfg.max_output = cfg.buffer_output = 16 * 1024
    cfg.body_buffer = 8 * 1024  # a chunked body held in RAM (411 beyond)
    cfg.script_max_time = 60
    cfg.backlog = 4
    cfg.watchdog = 30  # seconds (an RP2040's longest is 8.3)
    cfg.apply(data, "config.json", _BOARD_KEYS)
    plain = Settings()
    for item in SETTINGS:
        # the auth settings only when auth is on: every attribute stays in the heap
        if cfg.auth or item[0][:4] != "auth":
            setattr(plain, item[0], getattr(cfg, item[0]))
    cfg = Config = SETTINGS = None
    unload("microcgi.config")
    return plain


def start():
    """Read config.json, bring up Wi-Fi when asked to, listen; returns the Server."""
    # Collect often while modules load: their scratch then never pushes what stays
    # (code, tables) apart, and the heap the server starts with is less fragmented.
    gc.threshold(_GC_START)
    data = read_config()
    cfg = load_settings(data)
    addr = cfg.host
    wifi = None
    if data.get("network") == "wlan":
        wifi = data.get("wifi") or {}
        addr = lazy_call("wlan", "wlan_up", wifi)
    data = None
    gc.collect()
    from microcgi.inprocess import CallableRunner
    from microcgi.server import ACCEPT_ROOM, Server

    runner = CallableRunner()
    runner.stream_over = cfg.body_buffer
    server = Server(cfg, runner)
    if cfg.vhosts:
        server.vhosts = _vhosts(cfg.vhosts, server.root)
    if getattr(cfg, "auth", None):  # (load_settings: there only when configured)
        lazy_call("auth", "install", server)
    host, port = listen(server)
    # The loop's hook (microcgi.watch) when there is something to do: a watchdog (where
    # the port has machine.WDT: not the unix port), a Wi-Fi link to look after. Its
    # messages live there: a string a board loads stays in its heap (qstrs).
    wdt = None
    if cfg.watchdog:
        try:
            from machine import WDT as wdt
        except ImportError:
            pass
    if wdt is not None or wifi is not None:
        server.hook = lazy_call("watch", "start", wdt, cfg.watchdog, wifi)
    # And while serving, well before the heap is full, for the same reason (what
    # stays: a connection's objects, a compiled script), but after a fraction of
    # what is free, so that a roomy heap pays almost nothing for it: with a half
    # instead of an eighth, a roomy heap's keep-alive request costs a tenth less CPU
    # (docs/performance.md).
    gc.collect()
    free = gc.mem_free()
    gc.threshold(free // (2 if free >= _GC_ROOMY else _GC_SHARE))
    if free >= cfg.max_connections * ACCEPT_ROOM:
        # set only then: attributes less on a small heap
        server.tight = False
        server.one_send = 512  # a script's small body leaves with its head
        server.entries = {}  # the heads of a few static files are kept
    if host in ("0.0.0.0", ""):
        host = addr if addr not in ("0.0.0.0", "") else "127.0.0.1"
    scheme = "https" if getattr(cfg, "tls_cert", None) else "http"
    print("microcgi %s listening on %s://%s:%d/" % (__version__, scheme, host, port))
    if getattr(server, "redirect_port", None) is not None:
        print("  redirecting http://%s:%d/ to https" % (host, server.redirect_port))
    return server


def _vhosts(roots, root):
    """The server's microcgi.vhost.Hosts; ValueError when a folder does not exist.

    (Apart from start(): imported there, the module's objects stayed in the heap twice
    over, about 8 KiB more, measured.)
    """
    for name in roots:
        try:
            isdir = stat(roots[name])[0] & S_IFMT == S_IFDIR
        except OSError:
            isdir = False
        if not isdir:
            raise ValueError("vhost %s: %s is not a folder" % (name, roots[name]))
    from microcgi.vhost import Hosts  # (it stays loaded: every request needs it)

    return Hosts(roots, root)


def listen(server):
    """server.Server.listen()."""
    cfg = server.cfg
    if not cfg.port and not hasattr(socket.socket, "getsockname"):
        # MicroPython's sockets cannot tell which port the OS picked
        raise ValueError("port 0 needs getsockname(), which this MicroPython lacks: set a port")
    tls = None
    if getattr(cfg, "tls_cert", None) or getattr(cfg, "tls_key", None):
        from microcgi import tls  # HTTPS: stays loaded (its connection class)

        tls.setup(server)  # the certificate first: a bad one leaves no port open
    s = server.sock = _listening(cfg.host, cfg.port, cfg.backlog)
    if hasattr(s, "getsockname"):
        server.addr, server.port = s.getsockname()[:2]
    server.register(s, select.POLLIN, server)
    if tls is not None and cfg.redirect_http is not None:
        redirect = _listening(cfg.host, cfg.redirect_http, cfg.backlog)
        server.redirect_port = tls.redirect(server, redirect)
    return server.addr, server.port


def _listening(host, port, backlog):
    """A non-blocking socket listening on host:port."""
    ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    s = socket.socket(ai[0], socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(ai[-1])
        s.listen(backlog)
    except OSError:
        s.close()
        raise
    s.setblocking(False)
    return s


def init(server, cfg, runner, log, access_log, realpath):
    """server.Server.__init__(): every attribute a server starts with."""
    server.cfg = cfg
    server.runner = runner
    server.log = log or print
    server.access_log = access_log
    server.realpath = realpath
    root = cfg.root
    while len(root) > 1 and root.endswith("/"):
        root = root[:-1]
    server.root = root
    server.poller = select.poll()
    server.handlers = {}
    server.conns = []
    server.sock = None
    server.addr = cfg.host
    server.port = cfg.port
    # One buffer for all connections: what recv() puts in it is copied into the
    # connection's parser at once, and a file chunk is sent before the next recv.
    server.view = memoryview(bytearray(cfg.buffer_size))
    server.header_ms = int(cfg.header_timeout * 1000)  # the timeouts as deadlines want them
    server.ram_body = cfg.body_buffer  # a chunked body held in RAM (hostserver: spooled)
    server.keepalive_ms = int(cfg.keepalive_timeout * 1000)
    server.date = (-1, b"")  # (second, its Date header line)
    server._ipoll = getattr(server.poller, "ipoll", None)
    server.paused = False  # not accepting for want of memory
    server.processing = None  # the connection in process() (see there)
    # (socket, buffer) -> bytes read; MicroPython sockets have readinto() only
    server.recv_into = getattr(socket.socket, "recv_into", None) or socket.socket.readinto
