# Password hashes and Basic credentials (microcgi.passwords, issue 14), and the prefix
# rules of microcgi.auth. Plain functions and asserts: pytest collects them, and
# tests/run_mpy.py runs them under MicroPython, where HMAC and PBKDF2 are this module's
# own (no hmac, no hashlib.pbkdf2_hmac there).
from binascii import hexlify

from microcgi import auth, gateway, http11, passwords
from microcgi.auth import Guard
from microcgi.config import Config, ConfigError


def _hex(data):
    return hexlify(data).decode()


# RFC 4231 section 4: HMAC-SHA-256 test cases 1, 2, 3 and 6 (a key longer than a block)
HMAC_CASES = [
    (
        b"\x0b" * 20,
        b"Hi There",
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ),
    (
        b"Jefe",
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    (
        b"\xaa" * 20,
        b"\xdd" * 50,
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    ),
    (
        b"\xaa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
]

# RFC 7914 section 11: PBKDF2-HMAC-SHA256, 64 bytes (two blocks)
PBKDF2_CASES = [
    (
        b"passwd",
        b"salt",
        1,
        "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783",
    ),
    (
        b"Password",
        b"NaCl",
        80000,
        "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
        "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d",
    ),
]


def test_hmac_sha256_rfc4231():
    for key, msg, want in HMAC_CASES:
        assert _hex(passwords.hmac_sha256(key, msg)) == want, key


def test_pbkdf2_rfc7914_pure_and_hashlib():
    for password, salt, n, want in PBKDF2_CASES:
        assert _hex(passwords.pbkdf2_sha256_pure(password, salt, n, 64)) == want, n
        # hashlib's own where it has one (CPython), else the same function
        assert _hex(passwords.pbkdf2_sha256(password, salt, n, 64)) == want, n


def test_pbkdf2_pure_agrees_with_hashlib():
    # lengths around a block (dklen 31, 32, 33) and keys around HMAC's block (64 bytes)
    for password, salt, n, dklen in (
        (b"", b"", 3, 32),
        (b"p" * 64, b"s" * 16, 50, 31),
        (b"p" * 65, b"s", 7, 33),
        (b"\xc3\xa9t\xc3\xa9", b"\x00\x01", 1000, 20),
    ):
        pure = passwords.pbkdf2_sha256_pure(password, salt, n, dklen)
        assert len(pure) == dklen
        assert pure == passwords.pbkdf2_sha256(password, salt, n, dklen)


def test_make_hash_and_verify():
    salt = b"0123456789abcdef"
    stored = passwords.make_hash("correct horse", 1000, salt)
    assert stored.startswith("$pbkdf2-sha256$1000$")
    n, got_salt, digest = passwords.parse(stored)
    assert (n, got_salt) == (1000, salt)
    assert digest == passwords.pbkdf2_sha256(b"correct horse", salt, 1000)
    # passlib's adapted base64: no "+", no "=" padding
    assert "+" not in stored and "=" not in stored
    assert passwords.verify(b"correct horse", stored)
    assert not passwords.verify(b"correct horsE", stored)
    assert not passwords.verify(b"", stored)
    # a non-ASCII password, as its UTF-8 bytes
    stored = passwords.make_hash("pässwörd", 10, salt)
    assert passwords.verify("pässwörd".encode(), stored)


def test_apache_sha_hashes():
    # `htpasswd -nbs u password` writes u:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=
    stored = "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="
    assert passwords.parse(stored)[0] == "sha1"
    assert passwords.verify(b"password", stored)
    assert not passwords.verify(b"Password", stored)


def test_unknown_user_is_no_match():
    assert not passwords.verify(b"anything", None)


def test_parse_refuses_what_is_not_a_hash():
    good = passwords.make_hash("x", 10, b"s" * 16)
    salt, digest = good.split("$")[3:5]
    bad = [
        "",
        "plaintext",
        "$apr1$abc$def",  # htpasswd -m: not read
        "{SHA}short",
        "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g",  # unpadded
        "$pbkdf2-sha256$$%s$%s" % (salt, digest),
        "$pbkdf2-sha256$0$%s$%s" % (salt, digest),
        "$pbkdf2-sha256$-5$%s$%s" % (salt, digest),
        "$pbkdf2-sha256$99999999999$%s$%s" % (salt, digest),
        "$pbkdf2-sha256$10$%s$%s" % (salt, digest[:-4]),  # a short checksum
        "$pbkdf2-sha256$10$%s$%s=" % (salt, digest),  # padding
        "$pbkdf2-sha256$10$%s!$%s" % (salt, digest),
        "$pbkdf2-sha256$10$%s$%s$x" % (salt, digest),
    ]
    for stored in bad:
        try:
            passwords.parse(stored)
        except ValueError:
            pass
        else:
            raise AssertionError("accepted %r" % stored)
        assert not passwords.verify(b"x", stored)


def test_basic_credentials():
    users = {"alice": passwords.make_hash("pw:with:colons", 10, b"s" * 16)}
    # base64 of "alice:pw:with:colons": the password may hold ":" (RFC 7617)
    assert passwords.check_basic(b"YWxpY2U6cHc6d2l0aDpjb2xvbnM=", users) == ("alice", True)
    # alice:wrong
    assert passwords.check_basic(b"YWxpY2U6d3Jvbmc=", users) == ("alice", False)
    # bob:pw:with:colons: no such user
    assert passwords.check_basic(b"Ym9iOnB3OndpdGg6Y29sb25z", users) == ("bob", False)


def test_basic_credentials_malformed():
    users = {}
    for token in (
        b"",
        b"!!!!",
        b"YWxpY2U",  # unpadded
        b"YWxpY2U=",  # "alice": no ":"
        b"YWxp Y2U6eA==",
        b"/w==",  # a user name that is not UTF-8 ("\xff")
        b"YWxpY2U6eA===",
    ):
        try:
            passwords.check_basic(token, users)
        except ValueError:
            pass
        else:
            raise AssertionError("accepted %r" % token)


class _Server:
    def __init__(self, auth):
        self.cfg = Config(auth=auth)
        self.lines = []
        self.log = self.lines.append


def test_prefixes_match_whole_segments():
    # the files do not exist: every rule refuses its requests (503), and says so once
    server = _Server({"/admin": "/nonexistent/a", "/admin/deep/": "/nonexistent/b"})
    guard = Guard(server)
    assert len(server.lines) == 2, server.lines
    cases = [
        ("/admin", "/admin"),
        ("/admin/", "/admin"),
        ("/admin/x/y", "/admin"),
        ("/administrator", None),
        ("/admi", None),
        ("/", None),
        ("/public/admin", None),
        ("/admin/deep", "/admin/deep"),  # the longest prefix wins
        ("/admin/deep/er", "/admin/deep"),
        ("/admin/deeper", "/admin"),
    ]
    for path, want in cases:
        rule = guard.match(path)
        assert (rule and rule.prefix) == want, (path, rule and rule.prefix)
    # "/" protects everything
    guard = Guard(_Server({"/": "/nonexistent/a"}))
    for path in ("/", "/a", "/admin/x"):
        assert guard.match(path).prefix == ""


def test_auth_settings_are_checked():
    assert Config().auth == {}
    assert Config().auth_realm == "microcgi"
    assert (Config().auth_max_failures, Config().auth_window) == (5, 60)
    assert Config(auth={"/a/": "f", "/": "g"}).auth == {"/a": "f", "": "g"}
    for bad in (
        {"auth": {"admin": "f"}},
        {"auth": {"/a": ""}},
        {"auth": {"/a/../b": "f"}},
        {"auth": ["/a=f"]},
        {"auth_realm": "a\r\nSet-Cookie: x"},
        {"auth_max_failures": 0},
        {"auth_window": 0},
    ):
        try:
            Config(**bad)
        except ConfigError:
            pass
        else:
            raise AssertionError("accepted %r" % bad)


class _Routed(_Server):
    """A server whose route() records what reached it (auth.install() wraps it)."""

    def __init__(self, auth_setting):
        super().__init__(auth_setting)
        self.routed = []

    def route(self, conn, req, path):
        self.routed.append(path)


class _Conn:
    remote = ("192.0.2.7", 4000)

    def __init__(self):
        self.answers = []

    def error(self, status, msg="", close=False):
        self.answers.append(status)

    def respond(self, status, headers, body):
        self.answers.append(status)


def test_install_puts_the_guard_before_routing():
    server = _Routed({"/admin": "/nonexistent/users.pw"})
    guard = auth.install(server)
    assert server.auth is guard
    req = http11.Request("GET", b"/x", "HTTP/1.1", [])
    conn = _Conn()
    server.route(conn, req, "/public/x")
    server.route(conn, req, "/administrator")
    # the file cannot be read: 503, and the request never reaches routing
    server.route(conn, req, "/admin/x")
    assert server.routed == ["/public/x", "/administrator"]
    assert conn.answers == [503]


def test_install_adds_remote_user_to_the_environ():
    auth.install(_Routed({"/a": "/nonexistent/users.pw"}))
    auth.install(_Routed({"/b": "/nonexistent/users.pw"}))  # a second server: no double wrap

    class Where:
        server_addr = remote_addr = "127.0.0.1"
        server_port = remote_port = 80
        script_name = "/a/s.py"
        filename = "/srv/a/s.py"
        path_info = None
        document_root = "/srv"

    class Cfg:
        env = {"REMOTE_USER": "operator", "AUTH_TYPE": "x"}

    headers = [(b"authorization", b"Basic dTpw"), (b"host", b"h")]
    req = http11.Request("GET", b"/a/s.py", "HTTP/1.1", headers)
    env = gateway.build_environ(req, Where, Where, Cfg)
    assert env["REMOTE_USER"] == "operator"  # no login: the operator's variables
    req.user = "alice"  # Guard.check() sets it once the credentials are verified
    env = gateway.build_environ(req, Where, Where, Cfg)
    assert (env["AUTH_TYPE"], env["REMOTE_USER"]) == ("Basic", "alice")
    assert "HTTP_AUTHORIZATION" not in env
