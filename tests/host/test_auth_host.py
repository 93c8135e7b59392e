"""Basic authentication (issue 14) on CPython: microcgi.passwords' HMAC against the
hmac module, and microcgi.auth's cache of verified Authorization values (a keep-alive
browser sends the same value with every request and must not pay PBKDF2 for each).

The cache shows itself without a clock: once a value is verified, the user's hash is
swapped in memory (the file is unchanged, so it is not read again); a cached value still
passes, a value not cached is checked against the new hash and fails.
"""

import base64
import hashlib
import hmac

from microcgi import http11, passwords
from microcgi.auth import Guard
from microcgi.config import Config

TOKEN = base64.b64encode(b"alice:secret")


class Conn:
    """What Guard.check() uses of a server.Connection: the client's address, and the
    answers it queues."""

    remote = ("192.0.2.1", 50000)
    close_after = False
    body_done = False

    def __init__(self):
        self.answers = []

    def respond(self, status, headers, body):
        self.answers.append(status)

    def error(self, status, msg="", close=False):
        self.answers.append(status)


class Server:
    def __init__(self, cfg):
        self.cfg = cfg
        self.lines = []
        self.log = self.lines.append


def variants(n):
    """n spellings of the scheme ("Basic", "bASIC", ...): n different header values
    holding the same credentials."""
    out = []
    for i in range(n):
        scheme = "".join(c.upper() if i >> k & 1 else c for k, c in enumerate("basic"))
        out.append(scheme.encode() + b" " + TOKEN)
    return out


def check(guard, value):
    """The status the request gets: 200 when it is let through (with its user)."""
    req = http11.Request("GET", b"/admin/x", "HTTP/1.1", [(b"authorization", value)])
    conn = Conn()
    if guard.check(conn, req, "/admin/x"):
        return conn.answers[0]
    assert req.user == "alice"
    return 200


def test_hmac_sha256_agrees_with_the_hmac_module():
    for key, msg in ((b"", b""), (b"k" * 64, b"m" * 200), (b"k" * 65, b"x"), (b"\x00", b"\xff")):
        assert passwords.hmac_sha256(key, msg) == hmac.new(key, msg, hashlib.sha256).digest()


def test_passwd_default_iterations_are_the_firmware_default():
    from microcgi_host import cli

    assert cli._DEFAULT_ITERATIONS == passwords.DEFAULT_ITERATIONS


def test_verified_values_are_remembered_lru(tmp_path):
    users = tmp_path / "users.pw"
    users.write_text("alice:%s\n" % passwords.make_hash("secret", 100))
    guard = Guard(Server(Config(auth={"/admin": str(users)})))
    values = variants(9)
    for value in values:
        assert check(guard, value) == 200
    rule = guard.rules[0]
    assert len(rule.cache) == 8  # the first of the nine made way
    assert b"secret" not in b"".join(key for key, _ in rule.cache)  # digests only
    rule.users = {"alice": passwords.make_hash("other", 100)}
    for value in values[1:]:
        assert check(guard, value) == 200  # cached: not verified again
    assert check(guard, values[0]) == 401  # verified against the new hash
    assert check(guard, variants(10)[9]) == 401


def test_a_changed_file_empties_the_cache(tmp_path):
    users = tmp_path / "users.pw"
    users.write_text("alice:%s\n" % passwords.make_hash("secret", 100))
    guard = Guard(Server(Config(auth={"/admin": str(users)})))
    value = variants(1)[0]
    assert check(guard, value) == 200
    replacement = tmp_path / "new.pw"
    replacement.write_text("alice:%s\n" % passwords.make_hash("other", 100))
    replacement.replace(users)  # as `microcgi passwd` does
    assert check(guard, value) == 401
    assert guard.rules[0].cache == []
