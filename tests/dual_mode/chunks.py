"""A dual-mode generator script (tests/host/test_dual_mode.py): main() yields its body in
pieces. In-process the loop resumes it between polls; as a CGI process the adapter writes
each piece to stdout."""


def main(environ, stdin, stdout):
    stdout.write(b"Content-Type: text/plain\r\nX-Pieces: 5\r\n\r\n")
    for i in range(5):
        yield b"piece %d of 5\n" % (i + 1)


# fmt: off
if __name__ == "__main__":
    from microcgi.cgi import run
    run(main)
