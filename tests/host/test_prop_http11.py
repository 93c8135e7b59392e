"""Property tests (hypothesis) of http11.RequestParser: the events do not depend on how the
bytes arrive, and no input raises anything but ProtocolError (SPEC section 3).

CPython only (hypothesis does not exist on MicroPython); tests/core/test_http11.py has the
example-based tests that also run on MicroPython. Each test is bounded by max_examples, so
the module runs in a few seconds; deadline=None because the machine may be loaded.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microcgi.errors import ProtocolError
from microcgi.http11 import END, NEED_DATA, Data, Request, RequestParser

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# The statuses a ProtocolError of the parser may carry (SPEC section 3).
STATUSES = {400, 413, 414, 431, 501, 505}

# Small limits as well as the defaults: the 414/431/413 paths then come up often.
LIMITS = st.sampled_from(
    [
        {},
        {},
        {},
        {"max_request_line": 40, "max_header_bytes": 90, "max_headers": 4, "max_body": 64},
        {"max_request_line": 20, "max_header_bytes": 30, "max_headers": 2, "max_body": 8},
    ]
)

# -- building requests ---------------------------------------------------------------------

TCHAR = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
METHODS = [b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"BREW", b"G@T"]
VERSIONS = [b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.9", b"HTTP/2.0", b"HTTP/1.", b"http/1.1"]
TARGETS = st.one_of(
    st.builds(
        lambda segs, q: b"/" + b"/".join(segs) + (b"?" + q if q is not None else b""),
        st.lists(st.binary(max_size=6).map(lambda b: bytes(c % 95 + 33 for c in b)), max_size=4),
        st.none() | st.binary(max_size=6).map(lambda b: bytes(c % 94 + 33 for c in b)),
    ),
    st.sampled_from([b"*", b"http://h/x?y", b"HTTPS://h", b"x", b"/a b", b"/\x7f", b""]),
)
LINE_END = st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n"])
GOOD_NAMES = st.one_of(
    st.sampled_from([b"X-A", b"Accept", b"Connection", b"Expect", b"Cookie", b"user-agent"]),
    st.binary(min_size=1, max_size=8).map(lambda b: bytes(TCHAR[c % len(TCHAR)] for c in b)),
)
NAMES = GOOD_NAMES | st.sampled_from([b"", b"bad name", b" X-Lead", b"X\x00"])
VALUES = st.one_of(
    st.sampled_from([b"", b"close", b"keep-alive", b"x, y", b"100-continue", b"  pad  "]),
    st.binary(max_size=12).map(lambda b: bytes(c % 95 + 32 for c in b)),  # visible ASCII + SP
    st.binary(max_size=6),  # control bytes, bare CR, NUL, high bytes
)


@st.composite
def chunked_body(draw, data, valid):
    """data in the chunked coding, with odd but valid pieces mixed in (and sometimes not)."""
    out = bytearray()
    rest = data
    while rest:
        n = draw(st.integers(1, len(rest)))
        size = b"%x" % n
        if draw(st.booleans()):
            size = size.upper().rjust(draw(st.integers(len(size), 4)), b"0")
        ext = draw(st.sampled_from([b"", b";a=b", b" ;x", b"\t"]))
        out += size + ext + draw(LINE_END) + rest[:n] + draw(LINE_END)
        rest = rest[n:]
    out += draw(st.sampled_from([b"0", b"000", b"0;end"])) + draw(LINE_END)
    for _ in range(draw(st.integers(0, 2))):
        out += b"Trailer-%d: v" % draw(st.integers(0, 9)) + draw(LINE_END)
    out += draw(LINE_END)
    if not valid and draw(st.booleans()):  # a broken coding
        bad = draw(st.sampled_from([b"zz\r\n", b"-1\r\n", b"0x5\r\n", b"5\r\nab\r\n", b""]))
        out = bad + out
    return bytes(out)


@st.composite
def request(draw):
    """One request: mostly valid, sometimes with a wrong part drawn from the lists above."""
    valid = draw(st.integers(0, 7)) != 0
    if valid:
        method = draw(st.sampled_from(METHODS[:7]))
        version = draw(st.sampled_from(VERSIONS[:3]))
        target = b"/" + draw(st.binary(max_size=8).map(lambda b: bytes(c % 94 + 33 for c in b)))
    else:
        method = draw(st.sampled_from(METHODS))
        version = draw(st.sampled_from(VERSIONS))
        target = draw(TARGETS)
    eol = draw(LINE_END)
    head = method + b" " + target + b" " + version + eol
    if valid or draw(st.booleans()):
        head += b"Host: h" + eol
    for _ in range(draw(st.integers(0, 4))):
        if valid:
            name = draw(GOOD_NAMES)
            value = draw(st.binary(max_size=10).map(lambda b: bytes(c % 95 + 32 for c in b)))
            if name.lower() in (b"content-length", b"transfer-encoding", b"host"):
                continue
        else:
            name, value = draw(NAMES), draw(VALUES)
        head += name + b":" + draw(st.sampled_from([b" ", b"", b"\t"])) + value + eol
    body = draw(st.binary(max_size=40))
    framings = ["none", "length", "length", "chunked", "chunked"] + ([] if valid else ["both"])
    framing = draw(st.sampled_from(framings))
    if framing == "length":
        head += b"Content-Length: %d" % len(body) + eol
    elif framing == "chunked":
        head += b"Transfer-Encoding: chunked" + eol
        body = draw(chunked_body(body, valid))
    elif framing == "both":
        head += b"Content-Length: %d" % len(body) + eol + b"Transfer-Encoding: chunked" + eol
    else:
        body = b""
    blank = draw(st.sampled_from([b"", b"", b"", b"\r\n", b"\n"]))  # RFC 9112 2.2
    return blank + head + eol + body


PIPELINE = st.lists(request(), min_size=1, max_size=5).map(b"".join)


def splits(data, draw):
    """data cut at drawn points (any number of pieces, empty ones included)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    pieces = []
    last = 0
    for cut in cuts:
        pieces.append(data[last:cut])
        last = cut
    pieces.append(data[last:])
    return pieces


