# The Linux adapter for dual-mode scripts (SPEC section 8): the same file that
# defines main(environ, stdin, stdout) for the in-process runner also runs as a
# real CGI process when it ends with
#
#     if __name__ == "__main__":
#         from microcgi.cgi import run
#         run(main)
#
# run() builds the arguments from the process's CGI environment and pipes.
# It is never used on a board (no os.environ there).
import os
import sys


def run(main):
    """Call main(environ, stdin, stdout) as a CGI/1.1 process; returns the exit status."""
    environ = dict(os.environ)
    stdin = sys.stdin.buffer
    stdout = sys.stdout.buffer
    result = main(environ, stdin, stdout)
    if result is not None and hasattr(result, "send"):
        for chunk in result:
            if chunk:
                stdout.write(chunk)
    stdout.flush()
    return 0
