"""`microcgi serve --runner inprocess` on CPython (SPEC 8): Python modules run in-process.

The in-process runner calls main(environ, stdin, stdout) of a site's .py modules inside
the server process, as a board does. A script of another kind (.sh, .php) cannot run that
way: it gets a 500 and a line in the error log, never compiled as Python, and its source
is never served.
"""

from helpers import request

HELLO = """
def main(environ, stdin, stdout):
    body = stdin.read()
    stdout.write(b"Content-Type: text/plain\\r\\n\\r\\n")
    stdout.write(("%s %s [%s]" % (environ["REQUEST_METHOD"], environ["QUERY_STRING"],
                                  body.decode())).encode())
"""

SHELL = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nSECRET shell\\n'\n"


def make_site(root):
    root.mkdir()
    (root / "hello.py").write_text(HELLO)
    cgi = root / "cgi-bin"
    cgi.mkdir()
    (cgi / "hi.sh").write_text(SHELL)
    (cgi / "hi.sh").chmod(0o755)
    return root


def test_python_module_runs_in_process(serve, tmp_path):
    server = serve(make_site(tmp_path / "www"), "--runner", "inprocess")
    status, _, body = request(server.port, "GET", "/hello.py?name=Ada")
    assert (status, body) == (200, b"GET name=Ada []")
    status, _, body = request(server.port, "POST", "/hello.py?x=1", body=b"a=b")
    assert (status, body) == (200, b"POST x=1 [a=b]")


def test_shell_script_is_500_not_python(serve, tmp_path):
    server = serve(make_site(tmp_path / "www"), "--runner", "inprocess")
    status, _, body = request(server.port, "GET", "/cgi-bin/hi.sh")
    assert status == 500
    assert b"SECRET" not in body
    assert server.wait_for("in-process scripts are Python modules (.py)")
    assert "SyntaxError" not in server.stderr_text()
    # and the server goes on serving
    status, _, body = request(server.port, "GET", "/hello.py?again")
    assert (status, body) == (200, b"GET again []")
