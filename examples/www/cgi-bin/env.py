"""env.py: shows exactly what a script receives (RFC 3875 section 4.1), on Linux as a
CGI process and on a board in-process (SPEC section 8).

One `KEY=value` line per variable, sorted, then how many request-body bytes arrived
on stdin. Try it with extra path and a query (/cgi-bin/env.py/extra/path?a=1&b=%20) and
with a POST, chunked or not: the server de-chunks the body and sets CONTENT_LENGTH.

On Linux, `environ` is the process environment, in which Python itself may have put
LC_CTYPE=C.UTF-8 (PEP 538: it does so when the locale is "C", and the server gives
scripts no locale).
"""

from microcgi.script import BadRequest, content_length

MAX_BODY = 1024 * 1024  # read (and count) at most this much
CHUNK = 512


def read_count(environ, stdin):
    """Read at most CONTENT_LENGTH bytes, as RFC 3875 section 4.2 asks, in small pieces
    (a board holds them in RAM); return how many arrived."""
    try:
        left = min(content_length(environ), MAX_BODY)
    except BadRequest:
        return 0  # no usable CONTENT_LENGTH: no body
    got = 0
    while got < left:
        data = stdin.read(min(left - got, CHUNK))
        if not data:
            break
        got += len(data)
    return got


def main(environ, stdin, stdout):
    lines = []
    for key in sorted(environ):
        # A value is one line here; show a newline in it rather than start a new line.
        value = environ[key].replace("\\", "\\\\").replace("\n", "\\n")
        lines.append(key + "=" + value + "\n")
    got = read_count(environ, stdin)
    stdout.write(b"Content-Type: text/plain; charset=utf-8\r\n")
    stdout.write(b"Cache-Control: no-store\r\n\r\n")
    stdout.write("".join(lines).encode())
    stdout.write(b"\n# request body: %d bytes read from stdin\n" % got)


# The adapter, exactly as SPEC section 8 gives it (kept out of the formatter's reach).
# fmt: off
if __name__ == "__main__":
    from microcgi.cgi import run
    run(main)
