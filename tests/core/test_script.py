# microcgi.script, the helpers for scripts (issue 12): each called as a script calls it,
# with an environ dict, a stdin and a stdout. Plain functions and asserts: pytest runs them
# under CPython, tests/run_mpy.py under MicroPython.
import io
import json
import os

from microcgi.compat import ticks_ms
from microcgi.script import (
    BadRequest,
    content_length,
    escape,
    form,
    json_body,
    parse_qs,
    query,
    read_body,
    save_upload,
    send,
    send_html,
    send_json,
    unquote,
)

FORM = "application/x-www-form-urlencoded"


class Out:
    """A stdout that takes bytes only, as the in-process runner's does."""

    def __init__(self):
        self.parts = []

    def write(self, data):
        assert isinstance(data, bytes), data
        self.parts.append(data)
        return len(data)

    def value(self):
        return b"".join(self.parts)


class Trickle:
    """A stdin that returns at most `step` bytes per read, as a pipe may."""

    def __init__(self, data, step):
        self.data = data
        self.step = step
        self.pos = 0
        self.asked = 0

    def read(self, n=-1):
        if n < 0:
            n = len(self.data)
        n = min(n, self.step)
        self.asked = max(self.asked, n)
        piece = self.data[self.pos : self.pos + n]
        self.pos += len(piece)
        return piece


def raises(status, call, *args):
    try:
        call(*args)
    except BadRequest as e:
        assert e.status == status, (e.status, e.args)
        return str(e.args[0])
    raise AssertionError("no BadRequest from %r" % (args,))


def post(body, ctype=FORM, length=None):
    environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": ctype}
    environ["CONTENT_LENGTH"] = str(len(body)) if length is None else length
    return environ


# -- reading -------------------------------------------------------------------------------


def test_unquote():
    cases = [
        ("a+b", "a b"),
        ("100%25", "100%"),
        ("%E2%9C%93", "\u2713"),
        ("%zz%4", "%zz%4"),
        ("%2", "%2"),
        ("%", "%"),
        ("a%2Bb", "a+b"),
        ("%c3%a9", "\u00e9"),
        ("plain", "plain"),
        ("", ""),
    ]
    for raw, expected in cases:
        assert unquote(raw) == expected, raw
        assert unquote(raw.encode()) == expected, raw
    raises(400, unquote, "%FF%FE")


def test_parse_qs_keeps_repeated_names_in_order():
    fields = parse_qs("a=1&b=x+y&a=2&&c&d=&a=%33")
    assert fields == {"a": "1", "b": "x y", "c": "", "d": ""}
    assert fields.get("a") == "1" and fields["b"] == "x y" and fields.get("zz") is None
    assert fields.getlist("a") == ["1", "2", "3"]
    assert fields.getlist("b") == ["x y"]
    assert fields.getlist("zz") == []
    assert isinstance(fields, dict)
    assert parse_qs("") == {}
    assert parse_qs(b"k%3Dey=v%26alue") == {"k=ey": "v&alue"}


def test_query():
    fields = query({"QUERY_STRING": "name=Ada%20L&tag=a&tag=b"})
    assert fields == {"name": "Ada L", "tag": "a"}
    assert fields.getlist("tag") == ["a", "b"]
    assert query({}) == {}


def test_content_length():
    assert content_length({}) == 0
    assert content_length({"CONTENT_LENGTH": ""}) == 0
    assert content_length({"CONTENT_LENGTH": "12"}, 12) == 12
    for bad in ("abc", "-1", "1e3", " 5", "\uff15"):
        raises(400, content_length, {"CONTENT_LENGTH": bad})
    raises(413, content_length, {"CONTENT_LENGTH": "13"}, 12)


def test_read_body_reads_exactly_content_length():
    stdin = Trickle(b"name=abc&smuggled=yes", 3)
    assert read_body(post(b"name=abc"), stdin) == b"name=abc"
    assert stdin.pos == 8  # not a byte more
    raises(400, read_body, post(b"", length="100"), io.BytesIO(b"name=x"))
    raises(413, read_body, post(b"", length="100000"), io.BytesIO(b""))  # nothing read
    assert read_body({}, io.BytesIO(b"ignored")) == b""


def test_form():
    body = b"name=Ada+L&message=%3Cb%3E+%26+%C3%A9&x=1&x=2"
    fields = form(post(body), io.BytesIO(body))
    assert fields == {"name": "Ada L", "message": "<b> & \u00e9", "x": "1"}
    assert fields.getlist("x") == ["1", "2"]
    charset = post(b"a=1", FORM + "; charset=UTF-8")
    assert form(charset, io.BytesIO(b"a=1")) == {"a": "1"}
    assert form(post(b""), io.BytesIO(b"")) == {}
    raises(415, form, post(b"{}", "application/json"), io.BytesIO(b"{}"))
    raises(413, form, post(b"a=" + b"x" * 20), io.BytesIO(b"a=" + b"x" * 20), 10)


def test_json_body():
    body = b'{"n": [1, 2.5], "s": "\\u00e9"}'
    assert json_body(post(body, "application/json"), io.BytesIO(body)) == {
        "n": [1, 2.5],
        "s": "\u00e9",
    }
    raises(400, json_body, post(b"{nope", "application/json"), io.BytesIO(b"{nope"))
    raises(400, json_body, post(b"", "application/json"), io.BytesIO(b""))
    raises(415, json_body, post(b"{}", "text/plain"), io.BytesIO(b"{}"))
    raises(413, json_body, post(b"[1]", "application/json"), io.BytesIO(b"[1]"), 2)


