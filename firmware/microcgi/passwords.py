# Password hashes for Basic authentication (microcgi.auth; `microcgi passwd` writes them).
#
# A board's MicroPython has hashlib.sha256 but neither hmac nor hashlib.pbkdf2_hmac, so
# HMAC-SHA256 (RFC 2104) and PBKDF2 (RFC 8018 section 5.2) are written out here; CPython
# uses its hashlib.pbkdf2_hmac (C) when it has one, and the two give the same bytes
# (tests/core/test_passwords.py checks both against RFC 7914's and RFC 4231's vectors).
#
# A line of a password file is "user:hash", the hash one of:
#   $pbkdf2-sha256$ITERATIONS$SALT$CHECKSUM   SALT and CHECKSUM in passlib's "adapted
#       base64" (RFC 4648 base64 with "." for "+", no "=" padding): passlib's pbkdf2_sha256
#       format. CHECKSUM is the 32-byte PBKDF2-HMAC-SHA256 of the password's UTF-8 bytes.
#   {SHA}BASE64    Apache's `htpasswd -s`: SHA-1 of the password, unsalted (weak: read for
#       compatibility only).
# Loaded for a verification only (compat.lazy_call), never resident on a board.
import hashlib
from binascii import a2b_base64, b2a_base64

_sha256 = hashlib.sha256
_C_PBKDF2 = getattr(hashlib, "pbkdf2_hmac", None)  # CPython's, in C

PREFIX = "$pbkdf2-sha256$"
# A board verifies a password in the loop, holding up every other client while it does:
# docs/security.md gives the milliseconds this costs (5 ms on the unix port on x86-64, an
# estimated 0.15-0.3 s on an ESP32). Written into each hash: a file may use more.
DEFAULT_ITERATIONS = 3000
MAX_ITERATIONS = 10000000  # a hash asking for more is refused, not computed
SALT_BYTES = 16


def _pads(key):
    if len(key) > 64:  # RFC 2104: a key longer than the block is hashed first
        key = _sha256(key).digest()
    key = key + bytes(64 - len(key))
    return bytes([b ^ 0x36 for b in key]), bytes([b ^ 0x5C for b in key])


def hmac_sha256(key, msg):
    """HMAC-SHA256 (RFC 2104) of msg under key (both bytes): 32 bytes."""
    ipad, opad = _pads(key)
    return _sha256(opad + _sha256(ipad + msg).digest()).digest()


def pbkdf2_sha256_pure(password, salt, iterations, dklen=32):
    """PBKDF2-HMAC-SHA256 (RFC 8018 5.2) in Python: dklen bytes."""
    ipad, opad = _pads(password)
    out = b""
    block = 0
    while len(out) < dklen:
        block += 1
        u = _sha256(opad + _sha256(ipad + salt + block.to_bytes(4, "big")).digest()).digest()
        # U1 ^ U2 ^ ... as one integer: a 256-bit XOR in C, not 32 in Python. update()
        # rather than ipad + u: a board collects its garbage (~0.5 KiB an iteration) the
        # less often.
        acc = int.from_bytes(u, "big")
        for _ in range(iterations - 1):
            h = _sha256(ipad)
            h.update(u)
            u = h.digest()
            h = _sha256(opad)
            h.update(u)
            u = h.digest()
            acc ^= int.from_bytes(u, "big")
        out += acc.to_bytes(32, "big")
    return out[:dklen]


def pbkdf2_sha256(password, salt, iterations, dklen=32):
    """PBKDF2-HMAC-SHA256 of password and salt (bytes): dklen bytes (hashlib's where it
    has one)."""
    if _C_PBKDF2 is not None:
        return _C_PBKDF2("sha256", password, salt, iterations, dklen)
    return pbkdf2_sha256_pure(password, salt, iterations, dklen)


def ab64_encode(data):
    """passlib's adapted base64: "." for "+", no padding, no newline (str)."""
    return b2a_base64(data).decode().strip().rstrip("=").replace("+", ".")


_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def b64_decode(text, padded):
    """Strict base64 of text (str or bytes): bytes, or None when it is not base64
    (MicroPython's a2b_base64 skips characters it does not know, so they are checked
    here). padded: "=" padding to a multiple of 4 required; else none allowed."""
    if isinstance(text, str):
        text = text.encode()
    body = text.rstrip(b"=")
    pad = len(text) - len(body)
    if padded:
        if len(text) % 4 or pad > 2:
            return None
    elif pad:
        return None
    else:
        if len(body) % 4 == 1:
            return None
        text = body + b"=" * (-len(body) % 4)
    for c in body:
        if c not in _B64:
            return None
    try:
        return a2b_base64(text)
    except ValueError:
        return None


