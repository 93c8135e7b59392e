"""index.py: the demo site's home page, on Linux and on a board alike (SPEC section 8).

It links every demo whose file is here. On a board, tools/deploy.py leaves out the
shell and PHP scripts (a board has no processes to run them): their cards stay, marked
"Linux only", without a link, so every link of this page works wherever it is served.
"""

from microcgi.script import send_html

# (URL, file under the site, tag, title, what it shows); a tag ending in "Linux only"
# marks a demo a board cannot run
DEMOS = (
    (
        "/cgi-bin/form.py",
        "cgi-bin/form.py",
        "Python · POST",
        "A form",
        "Fields read with <code>microcgi.script.form()</code>, echoed HTML-escaped.",
    ),
    (
        "/cgi-bin/api.py?n=2&amp;n=3.5&amp;n=4",
        "cgi-bin/api.py",
        "Python · JSON",
        "A JSON API",
        'Adds up the query\'s numbers, or a POSTed <code>{"numbers": [...]}</code>.',
    ),
    (
        "/cgi-bin/env.py/extra/path?a=1&amp;b=two%20words",
        "cgi-bin/env.py",
        "Python · environment",
        "The CGI environment",
        "Every variable a script receives, and the body bytes it read.",
    ),
    (
        "/hello.py?name=Ada%20Lovelace",
        "hello.py",
        "Python · query",
        "One script, two runners",
        "<code>main(environ, stdin, stdout)</code>: in-process on a board, CGI on Linux.",
    ),
    (
        "/cgi-bin/uptime.sh",
        "cgi-bin/uptime.sh",
        "Shell · JSON · Linux only",
        "Uptime and load",
        "A POSIX shell script reads <code>/proc</code> and answers with JSON.",
    ),
    (
        "/info.php?lang=en&amp;q=%3Cb%3Ebold%3F%3C%2Fb%3E",
        "info.php",
        "PHP · Linux only",
        "PHP through php-cgi",
        "The PHP version, the method, the query and a form, all escaped.",
    ),
    (
        "/files/",
        "files",
        "Static · listing",
        "A directory listing",
        'A folder without an index: its listing, and <a href="/files/a%20%26%20b.txt">'
        "a &amp; b.txt</a>.",
    ),
)

TOP = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>microcgi · demo site</title>
<link rel="stylesheet" href="/style.css">
</head>
<body>
<main>
<header>
  <h1>micro<span>cgi</span></h1>
  <p class="tagline">A tiny web server with real CGI/1.1, from a microcontroller to a
    Raspberry Pi.</p>
</header>
<p>This page is <code>index.py</code>, one script for a board (in-process) and for Linux
  (a CGI process). Each demo is a script too.</p>
<ul class="grid">
"""

BOTTOM = """</ul>
<footer>Served by microcgi; <code>examples/README.md</code> describes every demo.</footer>
</main>
</body>
</html>
"""


def exists(path):
    try:
        open(path, "rb").close()
        return True
    except OSError:
        return False


def card(demo, folder):
    url, name, tag, title, text = demo
    here = name == "files" or exists(folder + name)
    if here:
        heading = '<a href="%s">%s</a>' % (url, title)
        status = ""
    else:  # left out by deploy: a Linux-only demo on a board
        heading = title
        status = " absent"
        tag += ": not on this server"
    return (
        '  <li class="card%s">\n    <span class="tag">%s</span>\n'
        "    <h3>%s</h3>\n    <p>%s</p>\n  </li>\n" % (status, tag, heading, text)
    )


def main(environ, stdin, stdout):
    script = environ.get("SCRIPT_FILENAME", "index.py")
    folder = script[: script.rfind("/") + 1]  # "" when the name has no folder
    cards = [card(demo, folder) for demo in DEMOS]
    send_html(stdout, TOP + "".join(cards) + BOTTOM, headers=[("Cache-Control", "no-store")])


# The adapter, exactly as SPEC section 8 gives it (kept out of the formatter's reach).
# fmt: off
if __name__ == "__main__":
    from microcgi.cgi import run
    run(main)
