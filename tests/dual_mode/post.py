"""A dual-mode script with a body (tests/host/test_dual_mode.py).

In-process it is called as main(environ, stdin, stdout); as a CGI process the adapter at
the bottom calls it. It answers 201 with two cookies and the request as the script saw it,
so the test can compare status, repeated headers, environ and body between the runners.
"""

# the variables that do not depend on the server's folder or the client's port
SHOWN = (
    "GATEWAY_INTERFACE",
    "SERVER_SOFTWARE",
    "SERVER_PROTOCOL",
    "SERVER_NAME",
    "REQUEST_METHOD",
    "REQUEST_URI",
    "QUERY_STRING",
    "SCRIPT_NAME",
    "PATH_INFO",
    "CONTENT_LENGTH",
    "CONTENT_TYPE",
    "REDIRECT_STATUS",
    "HTTP_X_TEST",
    "HTTP_COOKIE",
)


def main(environ, stdin, stdout):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = stdin.read(length) if length else b""
    fields = []
    for pair in body.split(b"&"):
        if pair:
            key, _, value = pair.partition(b"=")
            fields.append(key + b" -> " + value)
    fields.sort()
    stdout.write(b"Status: 201 Created\r\n")
    stdout.write(b"Content-Type: text/plain; charset=utf-8\r\n")
    stdout.write(b"Set-Cookie: a=1\r\nSet-Cookie: b=2; Path=/\r\n")
    stdout.write(b"X-Body-Bytes: %d\r\n\r\n" % len(body))
    for name in SHOWN:
        stdout.write(("%s=%s\n" % (name, environ.get(name, "(unset)"))).encode())
    stdout.write(b"fields:\n" + b"\n".join(fields) + b"\n")


# fmt: off
if __name__ == "__main__":
    from microcgi.cgi import run
    run(main)
