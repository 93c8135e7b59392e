#!/usr/bin/env python3
"""env.py: shows exactly what a CGI script receives (RFC 3875 section 4.1).

One `KEY=value` line per environment variable, sorted, as the raw bytes the
server put there, then how many request-body bytes arrived on stdin. Try it with
extra path and a query (/cgi-bin/env.py/extra/path?a=1&b=%20) and with a POST,
chunked or not: the server de-chunks the body and sets CONTENT_LENGTH.
"""

import os
import sys

MAX_BODY_BYTES = 1024 * 1024  # read (and count) at most this much


def read_body(environ, stdin):
    """Read at most CONTENT_LENGTH bytes, as RFC 3875 section 4.2 asks; return the count.

    No CONTENT_LENGTH (or a bad one) means no body: the script reads nothing.
    """
    raw = environ.get(b"CONTENT_LENGTH", b"")
    if not raw.isdigit():
        return 0
    left = min(int(raw), MAX_BODY_BYTES)
    got = 0
    while got < left:
        chunk = stdin.read(min(left - got, 65536))
        if not chunk:
            break
        got += len(chunk)
    return got


def exec_environ():
    """The environment exactly as the server passed it to exec, as a dict of bytes.

    os.environ is not quite that: when the locale is "C", Python 3 coerces it and
    adds LC_CTYPE=C.UTF-8 to its own environment (PEP 538), a variable the server
    never set. Linux keeps the original block in /proc/self/environ.
    """
    try:
        with open("/proc/self/environ", "rb") as f:
            block = f.read()
    except OSError:
        return dict(os.environb)
    environ = {}
    for entry in block.split(b"\0"):
        key, sep, value = entry.partition(b"=")
        if sep:
            environ.setdefault(key, value)
    return environ


def main():
    environ = exec_environ()
    lines = []
    for key in sorted(environ):
        # A value is one line here; show a newline in it rather than start a new line.
        value = environ[key].replace(b"\\", b"\\\\").replace(b"\n", b"\\n")
        lines.append(key + b"=" + value + b"\n")
    got = read_body(environ, sys.stdin.buffer)
    out = sys.stdout.buffer
    out.write(b"Content-Type: text/plain; charset=utf-8\r\n")
    out.write(b"Cache-Control: no-store\r\n\r\n")
    out.write(b"".join(lines))
    out.write(b"\n# request body: %d bytes read from stdin\n" % got)
    out.flush()


if __name__ == "__main__":
    main()
