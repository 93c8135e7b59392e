"""hello.py: one script, two runners (SPEC section 8).

On a board (or with `--runner inprocess`) microcgi imports this module and calls
main(environ, stdin, stdout) in its own process. On Linux the subprocess runner
executes the file with Python, and the adapter at the bottom turns the real CGI
process (os.environ, stdin, stdout) into the same three arguments.

microcgi.script (the helpers for scripts) decodes the query string the same way in
both: `+` and `%XX`, as UTF-8.

Try /hello.py?name=Ada%20Lovelace or /hello.py?name=%E2%9C%93
"""

from microcgi.script import BadRequest, query, send

MAX_NAME = 40  # characters: a greeting, not an upload


def main(environ, stdin, stdout):
    try:
        name = query(environ).get("name", "")
    except BadRequest as e:  # not UTF-8
        send(stdout, "hello: %s\n" % e, e.status)
        return
    # Control characters would let a visitor draw on someone else's terminal; drop them.
    name = "".join(c for c in name if c >= " " and c != "\x7f").strip()[:MAX_NAME]
    send(stdout, "hello %s\n" % (name or "world"), headers=[("Cache-Control", "no-store")])


# The adapter, exactly as SPEC section 8 gives it (kept out of the formatter's reach).
# fmt: off
if __name__ == "__main__":
    from microcgi.cgi import run
    run(main)
