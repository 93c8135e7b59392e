"""The demo site's scripts (examples/www), each run as a real CGI process.

No server here: every script is started the way microcgi's subprocess runner starts
it (SPEC section 5: a wiped environment holding only CGI variables, the script's
folder as working directory, the body on stdin), and its raw output is parsed as a
CGI response (SPEC section 7). The Python demos are dual-mode (issue 12): their main()
is also called in-process, under CPython and under the real MicroPython interpreter
(SPEC section 8). tests/e2e/test_deploy_site.py serves the site on the emulated board.
"""

import ast
import html.parser
import http.client
import importlib.util
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WWW = REPO / "examples" / "www"
CGI_BIN = WWW / "cgi-bin"
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"  # SPEC section 6: the script's whole PATH
FORM_TYPE = "application/x-www-form-urlencoded"
TIMEOUT = 60  # seconds; only there to turn a hang into a failure


# --- running a script as a CGI process ----------------------------------------------


def cgi_environ(script, method="GET", query="", body=None, content_type=None, **extra):
    """The environment microcgi would give `script` (a Path under WWW) for one request."""
    url_path = "/" + script.relative_to(WWW).as_posix()
    env = {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_SOFTWARE": "microcgi/test",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_ADDR": "127.0.0.1",
        "SERVER_PORT": "8080",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "REQUEST_METHOD": method,
        "REQUEST_URI": url_path + ("?" + query if query else ""),
        "QUERY_STRING": query,
        "SCRIPT_NAME": url_path,
        "SCRIPT_FILENAME": str(script),
        "DOCUMENT_ROOT": str(WWW),
        "REDIRECT_STATUS": "200",
        "REQUEST_SCHEME": "http",
        "HTTP_HOST": "127.0.0.1:8080",
        "PATH": SAFE_PATH,
    }
    if body is not None:
        env["CONTENT_LENGTH"] = str(len(body))
    if content_type is not None:
        env["CONTENT_TYPE"] = content_type
    env.update(extra)
    return env


class CGIResponse:
    """A script's raw output split as SPEC section 7 says: header block, blank line, body."""

    def __init__(self, raw):
        self.raw = raw
        match = re.search(rb"\r?\n\r?\n", raw)
        assert match, "no complete header block in %r" % raw[:200]
        self.body = raw[match.end() :]
        self.headers = []
        for line in re.split(rb"\r?\n", raw[: match.start()]):
            name, sep, value = line.partition(b":")
            assert sep and name and name.strip() == name, "malformed header line %r" % line
            self.headers.append((name.decode("ascii").lower(), value.strip().decode("latin-1")))
        names = {name for name, _ in self.headers}
        assert names & {"content-type", "location", "status"}, "no Content-Type/Location/Status"
        status = self.header("status", "200")
        assert re.match(r"[1-5]\d\d( |$)", status), "bogus Status %r" % status
        self.status = int(status[:3])

    def header(self, name, default=None):
        values = [value for key, value in self.headers if key == name]
        assert len(values) <= 1, "repeated %s header" % name
        return values[0] if values else default

    @property
    def text(self):
        return self.body.decode("utf-8")


