# Basic authentication (RFC 7617) for URL prefixes (config key auth: PREFIX -> FILE).
#
# Loaded only when auth is configured: install() (called by startup.py on a board, by
# hostserver.Server on CPython) puts Guard.check() in front of the server's route(), so
# that every request is checked with its decoded path (static.decode_path: %-decoded,
# "//" and "/./" collapsed, ".." refused) before any routing: aliases, scripts, files,
# listings and local redirects alike; and adds AUTH_TYPE and REMOTE_USER to
# gateway.build_environ(). A server without auth carries none of this: a board's heap
# has no room for code it does not use (the 64 KiB set). docs/security.md says what
# this protects and what it does not.
#
# A verified Authorization value is remembered (a small cache per file, keyed by the
# SHA-256 of the header value, so that no password stays in memory): a keep-alive
# browser, which sends the same value with every request, pays the PBKDF2 of
# microcgi.passwords once. That module is loaded for a verification only.
import hashlib
import os

from microcgi import gateway
from microcgi.compat import const, lazy_call, ticks_add, ticks_diff, ticks_ms
from microcgi.errors import HTTPError

_CACHE = const(8)  # verified Authorization values remembered per password file
_MAX_ADDRS = const(32)  # client addresses whose failures are counted at once
_TEXT = (b"Content-Type", b"text/plain; charset=utf-8")


def _stamp(path):
    st = os.stat(path)
    return (st[1], st[6], st[8])  # inode (`microcgi passwd` renames), size, mtime


class _Rule:
    """A protected prefix: its password file, its users, and its verified values."""

    def __init__(self, prefix, path):
        self.prefix = prefix  # without a trailing slash; "" protects everything
        self.path = path
        self.users = None  # {user: hash}; None while the file cannot be read
        self.stamp = None  # _stamp() of the file the users were read from
        self.cache = []  # [(sha256 of an Authorization value, user)], newest last
        self.error = None  # why users is None, once said