# -- multipart uploads ------------------------------------------------------------------------

BOUNDARY = "----form7MA4YWxkTrZu0gW"
_serial = [0]


def scratch():
    _serial[0] += 1
    base = "/tmp"
    try:
        os.stat(base)
    except OSError:  # a board
        base = "."
    return "%s/microcgi-test-upload-%d-%d" % (base, ticks_ms(), _serial[0])


def multipart(parts, boundary=BOUNDARY):
    """parts: (name, filename or None, bytes)."""
    out = []
    for name, filename, data in parts:
        out.append(b"--" + boundary.encode() + b"\r\n")
        disposition = 'Content-Disposition: form-data; name="%s"' % name
        if filename is not None:
            disposition += '; filename="%s"' % filename
        out.append(disposition.encode() + b"\r\n")
        if filename is not None:
            out.append(b"Content-Type: application/octet-stream\r\n")
        out.append(b"\r\n" + data + b"\r\n")
    out.append(b"--" + boundary.encode() + b"--\r\n")
    return b"".join(out)


def upload_environ(body, boundary=BOUNDARY):
    return post(body, "multipart/form-data; boundary=" + boundary)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def gone(path):
    try:
        os.stat(path)
    except OSError:
        return True
    return False


def test_upload_is_written_to_the_file_in_any_read_size():
    # the file holds what a boundary would match but for one byte, and CR LF pairs
    tricky = b"\r\n--" + BOUNDARY[:-1].encode() + b"x\r\n\r\n--" + b"\x00\xff" * 700 + b"\r"
    body = multipart(
        [
            ("title", None, b"a & b"),
            ("file", "my; \u00e9.bin", tricky),
            ("tag", None, b"1"),
            ("tag", None, b"2"),
        ]
    )
    for step in (1, 7, 100, 4096):
        path = scratch()
        try:
            fields, upload = save_upload(
                upload_environ(body), Trickle(body, step), "file", path, 10000
            )
            assert fields == {"title": "a & b", "tag": "1"}, fields
            assert fields.getlist("tag") == ["1", "2"]
            assert upload == {
                "filename": "my; \u00e9.bin",
                "type": "application/octet-stream",
                "size": len(tricky),
                "path": path,
            }, upload
            assert read_file(path) == tricky
        finally:
            if not gone(path):
                os.remove(path)


def test_upload_reads_in_small_pieces():
    body = multipart([("file", "big.bin", b"z" * 5000)])
    stdin = Trickle(body, 100000)
    path = scratch()
    try:
        save_upload(upload_environ(body), stdin, "file", path)
        assert stdin.asked <= 512  # the file never passes through RAM whole
        assert read_file(path) == b"z" * 5000
    finally:
        os.remove(path)


def test_upload_without_the_file():
    body = multipart([("note", None, b"hi"), ("file", "", b"")])
    path = scratch()
    fields, upload = save_upload(upload_environ(body), io.BytesIO(body), "file", path)
    assert (fields, upload) == ({"note": "hi"}, None)
    assert gone(path)


def test_upload_errors_leave_no_file():
    path = scratch()
    big = multipart([("file", "a.bin", b"x" * 3000)])
    raises(413, save_upload, upload_environ(big), io.BytesIO(big), "file", path, 2999)
    assert gone(path)
    cut = big[:-10]
    raises(400, save_upload, upload_environ(cut), io.BytesIO(cut), "file", path)
    assert gone(path)
    env = post(big, "multipart/form-data")  # no boundary
    raises(400, save_upload, env, io.BytesIO(big), "file", path)
    raises(415, save_upload, post(big, FORM), io.BytesIO(big), "file", path)
    fields = multipart([("a", None, b"y" * 100), ("file", "f", b"data")])
    raises(413, save_upload, upload_environ(fields), io.BytesIO(fields), "file", path, None, 50)
    assert gone(path)


# -- writing -----------------------------------------------------------------------------


def test_escape():
    assert escape("<a href=\"x\">'&'</a>") == (
        "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;"
    )
    assert escape("plain") == "plain"
    assert escape(42) == "42"


def test_send():
    out = Out()
    send(out, "hello\n")
    assert out.value() == b"Content-Type: text/plain; charset=utf-8\r\n\r\nhello\n"
    out = Out()
    send_html(out, "<p>x</p>", 404, [("Cache-Control", "no-store")])
    assert out.value() == (
        b"Status: 404 Not Found\r\nContent-Type: text/html; charset=utf-8\r\n"
        b"Cache-Control: no-store\r\n\r\n<p>x</p>"
    )
    out = Out()
    send(out, b"", 418, "text/plain")
    assert out.value() == b"Status: 418\r\nContent-Type: text/plain\r\n\r\n"


def test_send_json():
    out = Out()
    send_json(out, {"sum": 3, "names": ["\u00e9"]}, 201)
    head, _, body = out.value().partition(b"\r\n\r\n")
    assert head == b"Status: 201 Created\r\nContent-Type: application/json"
    assert json.loads(body) == {"sum": 3, "names": ["\u00e9"]}
    assert body.endswith(b"\n")