def run_cgi(argv, env, stdin=b"", cwd=None):
    """Run one CGI process to completion and parse its output; it must exit 0, quietly."""
    proc = subprocess.run(
        argv,
        input=stdin,
        env=env,
        cwd=cwd,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert proc.stderr == b""
    return CGIResponse(proc.stdout)


def run_python(script, stdin=b"", **request):
    """Run a .py script as the default mapping does: the server's Python, then the file."""
    env = cgi_environ(script, **request)
    return run_cgi([sys.executable, script.name], env, stdin, cwd=script.parent)


def post_form(body, stdin=None, **extra):
    """POST `body` to form.py with a matching CONTENT_LENGTH unless `extra` says otherwise."""
    request = {"method": "POST", "body": body, "content_type": FORM_TYPE}
    request.update(extra)
    return run_python(CGI_BIN / "form.py", body if stdin is None else stdin, **request)


# --- the site's shape ------------------------------------------------------------------


def git_modes(paths):
    """{path: mode} as the git index records it, or None outside a git checkout."""
    git = shutil.which("git")
    if git is None:
        return None
    proc = subprocess.run(
        [git, "ls-files", "-s", "--", *paths], cwd=REPO, capture_output=True, check=False
    )
    if proc.returncode != 0:
        return None
    modes = {}
    for line in proc.stdout.decode().splitlines():
        meta, _, path = line.partition("\t")
        modes[path] = meta.split()[0]
    return modes


def test_shell_script_is_executable_on_disk_and_in_git():
    script = CGI_BIN / "uptime.sh"
    assert os.access(script, os.X_OK), "%s has no exec bit" % script
    assert script.read_bytes().startswith(b"#!")
    path = "examples/www/cgi-bin/uptime.sh"
    modes = git_modes([path])
    if modes is None:
        pytest.skip("not a git checkout")
    assert modes.get(path) == "100755", "%s is not committed with its exec bit" % path


ADAPTER = 'if __name__ == "__main__":\n    from microcgi.cgi import run\n    run(main)\n'
PYTHON_DEMOS = ["index.py", "hello.py", "cgi-bin/form.py", "cgi-bin/env.py", "cgi-bin/api.py"]


@pytest.mark.parametrize("name", PYTHON_DEMOS)
def test_python_demos_are_dual_mode_with_what_a_board_has(name):
    """Each ends with the adapter (SPEC section 8) and imports only microcgi.script at its
    top: nothing a board lacks (html, urllib, os.environ)."""
    source = (WWW / name).read_text()
    assert source.endswith("\n" + ADAPTER)
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            assert isinstance(node, ast.ImportFrom) and node.module == "microcgi.script", name
    inner = [n for n in ast.walk(tree.body[-1]) if isinstance(n, ast.ImportFrom)]
    assert [n.module for n in inner] == ["microcgi.cgi"]
    assert not (WWW / name).read_bytes().startswith(b"#!")  # it runs with the server's Python


def test_files_folder_has_no_index_and_the_promised_samples():
    names = sorted(p.name for p in (WWW / "files").iterdir())
    assert not [n for n in names if n.startswith("index.")]
    suffixes = {Path(n).suffix for n in names}
    assert {".txt", ".json", ".svg"} <= suffixes
    assert "a & b.txt" in names
    json.loads((WWW / "files" / "sample.json").read_text())


class LinkCollector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src", "action"):
                self.urls.append(value)


def site_target(url_path):
    """The file or folder a URL path names in the site, allowing extra path after a script."""
    parts = [urllib.parse.unquote(p) for p in url_path.strip("/").split("/") if p]
    for n in range(len(parts), -1, -1):
        target = WWW.joinpath(*parts[:n])
        if target.is_file() or (n == len(parts) and target.is_dir()):
            return target
    return None


def page_links(page):
    collector = LinkCollector()
    collector.feed(page)
    collector.close()
    return collector.urls


def test_home_page_links_every_demo_and_nothing_outside_the_site():
    page = run_python(WWW / "index.py").text
    targets = set()
    for url in page_links(page):
        parsed = urllib.parse.urlsplit(url)
        assert not parsed.scheme and not parsed.netloc, "external URL %r" % url
        assert parsed.path.startswith("/"), url
        target = site_target(parsed.path)
        assert target is not None, "broken link %r" % url
        targets.add(target)
    demos = ["cgi-bin/form.py", "cgi-bin/uptime.sh", "info.php", "cgi-bin/env.py", "hello.py"]
    for demo in demos + ["cgi-bin/api.py", "files", "style.css"]:
        assert WWW / demo in targets, "the home page does not link to %s" % demo
    assert "<script" not in page
    assert page.count("Linux only") == 2 and "not on this server" not in page


def test_home_page_without_the_linux_only_demos_does_not_link_them(tmp_path):
    # what a board has: tools/deploy.py leaves out .sh and .php files
    site = tmp_path / "www"
    shutil.copytree(WWW, site, ignore=shutil.ignore_patterns("*.sh", "*.php"))
    response = run_cgi(
        [sys.executable, "index.py"],
        cgi_environ(WWW / "index.py", SCRIPT_FILENAME=str(site / "index.py")),
        cwd=site,
    )
    links = page_links(response.text)
    assert not [u for u in links if "uptime.sh" in u or "info.php" in u]
    assert "/cgi-bin/form.py" in links and "/files/" in links
    assert response.text.count("Linux only: not on this server") == 2


# --- form.py -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_form_get_shows_a_form_that_posts_to_the_script(method):
    response = run_python(CGI_BIN / "form.py", method=method)
    assert response.status == 200
    assert response.header("content-type") == "text/html; charset=utf-8"
    assert '<form class="card" method="post" action="/cgi-bin/form.py">' in response.text
    assert 'name="name"' in response.text and 'name="message"' in response.text


def test_form_post_echoes_the_fields_escaped():
    body = b"name=Ada+L&message=%3Cscript%3Ealert(%22x%22)%3C%2Fscript%3E+%26+%C3%A9&t=1&t=2"
    response = post_form(body)
    assert response.status == 200
    text = response.text
    assert "<dd>Ada L</dd>" in text
    assert "<dd>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; é</dd>" in text
    assert "<dt>t</dt>\n  <dd>1</dd>\n  <dt>t</dt>\n  <dd>2</dd>" in text  # both values
    assert "<script" not in text


def test_form_post_reads_exactly_content_length_bytes():
    sent = b"name=abc&message=hi"
    response = post_form(sent, stdin=sent + b"&smuggled=yes")
    assert "<dd>hi</dd>" in response.text
    assert "smuggled" not in response.text


def test_form_post_accepts_a_charset_parameter_and_an_empty_body():
    response = post_form(b"", content_type=FORM_TYPE + "; charset=UTF-8")
    assert response.status == 200
    assert "sent empty" in response.text


def test_form_post_without_content_length_is_an_empty_form():
    # RFC 3875 section 4.1.2: no CONTENT_LENGTH, no body
    response = run_python(CGI_BIN / "form.py", b"name=x", method="POST", content_type=FORM_TYPE)
    assert response.status == 200
    assert "sent empty" in response.text


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", " 5", "５"])
def test_form_post_with_a_bad_content_length_is_400(length):
    response = run_python(
        CGI_BIN / "form.py",
        b"name=x&message=y",
        method="POST",
        content_type=FORM_TYPE,
        CONTENT_LENGTH=length,
    )
    assert response.status == 400
    assert response.header("status") == "400 Bad Request"
    assert response.header("content-type") == "text/html; charset=utf-8"
    assert "CONTENT_LENGTH" in response.text


def test_form_post_with_a_body_shorter_than_content_length_is_400():
    response = post_form(b"name=x", CONTENT_LENGTH="100")
    assert response.status == 400
    assert "ended before" in response.text


def test_form_post_over_the_limit_is_413_without_reading_it():
    response = post_form(b"", CONTENT_LENGTH=str(10**9))
    assert response.status == 413


def test_form_post_of_another_content_type_is_415():
    response = post_form(b'{"name": "x"}', content_type="application/json")
    assert response.status == 415


def test_form_other_methods_are_405_with_allow():
    response = run_python(CGI_BIN / "form.py", method="PUT", body=b"x", content_type=FORM_TYPE)
    assert response.status == 405
    assert response.header("allow") == "GET, HEAD, POST"


# --- api.py ---------------------------------------------------------------------------------


def test_api_adds_up_the_query():
    response = run_python(CGI_BIN / "api.py", query="n=2&n=3.5&n=4")
    assert response.status == 200
    assert response.header("content-type") == "application/json"
    assert json.loads(response.body) == {"count": 3, "sum": 9.5, "mean": 9.5 / 3}
    assert json.loads(run_python(CGI_BIN / "api.py").body) == {
        "count": 0,
        "sum": 0,
        "mean": None,
    }


def test_api_adds_up_a_json_body():
    body = b'{"numbers": [1, 2, 3]}'
    response = run_python(
        CGI_BIN / "api.py", body, method="POST", body=body, content_type="application/json"
    )
    assert json.loads(response.body) == {"count": 3, "sum": 6, "mean": 2.0}


@pytest.mark.parametrize(
    ("method", "query", "body", "ctype", "status"),
    [
        ("GET", "n=x", None, None, 400),
        ("POST", "", b"{nope", "application/json", 400),
        ("POST", "", b'{"numbers": ["1"]}', "application/json", 400),
        ("POST", "", b'{"numbers": [true]}', "application/json", 400),
        ("POST", "", b"[1, 2]", "application/json", 400),
        ("POST", "", b"n=1", FORM_TYPE, 415),
        ("POST", "", b"[" + b"1," * 3000 + b"1]", "application/json", 413),
        ("DELETE", "", None, None, 405),
    ],
)
def test_api_answers_bad_input_with_a_json_error(method, query, body, ctype, status):
    request = {"method": method, "query": query, "body": body, "content_type": ctype}
    response = run_python(CGI_BIN / "api.py", body or b"", **request)
    assert response.status == status
    assert response.header("content-type") == "application/json"
    assert json.loads(response.body)["error"]


# --- uptime.sh ----------------------------------------------------------------------------


def run_uptime(via_sh=False, **extra):
    script = CGI_BIN / "uptime.sh"
    env = cgi_environ(script, **extra)
    argv = ["/bin/sh", script.name] if via_sh else [str(script)]
    return run_cgi(argv, env, cwd=script.parent)


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="this machine has no /proc")
@pytest.mark.parametrize("via_sh", [False, True], ids=["shebang", "bin-sh"])
def test_uptime_reports_this_machine_as_json(via_sh):
    response = run_uptime(via_sh)
    assert response.status == 200
    assert response.header("content-type") == "application/json"
    data = json.loads(response.body)
    real_uptime = float(Path("/proc/uptime").read_text().split()[0])
    assert 0 < data["uptime_seconds"] <= real_uptime
    assert set(data["load_average"]) == {"1min", "5min", "15min"}
    for value in data["load_average"].values():
        assert isinstance(value, float) and value >= 0
    assert 1 <= data["tasks"]["running"] <= data["tasks"]["total"]


