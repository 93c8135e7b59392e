"""Property tests (hypothesis) of static.decode_path (SPEC section 4): whatever the request
path, the decoded path names nothing outside ROOT.

decode_path(raw bytes) returns a normalised str path or raises ProtocolError (400) or
Forbidden (403); static.py answers a plain ASCII path itself and hands every other one
to urlpath.decode_path, so both are checked, and they must agree. CPython only.
"""

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microcgi import static, urlpath
from microcgi.errors import Forbidden, HTTPError, ProtocolError

SETTINGS = settings(
    max_examples=500,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

ROOT = "/srv/www"

# Pieces of traversal attempts and their encodings (over- and under-encoded, overlong UTF-8,
# mixed case, doubled "%"), plain names and separators; a path is a random sequence of them.
PIECES = [
    b"/",
    b"//",
    b".",
    b"..",
    b"...",
    b"a",
    b"b.txt",
    b"%2e",
    b"%2E",
    b"%2e%2e",
    b".%2e",
    b"%2f",
    b"%2F",
    b"%5c",
    b"%5C",
    b"\\",
    b"%00",
    b"\x00",
    b"%",
    b"%2",
    b"%g0",
    b"%25",
    b"%252e",
    b"%c0%ae",
    b"%c0%af",
    b"%e0%80%ae",
    b"\xc0\xae",
    b"%c3%a9",
    b"\xc3\xa9",
    b"%e2%80%ae",
    b"%ed%a0%80",
    b"%f4%90%80%80",
    b"\xff",
    b"?",
    b"#",
    b";",
    b" ",
    b"~",
]
PATHS = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=16).map(b"".join),
    st.lists(st.sampled_from(PIECES), max_size=16).map(lambda p: b"/" + b"".join(p)),
    st.binary(max_size=64),
    st.binary(max_size=64).map(lambda b: b"/" + b),
    st.text(max_size=20).map(lambda t: ("/" + t).encode("utf-8", "surrogatepass")),
)


def decode(raw):
    """("ok", path) or ("error", exception class, status); other exceptions propagate."""
    try:
        path = static.decode_path(raw)
    except (ProtocolError, Forbidden) as e:
        assert e.status == (400 if type(e) is ProtocolError else 403)
        return ("error", type(e), e.status)
    return ("ok", path)


@SETTINGS
@given(raw=PATHS)
def test_decoded_path_stays_inside_root(raw):
    result = decode(raw)
    if result[0] == "error":
        return
    path = result[1]
    assert type(path) is str and path.startswith("/")
    assert "\x00" not in path and "\\" not in path
    segments = path.split("/")
    assert ".." not in segments and "." not in segments
    assert "//" not in path
    # joined to ROOT the way the server does, the path resolves inside ROOT
    full = os.path.normpath(ROOT + path)
    assert full == ROOT or full.startswith(ROOT + "/"), (raw, path, full)
    # the same file under any root: nothing climbs
    assert os.path.normpath("/" + path.lstrip("/")) == os.path.normpath(path)


@SETTINGS
@given(raw=PATHS)
def test_fast_path_agrees_with_the_full_decoder(raw):
    try:
        slow = ("ok", urlpath.decode_path(raw))
    except HTTPError as e:
        slow = ("error", type(e), e.status)
    assert decode(raw) == slow


@SETTINGS
@given(raw=PATHS)
def test_decoding_is_stable(raw):
    """The decoded path, %-encoded again (as a listing or a redirect links it), decodes to
    itself: decoding happened exactly once, and no second decoding changes the answer."""
    result = decode(raw)
    if result[0] == "error":
        return
    path = result[1]
    assert decode(urlpath.quote_path(path).encode()) == ("ok", path)


@SETTINGS
@given(raw=PATHS)
def test_dot_dot_is_refused_however_written(raw):
    """A raw path whose %-decoded bytes hold a ".." segment is refused (403, or 400 when the
    path is not even well-formed); it is never normalised away."""
    decoded = bytearray()
    i = 0
    while i < len(raw):  # the test's own %-decoding, lenient: bad escapes stay as they are
        if raw[i] == 0x25 and _hex(raw[i + 1 : i + 3]):
            decoded.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            decoded.append(raw[i])
            i += 1
    if b".." in bytes(decoded).split(b"/"):
        assert decode(raw)[0] == "error"


def _hex(two):
    return len(two) == 2 and all(c in b"0123456789abcdefABCDEF" for c in two)