# -- running the parser ----------------------------------------------------------------------


def run(pieces, limits, shared=False):
    """Feed pieces and drain events after each, as server.py does (next_request() after END).

    With shared, each piece goes in through a memoryview of one receive buffer that is
    overwritten right after feed(), as the server reuses its buffer.

    Returns (messages, error status or None); a message is [head, body bytes, ended],
    head a tuple of everything a Request tells. Any exception but ProtocolError propagates.
    """
    parser = RequestParser(**limits)
    messages = []
    rbuf = bytearray(max([len(p) for p in pieces] + [1]))
    try:
        for piece in pieces:
            if shared:
                n = len(piece)
                rbuf[:n] = piece
                parser.feed(memoryview(rbuf)[:n])
                rbuf[:n] = b"\xa5" * n
            else:
                parser.feed(piece)
            while True:
                ev = parser.next_event()
                if ev is NEED_DATA:
                    break
                if isinstance(ev, Request):
                    check_request(ev)
                    messages.append([describe(ev), b"", False])
                elif isinstance(ev, Data):
                    assert messages and not messages[-1][2], "Data outside a body"
                    assert type(ev.data) is bytes and ev.data, "Data must be non-empty bytes"
                    messages[-1][1] += ev.data
                elif ev is END:
                    assert messages and not messages[-1][2], "END outside a body"
                    messages[-1][2] = True
                    parser.next_request()
                else:
                    raise AssertionError("unknown event %r" % (ev,))
    except ProtocolError as e:
        assert e.status in STATUSES, "ProtocolError with status %r" % e.status
        return messages, e.status
    return messages, None


def describe(req):
    return (
        req.method,
        req.target,
        req.path,
        req.query,
        req.version,
        tuple(req.headers),
        req.keep_alive,
        req.chunked,
        None if req.chunked else req.body_length,  # a chunked length grows as data comes
    )


