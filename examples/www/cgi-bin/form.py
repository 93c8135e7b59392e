"""form.py: a form handled by a script, on Linux and on a board alike (SPEC section 8).

GET (and HEAD) shows the form. POST reads exactly CONTENT_LENGTH bytes of an
application/x-www-form-urlencoded body (RFC 3875 section 4.2: a script must not read
more, and must not count on EOF) with microcgi.script.form(), and echoes the fields
HTML-escaped, so `<script>` comes back as text rather than as a script. Wrong input
gets its status: 400 (a bad CONTENT_LENGTH, a body cut short), 413 (over 16 KiB),
415 (another content type), 405 (another method, with Allow).
"""

from microcgi.script import BadRequest, escape, form, send_html

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%s · microcgi</title>
<link rel="stylesheet" href="/style.css">
</head>
<body>
<main>
<h1>%s</h1>
%s
<p><a href="/">← back to the demos</a></p>
</main>
</body>
</html>
"""

FORM = """<form class="card" method="post" action="%s">
  <label for="name">Name</label>
  <input id="name" name="name" maxlength="100" placeholder="Ada">
  <label for="message">Message</label>
  <textarea id="message" name="message" rows="4"
            placeholder="Try &lt;script&gt;alert(1)&lt;/script&gt;"></textarea>
  <button type="submit">Send</button>
</form>
"""


def page(stdout, status, title, content, headers=None):
    send_html(stdout, PAGE % (escape(title), escape(title), content), status, headers)


def echo(fields):
    """The HTML that shows every submitted field, escaped (a repeated name: each value)."""
    if not fields:
        return "<p>The form was sent empty.</p>\n"
    rows = []
    for name in sorted(fields):
        for value in fields.getlist(name):
            rows.append("  <dt>%s</dt>\n  <dd>%s</dd>\n" % (escape(name), escape(value)))
    return (
        '<div class="card">\n<p>The script received these fields (HTML-escaped):</p>\n<dl>\n'
        + "".join(rows)
        + "</dl>\n</div>\n"
    )


def main(environ, stdin, stdout):
    method = environ.get("REQUEST_METHOD", "GET")
    action = FORM % escape(environ.get("SCRIPT_NAME", "form.py"))
    if method in ("GET", "HEAD"):
        page(stdout, 200, "A form handled by a script", action)
        return
    if method != "POST":
        message = '<p class="err">This form accepts GET and POST only.</p>'
        page(stdout, 405, "Method Not Allowed", message, [("Allow", "GET, HEAD, POST")])
        return
    try:
        fields = form(environ, stdin)
    except BadRequest as e:
        page(stdout, e.status, "Not accepted", '<p class="err">%s.</p>' % escape(e))
        return
    page(stdout, 200, "You sent", echo(fields) + action)


# The adapter, exactly as SPEC section 8 gives it (kept out of the formatter's reach).
# fmt: off
if __name__ == "__main__":
    from microcgi.cgi import run
    run(main)