def make_hash(password, iterations=DEFAULT_ITERATIONS, salt=None):
    """The $pbkdf2-sha256$ hash of password (bytes, or str: its UTF-8) with salt, by
    default a new random one (os.urandom: the host's)."""
    if salt is None:
        import os

        salt = os.urandom(SALT_BYTES)
    if isinstance(password, str):
        password = password.encode()
    digest = pbkdf2_sha256(password, salt, iterations)
    return "%s%d$%s$%s" % (PREFIX, iterations, ab64_encode(salt), ab64_encode(digest))


def same(a, b):
    """a == b for two bytes of the same length, in time that does not depend on where
    they differ."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


def parse(stored):
    """(iterations, salt, checksum) of a $pbkdf2-sha256$ hash, ("sha1", None, digest) of
    a {SHA} one; raises ValueError for anything else."""
    if stored.startswith("{SHA}"):
        digest = b64_decode(stored[5:], True)
        if digest is None or len(digest) != 20:
            raise ValueError("{SHA} hash is not 20 bytes of base64")
        return "sha1", None, digest
    if not stored.startswith(PREFIX):
        raise ValueError("unknown hash (want $pbkdf2-sha256$ or {SHA})")
    parts = stored[len(PREFIX) :].split("$")
    if len(parts) != 3 or not parts[0].isdigit():
        raise ValueError("want $pbkdf2-sha256$ITERATIONS$SALT$CHECKSUM")
    n = int(parts[0])
    if not 1 <= n <= MAX_ITERATIONS:
        raise ValueError("iterations must be 1..%d" % MAX_ITERATIONS)
    salt = b64_decode(parts[1].replace(".", "+"), False)
    digest = b64_decode(parts[2].replace(".", "+"), False)
    if salt is None or digest is None or len(digest) != 32:
        raise ValueError("salt or checksum is not adapted base64 (32-byte checksum)")
    return n, salt, digest


def verify(password, stored):
    """Whether password (bytes) matches stored (a hash parse() accepts). A stored None
    (no such user) costs a default hash all the same: the time taken does not tell
    which user names exist."""
    missing = stored is None
    if missing:
        stored = _DUMMY
    try:
        n, salt, digest = parse(stored)
    except ValueError:
        return False
    if n == "sha1":
        sha1 = getattr(hashlib, "sha1", None)
        if sha1 is None:  # a MicroPython built without it
            return False
        return same(sha1(password).digest(), digest)
    return same(pbkdf2_sha256(password, salt, n), digest) and not missing


# no password has this checksum's preimage known; it only takes the time a real one takes
_DUMMY = PREFIX + "%d$AAAAAAAAAAAAAAAAAAAAAA$%s" % (DEFAULT_ITERATIONS, "A" * 43)


def check_basic(token, users):
    """(user, ok) for the token68 of `Authorization: Basic TOKEN` (RFC 7617: base64 of
    user-id ":" password) against users ({user: hash}). Raises ValueError when the
    token is not such base64, has no ":", or its user-id is not UTF-8."""
    raw = b64_decode(token, True)
    if raw is None:
        raise ValueError("not base64")
    user, colon, password = raw.partition(b":")
    if not colon:
        raise ValueError("no ':' between user and password")
    try:
        user = user.decode()
    except UnicodeError:
        raise ValueError("the user name is not UTF-8")
    return user, verify(password, users.get(user))


def load_users(path):
    """{user: hash} of a password file; raises OSError (unreadable) or ValueError (a
    line that is not user:hash; the message names the file and the line)."""
    users = {}
    with open(path, "rb") as f:
        n = 0
        for line in f:
            n += 1
            try:
                line = line.decode().strip()
            except UnicodeError:
                raise ValueError("%s line %d: not UTF-8" % (path, n))
            if not line or line[0] == "#":
                continue
            user, colon, stored = line.partition(":")
            if not colon or not user or not stored:
                raise ValueError("%s line %d: not user:hash" % (path, n))
            try:
                parse(stored)
            except ValueError as e:
                raise ValueError("%s line %d (%s): %s" % (path, n, user, e))
            users[user] = stored
    return users