def test_uptime_reads_proc_exactly(tmp_path):
    (tmp_path / "uptime").write_text("350735.47 234388.90\n")
    (tmp_path / "loadavg").write_text("0.00 1.25 12.50 3/512 1234\n")
    data = json.loads(run_uptime(PROC_ROOT=str(tmp_path)).body)
    assert data == {
        "uptime_seconds": 350735.47,
        "load_average": {"1min": 0.0, "5min": 1.25, "15min": 12.5},
        "tasks": {"running": 3, "total": 512},
    }


@pytest.mark.parametrize(
    "files",
    [{}, {"uptime": "5.0 1.0\n"}, {"uptime": "x y\n", "loadavg": "0.1 0.2 0.3 1/2 3\n"}],
    ids=["no-proc", "no-loadavg", "garbage"],
)
def test_uptime_without_a_usable_proc_is_503_with_a_json_message(tmp_path, files):
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    response = run_uptime(PROC_ROOT=str(tmp_path))
    assert response.status == 503
    assert response.header("content-type") == "application/json"
    assert "/proc" in json.loads(response.body)["error"]


# --- env.py ---------------------------------------------------------------------------------


def parse_env_dump(response):
    """env.py's output as ({KEY: value}, body bytes read, the KEY order)."""
    assert response.header("content-type") == "text/plain; charset=utf-8"
    listing, _, trailer = response.text.partition("\n\n")
    keys = []
    dump = {}
    for line in listing.splitlines():
        key, sep, value = line.partition("=")
        assert sep, line
        keys.append(key)
        dump[key] = value
    match = re.fullmatch(r"# request body: (\d+) bytes read from stdin\n", trailer)
    assert match, trailer
    return dump, int(match.group(1)), keys


