#!/usr/bin/env python3
"""form.py: a classic CGI form handler (RFC 3875), Python 3 standard library only.

GET (and HEAD) shows the form. POST reads exactly CONTENT_LENGTH bytes of an
application/x-www-form-urlencoded body from stdin (RFC 3875 section 4.2: the
script must not read more, and must not count on EOF) and echoes the fields,
HTML-escaped, so `<script>` comes back as text rather than as a script.
"""

import html
import os
import sys
from urllib.parse import parse_qsl

MAX_BODY_BYTES = 64 * 1024  # a name and a message; anything bigger is not from this form
FORM_TYPE = "application/x-www-form-urlencoded"

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · microcgi</title>
<style>
  body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto;
         padding: 0 1rem; color: #1d232b; background: #f7f8fa; }}
  h1 {{ font-size: 1.6rem; }}
  form, .card {{ background: #fff; border: 1px solid #d9dee5; border-radius: 8px;
                padding: 1rem 1.25rem; }}
  label {{ display: block; margin: .6rem 0 .2rem; font-weight: 600; }}
  input, textarea {{ width: 100%; box-sizing: border-box; font: inherit; padding: .4rem;
                    border: 1px solid #b8c0cc; border-radius: 4px; }}
  button {{ margin-top: .8rem; font: inherit; padding: .4rem 1rem; border: 0;
           border-radius: 4px; background: #2458b8; color: #fff; cursor: pointer; }}
  dt {{ font-weight: 600; }}
  dd {{ margin: 0 0 .6rem; white-space: pre-wrap; font-family: ui-monospace, monospace; }}
  .err {{ color: #a11; }}
</style>
</head>
<body>
<h1>{title}</h1>
{content}
<p><a href="/">← back to the demos</a></p>
</body>
</html>
"""

FORM = """<form method="post" action="{action}">
  <label for="name">Name</label>
  <input id="name" name="name" maxlength="100" placeholder="Ada">
  <label for="message">Message</label>
  <textarea id="message" name="message" rows="4"
            placeholder="Try &lt;script&gt;alert(1)&lt;/script&gt;"></textarea>
  <button type="submit">Send</button>
</form>
"""


def respond(status, title, content):
    """Write one complete CGI response (header block, blank line, HTML body) to stdout."""
    body = PAGE.format(title=html.escape(title), content=content).encode("utf-8")
    head = "Content-Type: text/html; charset=utf-8\r\n"
    if status != "200 OK":
        head = "Status: " + status + "\r\n" + head
    if status.startswith("405"):
        head += "Allow: GET, HEAD, POST\r\n"
    sys.stdout.buffer.write(head.encode("ascii") + b"\r\n" + body)
    sys.stdout.buffer.flush()


def error(status, message):
    respond(status, status, '<p class="err">' + html.escape(message) + "</p>")


def read_body(environ, stdin):
    """The request body, exactly CONTENT_LENGTH bytes, or an (status, message) error."""
    raw = environ.get("CONTENT_LENGTH", "")
    if not (raw.isascii() and raw.isdigit()):
        return None, ("400 Bad Request", "CONTENT_LENGTH is missing or not a number.")
    length = int(raw)
    if length > MAX_BODY_BYTES:
        return None, ("413 Content Too Large", "The form data is over 64 KiB.")
    chunks = []
    got = 0
    while got < length:
        chunk = stdin.read(length - got)
        if not chunk:
            return None, ("400 Bad Request", "The body ended before CONTENT_LENGTH bytes.")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks), None


def show_fields(body):
    """The HTML that echoes every submitted field, escaped."""
    fields = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    if not fields:
        return "<p>The form was sent empty.</p>"
    rows = []
    for key, value in fields:
        rows.append("  <dt>" + html.escape(key) + "</dt>\n  <dd>" + html.escape(value) + "</dd>\n")
    return (
        '<div class="card">\n<p>The script received these fields (HTML-escaped):</p>\n<dl>\n'
        + "".join(rows)
        + "</dl>\n</div>\n"
    )


def main():
    environ = os.environ
    method = environ.get("REQUEST_METHOD", "GET")
    action = html.escape(environ.get("SCRIPT_NAME", "form.py"), quote=True)
    if method in ("GET", "HEAD"):
        respond("200 OK", "A form handled by a CGI script", FORM.format(action=action))
        return
    if method != "POST":
        error("405 Method Not Allowed", "This form accepts GET and POST only.")
        return
    ctype = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if ctype != FORM_TYPE:
        error("415 Unsupported Media Type", "Send the form as " + FORM_TYPE + ".")
        return
    body, problem = read_body(environ, sys.stdin.buffer)
    if problem:
        error(*problem)
        return
    respond("200 OK", "You sent", show_fields(body) + FORM.format(action=action))


if __name__ == "__main__":
    main()
