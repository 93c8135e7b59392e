"""index.py: the demo site's home page, on Linux and on a board alike (SPEC section 8).

It links every demo whose file is here. On a board, tools/deploy.py leaves out the
shell and PHP scripts (a board has no processes to run them): their cards stay, marked
"Linux only", without a link, so every link of this page works wherever it is served.
"""

from microcgi.script import send_html

# (URL, file under the site, tag, title, what it shows); tags ending in "Linux only"
# mark the demos a board cannot run
DEMOS = (
    (
        "/cgi-bin/form.py",
        "cgi-bin/form.py",
        "Python · POST",
        "A form",
        "Shows a form, reads the POST body (exactly <code>CONTENT_LENGTH</code> bytes) with "
        "<code>microcgi.script.form()</code> and echoes the fields, HTML-escaped: type "
        "<code>&lt;script&gt;</code> and it comes back as text.",
    ),
    (
        "/cgi-bin/api.py?n=2&amp;n=3.5&amp;n=4",
        "cgi-bin/api.py",
        "Python · JSON",
        "A JSON API",
        "Adds up the numbers of the query (<code>?n=2&amp;n=3</code>) or of a JSON body "
        'POSTed to it (<code>{"numbers": [1, 2]}</code>); bad input gets a JSON error and '
        "its status.",
    ),
    (
        "/cgi-bin/env.py/extra/path?a=1&amp;b=two%20words",
        "cgi-bin/env.py",
        "Python · environment",
        "The CGI environment",
        "Every variable the script receives, sorted, and the number of body bytes it read. "
        "The link adds extra path: see <code>PATH_INFO</code>.",
    ),
    (
        "/hello.py?name=Ada%20Lovelace",
        "hello.py",
        "Python · query",
        "One script, two runners",
        "<code>hello.py</code> defines <code>main(environ, stdin, stdout)</code>: a board "
        "calls it in-process, Linux runs it as a CGI process through a two-line adapter.",
    ),
    (
        "/cgi-bin/uptime.sh",
        "cgi-bin/uptime.sh",
        "Shell · JSON · Linux only",
        "Uptime and load",
        "A POSIX shell script reads <code>/proc/uptime</code> and <code>/proc/loadavg</code> "
        "and answers with <code>application/json</code>.",
    ),
    (
        "/info.php?lang=en&amp;q=%3Cb%3Ebold%3F%3C%2Fb%3E",
        "info.php",
        "PHP · Linux only",
        "PHP through php-cgi",
        "The PHP version, the request method, the query parameters and a form that posts back "
        "to the page, everything escaped with <code>htmlspecialchars</code>.",
    ),
    (
        "/files/",
        "files",
        "Static · listing",
        "A directory listing",
        "A folder without an index file, so the server lists it, names escaped; one file is "
        'called <a href="/files/a%20%26%20b.txt">a &amp; b.txt</a>.',
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
  <p class="tagline">A tiny single-threaded web server with real CGI/1.1, from a
    microcontroller to a Raspberry Pi.</p>
</header>
<p>microcgi serves static files and runs CGI scripts as RFC&nbsp;3875 describes them. Its
  core is written in the subset of Python that MicroPython and CPython share, so the same
  server runs on an ESP32 or a Pico&nbsp;W (scripts run in-process) and on Linux (each
  script runs as its own process: shell, Python, PHP, anything with a shebang).</p>
<p>This page is made by <code>index.py</code>, one script for both: every demo below is
  a script too, run when you follow its link.</p>
<h2>The demos</h2>
<ul class="grid">
"""

BOTTOM = """</ul>
<h2>What to look at</h2>
<ul class="facts">
  <li>Every response has a correct <code>Content-Length</code>, so the connection stays
    open (keep-alive) even after a script has run.</li>
  <li>A script decides its status: POST a form without a body, or JSON that is not JSON,
    and it answers <code>400 Bad Request</code>.</li>
  <li>The Python demos import <code>microcgi.script</code>: the query, forms, JSON bodies
    and responses, the same on a board and on Linux.</li>
</ul>
<footer>Served by microcgi from <code>examples/www/</code>; <code>examples/README.md</code>
  in the repository describes every demo.</footer>
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