def without_coerced_locale(dump):
    """The dump without the LC_CTYPE that Python adds to its own environment under the C
    locale (PEP 538): the adapter shows os.environ, and the server gives no locale."""
    if dump.get("LC_CTYPE") == "C.UTF-8":
        dump = dict(dump)
        del dump["LC_CTYPE"]
    return dump


def test_env_dump_shows_exactly_the_environment_sorted():
    script = CGI_BIN / "env.py"
    response = run_python(script, query="a=1&b=%20", PATH_INFO="/x y", HTTP_X_TEST="<v>")
    dump, read, keys = parse_env_dump(response)
    expected = cgi_environ(script, query="a=1&b=%20", PATH_INFO="/x y", HTTP_X_TEST="<v>")
    assert without_coerced_locale(dump) == expected  # nothing else added, nothing lost
    assert keys == sorted(keys)
    assert read == 0


def test_env_dump_in_process_is_exactly_the_environ_given():
    module = load_demo("cgi-bin/env.py")
    stdout = Collector()
    environ = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "5", "X": "a\nb", "A": "1"}
    module.main(environ, io.BytesIO(b"hello world"), stdout)
    dump, read, keys = parse_env_dump(CGIResponse(stdout.getvalue()))
    assert dump == {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "5", "X": "a\\nb", "A": "1"}
    assert keys == sorted(keys) and read == 5


