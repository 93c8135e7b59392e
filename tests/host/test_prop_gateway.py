"""Property tests (hypothesis) of a script's output parsing (SPEC section 7, gateway.py).

ScriptOutput gives the same status, headers and body (or the same error) however the
runner happens to read the script's output, whether the body is collected or taken as it
comes (streaming); the headers it passes on never hold CR, LF or another control byte (a
script cannot split the response); parse_script_headers() raises nothing but ScriptError.
CPython only.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microcgi.errors import ScriptError
from microcgi.gateway import ScriptOutput, parse_script_headers

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

LINE_END = st.sampled_from([b"\r\n", b"\n"])
GOOD_LINES = st.sampled_from(
    [
        b"Content-Type: text/plain",
        b"content-type:text/html",
        b"Status: 404 Not Found",
        b"Status: 200",
        b"status:\t301 Moved",
        b"Status: 999 Nope",
        b"Status: 20",
        b"Status: 200x",
        b"Location: /local?x=1",
        b"Location: http://example.com/",
        b"Location:",
        b"Set-Cookie: a=1",
        b"Set-Cookie: b=2",
        b"Content-Length: 5",
        b"Transfer-Encoding: chunked",
        b"Connection: close",
        b"X-Tab: a\tb",
        b"X-Empty:",
        b"X-Pad:   padded   ",
    ]
)
BAD_LINES = st.sampled_from(
    [b"no colon", b" X-Fold: folded", b"X-Bare: a\rb", b"X-Nul: a\x00b", b": empty", b"X Y: z"]
)
RANDOM_LINES = st.binary(max_size=20).map(lambda b: b.replace(b"\n", b""))


# Lines that never make a block invalid alone (the framing ones are dropped, not refused).
SAFE_LINES = st.sampled_from(
    [
        b"Set-Cookie: a=1",
        b"Set-Cookie: b=2",
        b"Content-Length: 5",
        b"Transfer-Encoding: chunked",
        b"Connection: close",
        b"X-Tab: a\tb",
        b"X-Empty:",
        b"X-Pad:   padded   ",
        b"Cache-Control:no-store",
    ]
)
# One of these makes a block complete (Content-Type, a Status, or a Location).
FIRST_LINES = st.sampled_from(
    [
        b"Content-Type: text/plain",
        b"content-type:text/html",
        b"Status: 404 Not Found",
        b"Status: 201",
        b"Location: /local?x=1",
        b"Location: http://example.com/",
    ]
)


@st.composite
def script_output(draw):
    """A header block, its blank line, a body; mostly valid, sometimes cut short."""
    if draw(st.integers(0, 2)):
        lines = draw(st.lists(SAFE_LINES, max_size=4))
        lines.insert(draw(st.integers(0, len(lines))), draw(FIRST_LINES))
    else:
        any_line = st.one_of(GOOD_LINES, GOOD_LINES, SAFE_LINES, BAD_LINES, RANDOM_LINES)
        lines = draw(st.lists(any_line, max_size=6))
    out = b"".join(line + draw(LINE_END) for line in lines) + draw(LINE_END)
    out += draw(st.binary(max_size=300))
    if draw(st.integers(0, 9)) == 0:
        out = out[: draw(st.integers(0, len(out)))]
    return out


LIMITS = st.sampled_from(
    [
        {},
        {},
        {"max_header": 40},
        {"max_header": 8192, "max_output": 200},
        {"max_header": 24, "max_output": 60},
    ]
)
# take: the body is taken after every feed (take_body()), as the server does once it streams
MODES = st.sampled_from([{}, {"join": 16}, {"take": True}, {"take": True, "join": 64}])


def splits(data, draw):
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    pieces, last = [], 0
    for cut in cuts:
        pieces.append(data[last:cut])
        last = cut
    pieces.append(data[last:])
    return pieces


def collect(pieces, limits, mode):
    """Feed pieces as a runner does, then finish(): the outcome as one comparable tuple.

    With mode["take"] the body is taken after every feed, as the server does when it
    streams. ("error", message) when a ScriptError was raised; any other exception
    propagates.
    """
    take = mode.get("take", False)
    out = ScriptOutput(**limits, join=mode.get("join", 0))
    body = []
    try:
        for piece in pieces:
            out.feed(piece)
            if out.head_done and take:
                body.extend(out.take_body())
        out.finish()
    except ScriptError as e:
        assert out.error is not None
        return ("error", e.args[0])
    body.extend(out.body)
    joined = b"".join(body)
    assert take or len(joined) == out.body_len
    return ("ok", out.status, out.reason, out.headers, out.local_redirect, joined)


def check_headers(result):
    if result[0] != "ok":
        return
    _, status, reason, headers, local_redirect, _ = result
    assert 100 <= status <= 599
    for name, value in headers:
        assert name and b":" not in name and not any(c <= 0x20 or c == 0x7F for c in name)
        assert not any((c < 0x20 and c != 0x09) or c == 0x7F for c in value), value
        assert name.lower() not in (b"status", b"content-length", b"transfer-encoding")
        assert name.lower() not in (b"connection", b"keep-alive")
    for text in (reason, local_redirect):
        assert text is None or ("\r" not in text and "\n" not in text and "\x00" not in text)


@SETTINGS
@given(data=script_output(), limits=LIMITS, mode=MODES, draw=st.data())
def test_same_outcome_however_the_output_is_split(data, limits, mode, draw):
    whole = collect([data], limits, mode)
    check_headers(whole)
    split = collect(splits(data, draw.draw), limits, mode)
    bytewise = collect([data[i : i + 1] for i in range(len(data))], limits, mode)
    cap = limits.get("max_output")
    over_cap = cap is not None and len(data) > cap
    if over_cap:
        # Over max_output the answer is a 500 whatever the split; which check fires first
        # (the cap, or a bad header line read before the cap was passed) may differ.
        assert whole[0] == split[0] == bytewise[0] == "error"
    else:
        assert split == whole
        assert bytewise == whole


@SETTINGS
@given(data=st.binary(max_size=400), limits=LIMITS, mode=MODES, draw=st.data())
def test_random_output_raises_only_script_errors(data, limits, mode, draw):
    check_headers(collect(splits(data, draw.draw), limits, mode))


@SETTINGS
@given(
    block=st.one_of(
        st.binary(max_size=200),
        st.lists(st.one_of(GOOD_LINES, BAD_LINES, RANDOM_LINES), max_size=8).map(b"\n".join),
    )
)
def test_parse_script_headers_raises_only_script_errors(block):
    try:
        parsed = parse_script_headers(block)
    except ScriptError:
        return
    status, reason, headers, local_redirect, own = parsed
    assert own in (0, 1, 2, 3)  # the script sent its own Date (1), Server (2)
    check_headers(("ok", status, reason, headers, local_redirect, b""))
    if local_redirect is not None:
        assert local_redirect.startswith("/") and status == 200


# Bytes a value must not hold (but HTAB), among ones it may.
CONTROL_MIX = [b"a", b" ", b"\t", b"\r", b"\x00", b"\x0b", b"\x1b", b"\x7f", b"\x80", b"\n"]


@SETTINGS
@given(
    name=st.binary(min_size=1, max_size=8),
    value=st.binary(max_size=16)
    | st.lists(st.sampled_from(CONTROL_MIX), max_size=12).map(b"".join),
    end=LINE_END,
)
def test_no_header_smuggles_a_line_break(name, value, end):
    """A header line with a CR, LF or another control byte in it is a 500, never a header
    of the response (RFC 9110 5.5; a bare CR above all would split the response)."""
    line = name + b": " + value
    try:
        headers = parse_script_headers(b"Content-Type: text/plain" + end + line + end)[2]
    except ScriptError:
        return
    for hname, hvalue in headers:
        assert b"\r" not in hname + hvalue and b"\n" not in hname + hvalue