def check_request(req):
    """What a Request promises to the server, whatever the input."""
    assert req.method in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
    assert req.version in ("HTTP/1.0", "HTTP/1.1")
    assert req.target and (req.target[:1] == b"/" or req.target == b"*")
    assert all(0x21 <= c <= 0x7E for c in req.target), req.target
    for name, value in req.headers:
        assert name and all(c in TCHAR for c in name) and name == name.lower(), name
        assert not any((c < 0x20 and c != 0x09) or c == 0x7F for c in value), value
        assert value == value.strip(b" \t"), value
    if req.version == "HTTP/1.1":
        assert sum(1 for name, _ in req.headers if name == b"host") == 1


def check_bodies(messages):
    for head, body, ended in messages:
        length = head[-1]
        if ended and length is not None:
            assert len(body) == length
        if length is not None:
            assert len(body) <= length


# -- the properties ---------------------------------------------------------------------------


@SETTINGS
@given(data=PIPELINE, limits=LIMITS, draw=st.data())
def test_events_do_not_depend_on_the_split(data, limits, draw):
    whole = run([data], limits)
    check_bodies(whole[0])
    assert run(splits(data, draw.draw), limits) == whole
    assert run(splits(data, draw.draw), limits, shared=True) == whole


@settings(SETTINGS, max_examples=60)
@given(data=PIPELINE, limits=LIMITS)
def test_byte_by_byte_gives_the_same_events(data, limits):
    whole = run([data], limits)
    assert run([data[i : i + 1] for i in range(len(data))], limits, shared=True) == whole


@SETTINGS
@given(requests=st.lists(request(), min_size=2, max_size=6), limits=LIMITS)
def test_pipelined_requests_come_out_one_by_one(requests, limits):
    """A pipeline yields what each request alone yields, in order, up to the first error.

    A request the parser reads in full (END) leaves the parser at the start of the next
    one, whatever followed it; a request alone may end in NEED_DATA (a body still to
    come, e.g. a Content-Length larger than what was sent): from there on the pipeline
    is a different input, and nothing more is compared.
    """
    together, error = run([b"".join(requests)], limits)
    i = 0
    for raw in requests:
        alone, alone_error = run([raw], limits)
        if alone_error is not None:
            assert together[i : i + len(alone)] == alone
            assert error == alone_error
            return
        if not alone or not alone[-1][2]:
            return  # incomplete alone: its bytes mean something else in the pipeline
        assert together[i : i + len(alone)] == alone
        i += len(alone)
    assert (len(together), error) == (i, None)


@SETTINGS
@given(data=st.binary(max_size=600), limits=LIMITS, draw=st.data())
def test_random_bytes_raise_only_protocol_errors(data, limits, draw):
    # run() lets anything but ProtocolError through: hypothesis reports it as the failure
    run(splits(data, draw.draw), limits)


CHUNKED_HEAD = b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
PREFIXES = [
    b"",
    b"GET / HTTP/1.1\r\n",
    b"POST /x HTTP/1.1\r\nHost: h\r\n",
    b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n",
    CHUNKED_HEAD,
    CHUNKED_HEAD + b"5\r\nhello\r\n",
]
# Pieces of the chunked coding and of header lines: random sequences of them reach the
# corners of the chunk-size, chunk-data and trailer states that uniform bytes rarely do.
TOKENS = [b"0", b"5", b"a", b"F", b"g", b";", b"=", b"-", b" ", b"\t", b"\r\n", b"\n", b"\r"]
TOKENS += [b"x", b":", b"\x00", b"\xff", b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"]


@SETTINGS
@given(
    prefix=st.sampled_from(PREFIXES),
    tail=st.binary(max_size=400) | st.lists(st.sampled_from(TOKENS), max_size=60).map(b"".join),
    limits=LIMITS,
    draw=st.data(),
)
def test_random_bytes_after_a_valid_start(prefix, tail, limits, draw):
    data = prefix + tail
    whole = run([data], limits)
    assert run(splits(data, draw.draw), limits) == whole


@SETTINGS
@given(data=PIPELINE, flips=st.lists(st.tuples(st.integers(0), st.integers(0, 255)), max_size=4))
def test_mutated_requests_raise_only_protocol_errors(data, flips):
    mutated = bytearray(data)
    for where, value in flips:
        if mutated:
            mutated[where % len(mutated)] = value
    mutated = bytes(mutated)
    assert run([mutated], {}) == run([mutated[i : i + 1] for i in range(len(mutated))], {})