def test_env_dump_reads_content_length_bytes_of_the_body():
    script = CGI_BIN / "env.py"
    response = run_python(
        script, b"hello world, and more", method="POST", body=b"hello", content_type="text/plain"
    )
    dump, read, _ = parse_env_dump(response)
    assert read == 5
    assert dump["CONTENT_LENGTH"] == "5" and dump["CONTENT_TYPE"] == "text/plain"


def test_env_dump_keeps_one_variable_per_line():
    response = run_python(CGI_BIN / "env.py", HTTP_X_ODD="a\nFAKE=1")
    dump, _, _ = parse_env_dump(response)
    assert dump["HTTP_X_ODD"] == "a\\nFAKE=1"
    assert "FAKE" not in dump


# --- info.php -------------------------------------------------------------------------------

PHP_CGI = shutil.which("php-cgi")
needs_php = pytest.mark.skipif(PHP_CGI is None, reason="php-cgi is not installed")


def run_php(stdin=b"", **request):
    script = WWW / "info.php"
    env = cgi_environ(script, **request)
    return run_cgi([PHP_CGI], env, stdin, cwd=script.parent)


@needs_php
def test_php_page_shows_version_method_and_escaped_query():
    response = run_php(query="x=1&y=%3Cscript%3E%22&a%5B%5D=%3Ci%3E")
    assert response.status == 200
    assert response.header("content-type") == "text/html; charset=utf-8"
    assert response.header("x-powered-by") is None
    text = response.text
    banner = subprocess.run([PHP_CGI, "-v"], capture_output=True, check=True).stdout.decode()
    version = re.match(r"PHP (\S+) ", banner).group(1)
    assert '<td id="php-version">' + version + "</td>" in text
    assert '<td id="method">GET</td>' in text
    assert "<tr><th>x</th><td><code>1</code></td></tr>" in text
    assert "<tr><th>y</th><td><code>&lt;script&gt;&quot;</code></td></tr>" in text
    assert "<code>&lt;i&gt;</code>" in text  # an array parameter, rendered too
    assert "<script" not in text and "<i>" not in text
    assert '<form method="post" action="/info.php?from=form">' in text


