"""hello.py: one script, two runners (SPEC section 8).

On a board (or with `--runner inprocess`) microcgi imports this module and calls
main(environ, stdin, stdout) in its own process. On Linux the subprocess runner
executes the file with Python, and the adapter at the bottom turns the real CGI
process (os.environ, stdin, stdout) into the same three arguments.

So this file imports nothing at module level and uses only what MicroPython has:
no urllib, so the query string is split and %-decoded by hand, on bytes.

Try /hello.py?name=Ada%20Lovelace or /hello.py?name=%E2%9C%93
"""

MAX_NAME_BYTES = 64  # a greeting, not an upload


def unquote_plus(raw):
    """Decode application/x-www-form-urlencoded bytes: `+` is a space, `%XX` a byte.

    A `%` that is not followed by two hex digits is kept as it is, as browsers do.
    """
    out = bytearray()
    i = 0
    n = len(raw)
    while i < n:
        c = raw[i]
        if c == 0x2B:  # "+"
            out.append(0x20)
        elif c == 0x25 and i + 2 < n and _hex(raw[i + 1]) >= 0 and _hex(raw[i + 2]) >= 0:
            out.append(_hex(raw[i + 1]) * 16 + _hex(raw[i + 2]))
            i += 2
        else:
            out.append(c)
        i += 1
    return bytes(out)


def _hex(c):
    """The value of one ASCII hex digit, or -1."""
    if 0x30 <= c <= 0x39:
        return c - 0x30
    c |= 0x20  # lower case
    if 0x61 <= c <= 0x66:
        return c - 0x61 + 10
    return -1


def clip_utf8(data, limit):
    """At most `limit` bytes of `data`, never cutting a UTF-8 sequence in half."""
    if len(data) <= limit:
        return data
    end = limit
    while end > 0 and data[end] & 0xC0 == 0x80:  # a continuation byte: back off
        end -= 1
    return data[:end]


def query_param(query, name, default):
    """The first value of `name` in a raw query string (bytes), decoded; else `default`."""
    for pair in query.split(b"&"):
        key, _, value = pair.partition(b"=")
        if unquote_plus(key) == name:
            return unquote_plus(value)
    return default


def main(environ, stdin, stdout):
    query = environ.get("QUERY_STRING", "").encode()
    name = query_param(query, b"name", b"world").strip()
    if not name:
        name = b"world"
    # Control characters would let a visitor draw on someone else's terminal; drop them.
    name = clip_utf8(bytes([c for c in name if c >= 0x20 and c != 0x7F]), MAX_NAME_BYTES)
    stdout.write(b"Content-Type: text/plain; charset=utf-8\r\n")
    stdout.write(b"Cache-Control: no-store\r\n")
    stdout.write(b"\r\n")
    stdout.write(b"hello " + name + b"\n")


# The adapter, exactly as SPEC section 8 gives it (kept out of the formatter's reach).
# fmt: off
if __name__ == "__main__":
    from microcgi.cgi import run
    run(main)
