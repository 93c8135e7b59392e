# multipart/form-data (RFC 7578) for microcgi.script.save_upload(), which loads this
# module for one call (compat.lazy_call): the file of one field is written as it arrives,
# the body read _CHUNK bytes at a time into one buffer.
import os

from microcgi.script import BadRequest, Fields, content_length, media_type

MAX_PART_HEAD = 1024  # bytes of one part's header block
_CHUNK = 512  # bytes read from stdin at a time


def _params(header):
    """`form-data; name="a"; filename="b c"` -> {"name": "a", "filename": "b c"}."""
    out = {}
    for piece in header.split(";")[1:]:
        i = piece.find("=")
        if i < 0:
            continue
        value = piece[i + 1 :].strip()
        if len(value) > 1 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        out[piece[:i].strip().lower()] = value
    return out


def _split_params(header):
    # ";" inside a quoted value (a file name) must not split it: swap such ";" first
    out, quoted = [], False
    for c in header:
        if c == '"':
            quoted = not quoted
        out.append("\x00" if quoted and c == ";" else c)
    return "".join(out)


class _Body:
    """CONTENT_LENGTH bytes of stdin through one buffer: _CHUNK bytes per read, into the
    same bytearray every time (readinto() when stdin has it), so that reading a body of
    any size allocates nothing -- a board's fragmented heap may have no large free block.
    buf[start:end] is what is read and not yet taken."""

    def __init__(self, stdin, left, mark):
        self.stdin = stdin
        self.left = left
        self.buf = bytearray(_CHUNK + len(mark))
        self.mv = memoryview(self.buf)
        self.start = self.end = 0
        self.readinto = getattr(stdin, "readinto", None)

    def fill(self):
        """Read more after what is not taken yet (moved to the front); False at the end."""
        n = self.end - self.start
        if self.start:
            self.mv[0:n] = self.mv[self.start : self.end]
            self.start, self.end = 0, n
        want = min(len(self.buf) - n, _CHUNK, self.left)
        if want <= 0:
            return False
        if self.readinto is not None:
            got = self.readinto(self.mv[n : n + want])
        else:
            data = self.stdin.read(want)
            got = len(data)
            self.mv[n : n + got] = data
        if not got:
            raise BadRequest("the body ended before CONTENT_LENGTH bytes")
        self.end += got
        self.left -= got
        return True

    def need(self, n):
        """At least n bytes not taken yet (400 when the body ends first)."""
        while self.end - self.start < n:
            if not self.fill():
                raise BadRequest("the multipart body ends without its closing boundary")

    def scan(self, mark, sink):
        """Feed everything before `mark` to sink(memoryview) and take the mark."""
        keep = len(mark) - 1
        while True:
            i = self.buf.find(mark, self.start, self.end)
            if i >= 0:
                if i > self.start:
                    sink(self.mv[self.start : i])
                self.start = i + len(mark)
                return
            safe = self.end - keep
            if safe > self.start:
                sink(self.mv[self.start : safe])
                self.start = safe
            if not self.fill():
                raise BadRequest("the multipart body ends without its closing boundary")


class _Collect:
    """A sink that keeps at most `room` bytes (413 beyond)."""

    def __init__(self, room, what):
        self.parts = []
        self.room = room
        self.what = what

    def __call__(self, data):
        self.room -= len(data)
        if self.room < 0:
            raise BadRequest(self.what + " is too big", 413)
        self.parts.append(bytes(data))

    def text(self):
        try:
            return str(b"".join(self.parts), "utf-8")
        except (UnicodeError, ValueError):
            raise BadRequest(self.what + " is not UTF-8")


class _File:
    """A sink that writes to a file, at most max_size bytes (413 beyond)."""

    def __init__(self, path, max_size):
        self.f = open(path, "wb")
        self.size = 0
        self.max_size = max_size

    def __call__(self, data):
        self.size += len(data)
        if self.max_size is not None and self.size > self.max_size:
            raise BadRequest("the file is more than %d bytes" % self.max_size, 413)
        self.f.write(data)


def _skip(data):
    pass


def save_upload(environ, stdin, field, path, max_size, limit):
    """microcgi.script.save_upload()."""
    ctype = environ.get("CONTENT_TYPE", "")
    if media_type(environ) != "multipart/form-data":
        raise BadRequest("send the file as multipart/form-data", 415)
    boundary = _params(_split_params(ctype)).get("boundary")
    if not boundary or len(boundary) > 70:
        raise BadRequest("multipart/form-data without a boundary")
    mark = b"\r\n--" + boundary.encode()
    body = _Body(stdin, content_length(environ), mark)
    body.buf[0:2] = b"\r\n"  # the first boundary has no line end before it
    body.end = 2
    fields, upload, sink = Fields(), None, None
    room = limit
    try:
        body.scan(mark, _skip)  # the preamble (RFC 2046: none expected)
        while True:
            body.need(2)
            after = body.buf[body.start : body.start + 2]
            body.start += 2
            if after == b"--":
                break  # the closing boundary; the epilogue is left unread
            if after != b"\r\n":
                raise BadRequest("a multipart boundary is not followed by a line end")
            head = _Collect(MAX_PART_HEAD, "a part's header block")
            body.scan(b"\r\n\r\n", head)
            name, filename, ptype = _part_head(head.text())
            if filename is not None and name == field and upload is None and filename:
                sink = _File(path, max_size)
                upload = {"filename": filename, "type": ptype, "size": 0, "path": path}
                body.scan(mark, sink)
                sink.f.close()
                upload["size"] = sink.size
                sink = None
            elif filename is not None:
                body.scan(mark, _skip)  # another file, or an empty file input
            else:
                value = _Collect(room, "the form")
                body.scan(mark, value)
                room = value.room
                fields.add(name, value.text())
    except BaseException:
        if sink is not None:
            sink.f.close()
            try:
                os.remove(path)
            except OSError:
                pass
        raise
    return fields, upload


def _part_head(text):
    """(name, filename or None, content type) of a part's header block."""
    name = filename = None
    ptype = "application/octet-stream"
    for line in text.split("\r\n"):
        i = line.find(":")
        key = line[:i].strip().lower()
        value = line[i + 1 :].strip()
        if key == "content-disposition":
            params = _params(_split_params(value))
            name = params.get("name", "").replace("\x00", ";")
            filename = params.get("filename")
            if filename is not None:
                filename = filename.replace("\x00", ";")
        elif key == "content-type":
            ptype = value
    if name is None:
        raise BadRequest("a multipart part without Content-Disposition: form-data")
    return name, filename, ptype