@needs_php
def test_php_page_shows_the_posted_fields_escaped():
    body = b"colour=%3Cb%3Ered%3C%2Fb%3E&note=a+%26+b"
    response = run_php(body, method="POST", query="from=form", body=body, content_type=FORM_TYPE)
    text = response.text
    assert '<td id="method">POST</td>' in text
    assert "<tr><th>colour</th><td><code>&lt;b&gt;red&lt;/b&gt;</code></td></tr>" in text
    assert "<tr><th>note</th><td><code>a &amp; b</code></td></tr>" in text
    assert "<tr><th>from</th><td><code>form</code></td></tr>" in text


@needs_php
def test_php_refuses_to_run_without_redirect_status():
    # Why microcgi must set REDIRECT_STATUS (SPEC section 6): without it php-cgi
    # (cgi.force_redirect) answers with an error instead of running the page.
    script = WWW / "info.php"
    env = cgi_environ(script)
    del env["REDIRECT_STATUS"]
    proc = subprocess.run(
        [PHP_CGI], env=env, cwd=WWW, capture_output=True, timeout=TIMEOUT, check=False
    )
    assert b"php-version" not in proc.stdout


# --- hello.py: in-process and as a CGI process -----------------------------------------------


class Collector:
    """A stdout that, like the in-process runner's, accepts bytes only."""

    def __init__(self):
        self.parts = []

    def write(self, data):
        assert isinstance(data, bytes), "main() wrote %r, not bytes" % type(data)
        self.parts.append(data)
        return len(data)

    def getvalue(self):
        return b"".join(self.parts)