class Guard:
    """The auth settings of a server (cfg.auth, auth_realm, auth_max_failures,
    auth_window) and their state: users, verified values, failures per address."""

    def __init__(self, server):
        cfg = server.cfg
        self.log = server.log
        rules = [_Rule(p, cfg.auth[p]) for p in cfg.auth]
        rules.sort(key=lambda r: -len(r.prefix))  # the longest prefix that matches wins
        self.rules = rules
        for rule in rules:
            self.refresh(rule)
        realm = cfg.auth_realm.replace("\\", "\\\\").replace('"', '\\"')
        self.challenge = ('Basic realm="%s", charset="UTF-8"' % realm).encode()
        self.max_failures = cfg.auth_max_failures
        self.window_ms = int(cfg.auth_window * 1000)
        self.failures = {}  # address -> [count, first failure (ticks), refused until]

    def match(self, path):
        for rule in self.rules:
            n = len(rule.prefix)
            if path.startswith(rule.prefix) and (len(path) == n or path[n] == "/"):
                return rule
        return None

    def refresh(self, rule):
        """Read rule's file again if it changed (or was never read); say why not once."""
        try:
            stamp = _stamp(rule.path)
            if stamp == rule.stamp and rule.users is not None:
                return
            rule.cache = []
            rule.users = lazy_call("passwords", "load_users", rule.path)
            rule.stamp = stamp
            rule.error = None
        except (OSError, ValueError) as e:
            rule.users = None
            rule.stamp = None
            rule.cache = []
            msg = "auth %s: %s" % (rule.prefix or "/", _why(rule.path, e))
            if msg != rule.error:
                rule.error = msg
                self.log(msg + ": its requests get 503")

    def check(self, conn, req, path):
        """Whether the request was answered here: False lets it through (authenticated,
        req.user set, or not under a protected prefix); True after a 401, 429 or 503.
        Raises HTTPError 400 for a malformed Authorization header."""
        rule = self.match(path)
        if rule is None:
            return False
        addr = conn.remote[0]
        now = ticks_ms()
        left = self.refused(addr, now)
        if left:
            _answer(
                conn,
                req,
                429,
                (b"Retry-After", b"%d" % ((left + 999) // 1000)),
                b"429 Too Many Requests\ntoo many failed logins: try again later\n",
            )
            return True
        self.refresh(rule)
        if rule.users is None:
            conn.error(503, "authentication is not available")
            return True
        value = None
        for name, v in req.headers:
            if name == b"authorization":
                if value is not None:
                    raise HTTPError("two Authorization headers", 400)
                value = v
        if value is None or value[:6].lower() != b"basic " and value.lower() != b"basic":
            self.deny(conn, req)  # no credentials, or not ours: the challenge
            return True
        key = hashlib.sha256(value).digest()
        cache = rule.cache
        for i in range(len(cache)):
            if cache[i][0] == key:
                entry = cache.pop(i)
                cache.append(entry)  # most recently used last
                req.user = entry[1]
                return False
        token = value[6:].strip()
        try:
            user, ok = lazy_call("passwords", "check_basic", token, rule.users)
        except ValueError as e:
            raise HTTPError("malformed Authorization: %s" % e, 400)
        if not ok:
            self.failed(addr, now, user, path)
            self.deny(conn, req)
            return True
        if len(cache) >= _CACHE:
            cache.pop(0)
        cache.append((key, user))
        req.user = user
        return False

    def deny(self, conn, req):
        """401 with the challenge, and nothing of the resource."""
        _answer(conn, req, 401, (b"WWW-Authenticate", self.challenge), b"401 Unauthorized\n")

    def refused(self, addr, now):
        """Milliseconds addr is still refused for (0: not refused)."""
        f = self.failures.get(addr)
        if f is None or f[2] is None:
            return 0
        left = ticks_diff(f[2], now)
        if left > 0:
            return left
        del self.failures[addr]
        return 0

    def failed(self, addr, now, user, path):
        """Count a failed login from addr; after max_failures within the window, addr is
        refused (429) for a window's length."""
        failures = self.failures
        f = failures.get(addr)
        if f is None or ticks_diff(now, f[1]) >= self.window_ms:
            if f is None and len(failures) >= _MAX_ADDRS:
                self.forget(now)
            f = [0, now, None]
            failures[addr] = f
        f[0] += 1
        self.log("auth: failed login as %r from %s (%s)" % (user[:64], addr, path))
        if f[0] >= self.max_failures:
            f[2] = ticks_add(now, self.window_ms)
            self.log(
                "auth: %d failed logins from %s: refused (429) for %d s"
                % (f[0], addr, self.window_ms // 1000)
            )

    def forget(self, now):
        """Room in the failures table: the entries that no longer count go, else the
        oldest one."""
        failures = self.failures
        oldest = None
        for addr in list(failures):
            f = failures[addr]
            if ticks_diff(now, f[1]) >= self.window_ms and (
                f[2] is None or ticks_diff(f[2], now) <= 0
            ):
                del failures[addr]
            elif oldest is None or ticks_diff(f[1], failures[oldest][1]) < 0:
                oldest = addr
        if len(failures) >= _MAX_ADDRS and oldest is not None:
            del failures[oldest]


def install(server):
    """Protect server's prefixes (server.cfg.auth): its route() asks a Guard first, and
    the environ of a script that logged in gets AUTH_TYPE and REMOTE_USER. Returns the
    Guard (also server.auth)."""
    global _plain_environ
    guard = Guard(server)
    route = server.route  # the class's, bound

    def guarded(conn, req, path):
        if not guard.check(conn, req, path):
            route(conn, req, path)

    server.route = guarded  # (rare.local_redirect() calls server.route too)
    server.auth = guard
    if gateway.build_environ is not _build_environ:
        _plain_environ = gateway.build_environ
        gateway.build_environ = _build_environ
    return guard


_plain_environ = None  # gateway's own build_environ(), once install() replaced it


def _build_environ(req, conn, script, cfg):
    """gateway.build_environ(), and for a request that logged in (Guard.check() set
    req.user) AUTH_TYPE and REMOTE_USER, whatever the operator's extra variables say."""
    env = _plain_environ(req, conn, script, cfg)
    user = getattr(req, "user", None)
    if user is not None:
        env["AUTH_TYPE"] = "Basic"
        env["REMOTE_USER"] = user
    return env


def _answer(conn, req, status, header, body):
    """A refusal. A body the client sent along is not read: the connection closes
    after the answer."""
    if req.chunked or req.body_length:
        conn.body_done = True  # as failed.fail() does: the answer, then the close
        conn.close_after = True
    conn.respond(status, [_TEXT, header], body)


def _why(path, e):
    if isinstance(e, OSError):
        text = getattr(e, "strerror", None) or "errno %s" % (e.args[0] if e.args else "?")
        return "cannot read password file %s: %s" % (path, text)
    return str(e)
