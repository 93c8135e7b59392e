# Helpers for scripts (docs/scripts.md): the same calls in-process on a board and in a
# CGI process on Linux, as they only take (environ, stdin, stdout) -- the arguments of
# main() in both runners (SPEC section 8).
#
#     from microcgi.script import query, form, send_html, escape, BadRequest
#
# Reading: query(environ), form(environ, stdin), json_body(environ, stdin), and
# save_upload(environ, stdin, field, path) for multipart/form-data, which writes the file
# as it arrives (never more than about 1 KiB of it in RAM). A bad request raises
# BadRequest, whose .status (400, 413, 415) the script answers with.
# Writing: send(stdout, body, status), send_json(), send_html(): one whole response.
#
# The server never imports this module: a board loads it (and keeps it) only once a
# script does.
import json

from microcgi.compat import lazy_call

MAX_BODY = 16 * 1024  # default bound of a form or JSON body (a board's max_body)
_FORM = "application/x-www-form-urlencoded"
_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    303: "See Other",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class BadRequest(Exception):
    """A request the helpers cannot take; .status is the HTTP status to answer with."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


# -- reading ------------------------------------------------------------------------------


def _hex(c):
    if 48 <= c <= 57:
        return c - 48
    c |= 32
    return c - 87 if 97 <= c <= 102 else -1


def unquote(data):
    """`+` as a space and `%XX` as a byte (a `%` without two hex digits stays), as str.

    Raises BadRequest when the bytes are not UTF-8.
    """
    if isinstance(data, str):
        data = data.encode()
    if b"%" not in data and b"+" not in data:
        out = data
    else:
        out = bytearray()
        i, n = 0, len(data)
        while i < n:
            c = data[i]
            if c == 43:  # "+"
                c = 32
            elif c == 37 and i + 2 < n and _hex(data[i + 1]) >= 0 and _hex(data[i + 2]) >= 0:
                c = _hex(data[i + 1]) * 16 + _hex(data[i + 2])
                i += 2
            out.append(c)
            i += 1
    try:
        return str(out, "utf-8")
    except (UnicodeError, ValueError):
        raise BadRequest("not UTF-8 text: %r" % bytes(out[:40]))


class Fields(dict):
    """The fields of a query or a form: fields[name] is the first value given for name (a
    str), fields.getlist(name) every value, in order (a checkbox group, a multi-select)."""

    _more = None  # name -> [every value], for the names given more than once

    def getlist(self, name):
        more = self._more.get(name) if self._more else None
        if more:
            return list(more)
        return [self[name]] if name in self else []

    def add(self, name, value):
        if name not in self:
            self[name] = value
            return
        if self._more is None:
            self._more = {}
        self._more.setdefault(name, [self[name]]).append(value)


def parse_qs(data):
    """`a=1&b=x+y&a=2` (str or bytes) as Fields: {"a": "1", "b": "x y"}, getlist("a") is
    ["1", "2"]. Empty pairs are skipped; `a` alone is "".
    """
    if isinstance(data, str):
        data = data.encode()
    fields = Fields()
    for pair in data.split(b"&"):
        if not pair:
            continue
        i = pair.find(b"=")
        if i < 0:
            name, value = unquote(pair), ""
        else:
            name, value = unquote(pair[:i]), unquote(pair[i + 1 :])
        fields.add(name, value)
    return fields


def query(environ):
    """The query string as Fields (parse_qs())."""
    return parse_qs(environ.get("QUERY_STRING", ""))


def media_type(environ):
    """CONTENT_TYPE without its parameters, in lower case ("" when there is none)."""
    return environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()


def content_length(environ, limit=None):
    """CONTENT_LENGTH as an int (0 when absent: no body, RFC 3875 section 4.1.2).

    Raises BadRequest: 400 when it is not a number, 413 when it is over `limit`.
    """
    raw = environ.get("CONTENT_LENGTH", "")
    if not raw:
        return 0
    if raw.strip("0123456789"):  # digits only: not " 5", "-1", "1e3" nor a wide "５"
        raise BadRequest("CONTENT_LENGTH is not a number: %r" % raw[:20])
    n = int(raw)
    if limit is not None and n > limit:
        raise BadRequest("the body is %d bytes, more than %d" % (n, limit), 413)
    return n


def read_body(environ, stdin, limit=MAX_BODY):
    """The request body: exactly CONTENT_LENGTH bytes (RFC 3875 section 4.2), at most
    `limit` of them (413 beyond), and 400 when stdin ends first."""
    left = content_length(environ, limit)
    parts = []
    while left > 0:
        data = stdin.read(left)
        if not data:
            raise BadRequest("the body ended before CONTENT_LENGTH bytes")
        parts.append(data)
        left -= len(data)
    return b"".join(parts)


def form(environ, stdin, limit=MAX_BODY):
    """An application/x-www-form-urlencoded body as Fields (415 for another content type;
    400, 413 as read_body())."""
    if media_type(environ) != _FORM:
        raise BadRequest("send the form as " + _FORM, 415)
    return parse_qs(read_body(environ, stdin, limit))


def json_body(environ, stdin, limit=MAX_BODY):
    """An application/json body, decoded (415 for another content type, 400 when it is
    not JSON; 413 as read_body())."""
    if media_type(environ) != "application/json":
        raise BadRequest("send JSON as application/json", 415)
    data = read_body(environ, stdin, limit)
    try:
        return json.loads(str(data, "utf-8"))
    except (ValueError, UnicodeError):
        raise BadRequest("the body is not valid JSON")


# -- multipart/form-data uploads (RFC 7578): microcgi.multipart, loaded for the call --------


def save_upload(environ, stdin, field, path, max_size=None, limit=MAX_BODY):
    """Read a multipart/form-data body, writing the file of `field` to `path` as it comes
    (never more than about 1 KiB of it in RAM).

    Args:
        field: the name of the file input (`<input type="file" name="...">`).
        path: where the file goes (on a board, relative to the flash's root).
        max_size: the largest file accepted (413 beyond; the partial file is removed).
        limit: bytes of all the other fields together (413 beyond).
    Returns:
        (fields, upload): the other fields as Fields, and {"filename", "type", "size",
        "path"} of the file, or None when the form held no file for `field` (then
        nothing is written).
    Raises:
        BadRequest: 415 for another content type, 400 for a malformed body, 413.
    """
    # the parser costs a board RAM only while it runs (compat.lazy_call)
    return lazy_call("multipart", "save_upload", environ, stdin, field, path, max_size, limit)


# -- writing -----------------------------------------------------------------------------


def escape(text):
    """Text made safe inside HTML, attribute values included."""
    text = str(text)
    for c, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;")):
        if c in text:
            text = text.replace(c, entity)
    return text.replace("'", "&#x27;") if "'" in text else text


def send(stdout, body, status=200, content_type="text/plain; charset=utf-8", headers=None):
    """Write one whole response: its Status (when not 200), Content-Type, the other
    `headers` ([(name, value)]), a blank line, then `body` (str or bytes)."""
    head = ""
    if status != 200:
        reason = _REASONS.get(status)
        head = ("Status: %d %s\r\n" % (status, reason)) if reason else "Status: %d\r\n" % status
    head += "Content-Type: " + content_type + "\r\n"
    for name, value in headers or ():
        head += name + ": " + value + "\r\n"
    if isinstance(body, str):
        body = body.encode()
    stdout.write(head.encode() + b"\r\n")
    if body:
        stdout.write(body)


def send_json(stdout, data, status=200, headers=None):
    """Write `data` as an application/json response."""
    send(stdout, json.dumps(data) + "\n", status, "application/json", headers)


def send_html(stdout, html, status=200, headers=None):
    """Write `html` (str or bytes) as a text/html response."""
    send(stdout, html, status, "text/html; charset=utf-8", headers)