def load_demo(name):
    """A demo script as a module, as the in-process runner loads it (not as "__main__")."""
    spec = importlib.util.spec_from_file_location(
        "examples_www_" + name.replace("/", "_")[:-3], WWW / name
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # __name__ is not "__main__": the adapter must not run
    return module


@pytest.fixture(scope="module")
def hello():
    return load_demo("hello.py")


HEAD = b"Content-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\n\r\n"
HELLO_CASES = [
    ("", b"hello world\n"),
    ("name=Ada", b"hello Ada\n"),
    ("name=Ada+Lovelace", b"hello Ada Lovelace\n"),
    ("lang=en&name=Ada%20L%2e", b"hello Ada L.\n"),
    ("name=%E2%9C%93", b"hello \xe2\x9c\x93\n"),
    ("name=100%25&name=second", b"hello 100%\n"),
    ("name=%zz%4", b"hello %zz%4\n"),
    ("name=", b"hello world\n"),
    ("name=a%0D%0AX-Evil:%201", b"hello aX-Evil: 1\n"),
    ("name=" + "%C3%A9" * 50, b"hello " + b"\xc3\xa9" * 40 + b"\n"),
]


@pytest.mark.parametrize(("query", "expected"), HELLO_CASES)
def test_hello_main_in_process(hello, query, expected):
    stdout = Collector()
    result = hello.main({"QUERY_STRING": query, "REQUEST_METHOD": "GET"}, io.BytesIO(), stdout)
    assert result is None
    assert stdout.getvalue() == HEAD + expected


def test_hello_refuses_a_name_that_is_not_utf8(hello):
    stdout = Collector()
    hello.main({"QUERY_STRING": "name=%FF", "REQUEST_METHOD": "GET"}, io.BytesIO(), stdout)
    assert stdout.getvalue().startswith(b"Status: 400 Bad Request\r\n")


def find_micropython():
    here = Path(sys.executable).parent / "micropython"
    return str(here) if here.exists() else shutil.which("micropython")


MICROPYTHON = find_micropython()

MPY_DRIVER = """
import sys, io
sys.path.insert(0, %r)
sys.path.insert(0, %r)
import hello
class Out:
    def __init__(self):
        self.parts = []
    def write(self, data):
        assert isinstance(data, bytes)
        self.parts.append(data)
for query in %r:
    out = Out()
    hello.main({"QUERY_STRING": query}, io.BytesIO(b""), out)
    sys.stdout.write(repr(b"".join(out.parts)) + "\\n")
"""


@pytest.mark.skipif(MICROPYTHON is None, reason="no micropython interpreter")
def test_hello_main_under_micropython():
    queries = [query for query, _ in HELLO_CASES]
    proc = subprocess.run(
        [MICROPYTHON, "-c", MPY_DRIVER % (str(REPO / "firmware"), str(WWW), queries)],
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = [ast.literal_eval(line) for line in proc.stdout.decode().splitlines()]
    assert got == [HEAD + expected for _, expected in HELLO_CASES]


def adapter_available():
    firmware = str(REPO / "firmware")
    sys.path.insert(0, firmware)
    try:
        return importlib.util.find_spec("microcgi.cgi") is not None
    except ImportError:
        return False
    finally:
        sys.path.remove(firmware)


@pytest.mark.skipif(not adapter_available(), reason="firmware/microcgi/cgi.py not written yet")
def test_hello_runs_as_a_cgi_process_through_the_adapter():
    script = WWW / "hello.py"
    # The server's own Python finds microcgi because it is installed there; a bare
    # interpreter needs PYTHONPATH.
    env = cgi_environ(script, query="name=Grace%20H", PYTHONPATH=str(REPO / "firmware"))
    response = run_cgi([sys.executable, script.name], env, cwd=script.parent)
    assert response.raw == HEAD + b"hello Grace H\n"


# --- the whole site through a real server: what `make run` shows ------------------------------


def server_available():
    try:
        return importlib.util.find_spec("microcgi_host.cli") is not None
    except ImportError:
        return False


@pytest.fixture
def site(tmp_path):
    """`microcgi serve examples/www` with the default CGI mapping, on a port the OS picks.

    One server per test, so a server that dies fails only the test that killed it.
    """
    if not server_available():
        pytest.skip("the microcgi command line (host/cli.py) is not importable")
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "microcgi", "serve", str(WWW)]
            + ["--host", "127.0.0.1", "--port", "0"],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield "127.0.0.1", wait_for_port(proc, log)
        # Bad input never kills the server (SPEC section 3); if it died, say why.
        assert proc.poll() is None, "the server died: " + log.read_text(errors="replace")
    finally:
        proc.terminate()
        try:
            proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for_port(proc, log):
    """The port from the server's start line (SPEC section 2), waiting for it to appear."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        match = re.search(rb"listening on http://127\.0\.0\.1:(\d+)/", log.read_bytes())
        if match:
            return int(match.group(1))
        if proc.poll() is not None:
            pytest.fail("the server exited: %s" % log.read_text(errors="replace"))
        time.sleep(0.05)
    pytest.fail("no start line within %d s: %s" % (TIMEOUT, log.read_text(errors="replace")))


def fetch(site, method, target, body=None, headers=None):
    """One request on a fresh connection; returns (status, {lower-name: value}, body)."""
    conn = http.client.HTTPConnection(*site, timeout=TIMEOUT)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        return (
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            response.read(),
        )
    finally:
        conn.close()


def test_site_serves_the_home_page(site):
    status, headers, body = fetch(site, "GET", "/")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert b"<h1>micro<span>cgi</span></h1>" in body
    status, headers, body = fetch(site, "GET", "/style.css")
    assert status == 200 and headers["content-type"].startswith("text/css")


def test_site_form_round_trip_escapes(site):
    status, _, body = fetch(site, "GET", "/cgi-bin/form.py")
    assert status == 200 and b'action="/cgi-bin/form.py"' in body
    form = b"name=Ada&message=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
    status, headers, body = fetch(
        site, "POST", "/cgi-bin/form.py", form, {"Content-Type": FORM_TYPE}
    )
    assert status == 200
    assert headers["content-length"] == str(len(body))
    assert b"<dd>&lt;script&gt;alert(1)&lt;/script&gt;</dd>" in body
    assert b"<script" not in body


def test_site_form_post_without_a_body_is_an_empty_form(site):
    # No Content-Length and no chunked framing: no body, so no CONTENT_LENGTH (SPEC
    # section 6), which the script reads as an empty form. (http.client would add
    # "Content-Length: 0", hence the raw socket.)
    request = (
        b"POST /cgi-bin/form.py HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: " + FORM_TYPE.encode() + b"\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(site, timeout=TIMEOUT) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    response = b"".join(chunks)
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"The form was sent empty." in response


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="this machine has no /proc")
def test_site_uptime_is_json(site):
    status, headers, body = fetch(site, "GET", "/cgi-bin/uptime.sh")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["uptime_seconds"] > 0


@needs_php
def test_site_php_page(site):
    status, _, body = fetch(site, "GET", "/info.php?q=%3Cb%3Ehi")
    assert status == 200
    assert b"<tr><th>q</th><td><code>&lt;b&gt;hi</code></td></tr>" in body
    assert b"<?php" not in body


def test_site_env_dump_shows_the_cgi_environment(site):
    status, _, body = fetch(site, "GET", "/cgi-bin/env.py/extra/path?a=1&b=%20")
    assert status == 200
    dump = dict(line.split("=", 1) for line in body.decode().partition("\n\n")[0].splitlines())
    assert "HTTP_HOST" in dump and "SERVER_SOFTWARE" in dump
    assert dump["PATH_INFO"] == "/extra/path"
    assert dump["SCRIPT_NAME"] == "/cgi-bin/env.py"
    assert dump["QUERY_STRING"] == "a=1&b=%20"
    assert dump["PATH"] == SAFE_PATH
    assert dump["GATEWAY_INTERFACE"] == "CGI/1.1"


def test_site_hello_runs_through_the_adapter(site):
    if not adapter_available():
        pytest.skip("firmware/microcgi/cgi.py not written yet")
    status, headers, body = fetch(site, "GET", "/hello.py?name=Ada%20L")
    assert status == 200
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert body == b"hello Ada L\n"


def test_site_json_api(site):
    status, headers, body = fetch(site, "GET", "/cgi-bin/api.py?n=2&n=3.5&n=4")
    assert (status, headers["content-type"]) == (200, "application/json")
    assert json.loads(body)["sum"] == 9.5
    payload = b'{"numbers": [1, 2]}'
    status, _, body = fetch(
        site, "POST", "/cgi-bin/api.py", payload, {"Content-Type": "application/json"}
    )
    assert (status, json.loads(body)) == (200, {"count": 2, "sum": 3, "mean": 1.5})
    status, _, body = fetch(
        site, "POST", "/cgi-bin/api.py", b"{", {"Content-Type": "application/json"}
    )
    assert (status, json.loads(body)) == (400, {"error": "the body is not valid JSON"})


def test_site_lists_the_files_folder_with_escaped_names(site):
    status, headers, _ = fetch(site, "GET", "/files")
    assert status == 301
    assert headers["location"].endswith("/files/")
    status, _, body = fetch(site, "GET", "/files/")
    assert status == 200
    assert b"a &amp; b.txt" in body and b"a & b.txt" not in body
    assert b"a%20%26%20b.txt" in body
    for name in (b"notes.txt", b"sample.json", b"logo.svg"):
        assert name in body
    status, _, body = fetch(site, "GET", "/files/a%20%26%20b.txt")
    assert status == 200
    assert body == (WWW / "files" / "a & b.txt").read_bytes()
