"""Real CGI programs that nobody here wrote, run unmodified (issue 10): git's smart HTTP
(git-http-backend) through --alias, a Perl CGI.pm form, a PHP app through php-cgi, and
gitweb. Real server processes, real clients (git, curl, urllib with a cookie jar).

Each test skips, saying why, when its program is missing; `make test` installs them on
Debian (scripts/setup.sh --system-deps). The command lines match docs/cgi.md, "Running
existing CGI programs".
"""

import functools
import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import helpers
import pytest

MiB = 1024 * 1024
RUN_TIMEOUT = 300  # seconds for one client command on a loaded machine (not asserted)
request = functools.partial(helpers.request, timeout=60)


def run(argv, what, server=None, **kwargs):
    """argv run to completion; an AssertionError with its output (and the server's
    error log) when it fails."""
    kwargs.setdefault("timeout", RUN_TIMEOUT)
    proc = subprocess.run(argv, capture_output=True, **kwargs)
    if proc.returncode != 0:
        log = server.stderr_text() if server is not None else ""
        raise AssertionError(
            "%s failed (exit %d): %s\n--- stdout ---\n%s\n--- stderr ---\n%s"
            "\n--- server log ---\n%s"
            % (
                what,
                proc.returncode,
                " ".join(map(str, argv)),
                _text(proc.stdout)[-3000:],
                _text(proc.stderr)[-3000:],
                log[-3000:],
            )
        )
    return proc


def _text(data):
    return data.decode(errors="replace") if isinstance(data, bytes) else data or ""


def need_curl():
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl not installed (apt-get install curl)")
    return curl


# --- git smart HTTP (git-http-backend) ------------------------------------------------


def git_backend():
    git = shutil.which("git")
    if git is None:
        pytest.skip("git not installed (apt-get install git)")
    exec_path = subprocess.run([git, "--exec-path"], capture_output=True, text=True).stdout
    for folder in (exec_path.strip(), "/usr/lib/git-core"):
        backend = os.path.join(folder, "git-http-backend")
        if folder and os.access(backend, os.X_OK):
            return backend
    pytest.skip("git-http-backend not found (git --exec-path: %r)" % exec_path.strip())


class GitSite:
    """A bare repository proj.git (two commits on main) under tmp_path/repos, a client
    git with a HOME of its own, and start() for a server running git-http-backend at /git
    (the command line of docs/cgi.md)."""

    def __init__(self, serve, tmp_path):
        self.backend = git_backend()
        self.serve = serve
        self.tmp = tmp_path
        home = tmp_path / "home"
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            GIT_CONFIG_NOSYSTEM="1",
            GIT_TERMINAL_PROMPT="0",
            LC_ALL="C",
        )
        self.env = env
        self.server = None
        self.git("config", "--global", "user.name", "Test User")
        self.git("config", "--global", "user.email", "test@example.com")
        self.git("config", "--global", "init.defaultBranch", "main")
        self.repos = tmp_path / "repos"
        self.bare = self.repos / "proj.git"
        self.git("init", "-q", "--bare", str(self.bare))
        self.seed = tmp_path / "seed"  # commits reach the bare repository from here by file
        self.git("clone", "-q", str(self.bare), str(self.seed))
        self.commit(self.seed, "a.txt", "one\n")
        self.commit(self.seed, "b.txt", "two\n")
        self.git("push", "-q", "origin", "main", cwd=self.seed)

    def git(self, *args, cwd=None, env=None):
        """git ARGS; its CompletedProcess (text), or AssertionError with the logs."""
        full = dict(self.env, **(env or {}))
        return run(
            ["git", *map(str, args)],
            "git " + str(args[0]),
            self.server,
            cwd=cwd,
            env=full,
            text=True,
        )

    def failing(self, *args, cwd):
        """git ARGS that must fail; its CompletedProcess (text), stderr to look at."""
        proc = subprocess.run(
            ["git", *map(str, args)],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
        assert proc.returncode != 0, proc.stdout + proc.stderr
        return proc

    def commit(self, work, name, data):
        path = work / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)
        self.git("add", name, cwd=work)
        self.git("commit", "-q", "-m", "add " + name, cwd=work)
        return self.rev(work, "HEAD")

    def rev(self, where, ref):
        return self.git("rev-parse", ref, cwd=where).stdout.strip()

    def start(self, *args):
        www = self.tmp / "www"
        www.mkdir(exist_ok=True)
        self.server = self.serve(
            www,
            "--alias",
            "/git=" + self.backend,
            "--env",
            "GIT_PROJECT_ROOT=%s" % self.repos,
            "--env",
            "GIT_HTTP_EXPORT_ALL=1",
            *args,
        )
        self.url = self.server.url("/git/proj.git")
        return self.server

    def fsck(self):
        self.git("fsck", "--full", "--strict", cwd=self.bare)


@pytest.fixture
def site(serve, tmp_path):
    return GitSite(serve, tmp_path)


@pytest.mark.parametrize("version", ["0", "2"])
def test_git_clone(site, version):
    site.start()
    out = site.tmp / "clone"
    proc = site.git(
        "-c", "protocol.version=" + version, "clone", site.url, out, env={"GIT_TRACE_PACKET": "1"}
    )
    # The protocol asked for is the one spoken (v2 announces itself in its first packet).
    assert ("git< version 2" in proc.stderr) == (version == "2"), proc.stderr[-2000:]
    assert site.rev(out, "HEAD") == site.rev(site.bare, "main")
    assert (out / "a.txt").read_text() == "one\n"
    assert (out / "b.txt").read_text() == "two\n"
    site.git("fsck", "--full", cwd=out)


def test_git_shallow_clone(site):
    site.start()
    out = site.tmp / "clone"
    site.git("clone", "--depth", "1", site.url, out)
    assert site.git("rev-list", "--count", "HEAD", cwd=out).stdout.strip() == "1"
    assert (out / ".git" / "shallow").read_text().strip() == site.rev(site.bare, "main")
    assert (out / "b.txt").read_text() == "two\n"


@pytest.mark.parametrize("version", ["0", "2"])
def test_git_fetch_after_new_commit_upstream(site, version):
    site.start()
    out = site.tmp / "clone"
    site.git("-c", "protocol.version=" + version, "clone", site.url, out)
    new = site.commit(site.seed, "c.txt", "three\n")
    site.git("push", "-q", "origin", "main", cwd=site.seed)
    site.git("-c", "protocol.version=" + version, "fetch", cwd=out)
    assert site.rev(out, "origin/main") == new
    site.git("merge", "-q", "--ff-only", "origin/main", cwd=out)
    assert (out / "c.txt").read_text() == "three\n"


def test_git_push_with_receivepack(site):
    site.git("config", "http.receivepack", "true", cwd=site.bare)
    site.start()
    out = site.tmp / "clone"
    site.git("clone", site.url, out)
    new = site.commit(out, "c.txt", "pushed\n")
    site.git("push", "origin", "main", cwd=out)
    assert site.rev(site.bare, "main") == new
    site.fsck()


def test_git_push_refused_without_receivepack_or_remote_user(site):
    """git-http-backend's own rule: anonymous push is off unless the repository allows it
    (without --auth, microcgi sets no REMOTE_USER; tests/e2e/test_auth.py pushes with it)."""
    site.start()
    out = site.tmp / "clone"
    site.git("clone", site.url, out)
    before = site.rev(site.bare, "main")
    site.commit(out, "c.txt", "refused\n")
    proc = site.failing("push", "origin", "main", cwd=out)
    assert "403" in proc.stderr, proc.stderr
    assert site.rev(site.bare, "main") == before


def test_git_push_with_remote_user_from_env(site):
    """--env REMOTE_USER=NAME lets git-http-backend take pushes without
    http.receivepack (anyone who can reach the server can push: no authentication)."""
    site.git("config", "core.logAllRefUpdates", "true", cwd=site.bare)
    site.start("--env", "REMOTE_USER=alice")
    out = site.tmp / "clone"
    site.git("clone", site.url, out)
    new = site.commit(out, "c.txt", "pushed\n")
    site.git("push", "origin", "main", cwd=out)
    assert site.rev(site.bare, "main") == new
    reflog = site.git("reflog", "show", "--format=%gn", "-n1", "main", cwd=site.bare)
    assert reflog.stdout.strip() == "alice"
    site.fsck()


def test_git_push_large_chunked_then_clone(site):
    """21 MiB of incompressible data with http.postBuffer=64 KiB: git sends the pack as a
    chunked request body (the trace shows it), which the server spools to a file before
    the backend starts; then a clone streams the pack back, far past --buffer-output."""
    site.git("config", "http.receivepack", "true", cwd=site.bare)
    site.start("--max-body", str(64 * MiB))
    out = site.tmp / "clone"
    site.git("clone", site.url, out)
    data = os.urandom(21 * MiB)
    new = site.commit(out, "big.bin", data)
    trace = site.tmp / "curl.trace"
    site.git(
        "-c",
        "http.postBuffer=65536",
        "push",
        "origin",
        "main",
        cwd=out,
        env={"GIT_TRACE_CURL": str(trace), "GIT_TRACE_CURL_NO_DATA": "1"},
    )
    sent = trace.read_text(errors="replace")
    assert re.search(r"Send header: POST /git/proj\.git/git-receive-pack", sent)
    assert "Send header: Transfer-Encoding: chunked" in sent
    assert site.rev(site.bare, "main") == new
    site.fsck()
    again = site.tmp / "again"
    site.git("clone", site.url, again)
    assert site.rev(again, "HEAD") == new
    got = (again / "big.bin").read_bytes()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


def test_git_push_over_max_body_is_413(site):
    """The default --max-body (16 MiB) refuses a larger push with 413, which git reports
    (docs/cgi.md says to raise --max-body for large pushes)."""
    site.git("config", "http.receivepack", "true", cwd=site.bare)
    site.start()
    out = site.tmp / "clone"
    site.git("clone", site.url, out)
    before = site.rev(site.bare, "main")
    site.commit(out, "big.bin", os.urandom(17 * MiB))
    proc = site.failing("-c", "http.postBuffer=65536", "push", "origin", "main", cwd=out)
    assert "413" in proc.stderr, proc.stderr
    assert site.rev(site.bare, "main") == before
    site.fsck()


# --- Perl CGI.pm ------------------------------------------------------------------------

FORM_CGI = r"""#!PERL
use strict;
use warnings;
use CGI;
use Digest::MD5 qw(md5_hex);

my $q = CGI->new;
my $name = $q->param('name') // '';
my $cookie = $q->cookie(-name => 'seen', -value => $name, -path => '/', -expires => '+1h');
print $q->header(-type => 'text/plain', -charset => 'utf-8', -cookie => $cookie);
print "method=", $q->request_method, "\n";
print "name=$name\n";
print "n=$_\n" for $q->multi_param('n');
print "cookie=", ($q->cookie('seen') // ''), "\n";
my $fh = $q->upload('file');
if ($fh) {
    binmode $fh;
    local $/;
    my $data = <$fh>;
    printf "file=%s size=%d md5=%s\n", scalar($q->param('file')), length($data), md5_hex($data);
}
"""


def form_cgi(folder):
    """folder/form.cgi (CGI.pm), executable; skips when perl or CGI.pm is missing."""
    perl = shutil.which("perl")
    if perl is None:
        pytest.skip("perl not installed")
    if subprocess.run([perl, "-MCGI", "-e1"], capture_output=True).returncode != 0:
        pytest.skip("Perl's CGI.pm not installed (apt-get install libcgi-pm-perl)")
    folder.mkdir(exist_ok=True)
    script = folder / "form.cgi"
    script.write_text(FORM_CGI.replace("PERL", perl, 1))
    script.chmod(0o755)
    return script


@pytest.fixture
def perl_cgi(serve, tmp_path):
    """A server for tmp_path/www with form.cgi (CGI.pm) in it."""
    form_cgi(tmp_path / "www")
    return serve(tmp_path / "www")


def test_perl_cgi_get(perl_cgi):
    status, headers, body = request(perl_cgi.port, "GET", "/form.cgi?name=bob&n=2&n=1")
    assert status == 200, (headers, body, perl_cgi.stderr_text())
    assert headers["content-type"] == ["text/plain; charset=utf-8"]
    assert body.decode() == "method=GET\nname=bob\nn=2\nn=1\ncookie=\n"
    (cookie,) = headers["set-cookie"]
    assert cookie.startswith("seen=bob; path=/; expires=")


def test_perl_cgi_post_form_and_cookie(perl_cgi):
    status, headers, body = request(
        perl_cgi.port,
        "POST",
        "/form.cgi",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": "seen=bob; other=1",
        },
        body=b"name=J%C3%BCrgen+M&n=5",
    )
    assert status == 200, (headers, body, perl_cgi.stderr_text())
    assert body.decode() == "method=POST\nname=J\u00fcrgen M\nn=5\ncookie=bob\n"


def test_perl_cgi_through_alias(serve, tmp_path):
    """A CGI outside ROOT (/usr/lib/cgi-bin style) through --alias, PATH_INFO below it."""
    script = form_cgi(tmp_path / "cgi-bin")
    (tmp_path / "www").mkdir()
    server = serve(tmp_path / "www", "--alias", "/form=%s" % script)
    status, headers, body = request(server.port, "GET", "/form/x/y?name=al")
    assert status == 200, (headers, body, server.stderr_text())
    assert body.decode() == "method=GET\nname=al\ncookie=\n"
    status, headers, body = request(server.port, "GET", "/cgi-bin/form.cgi")
    assert status == 404


def test_perl_cgi_multipart_upload(perl_cgi, tmp_path):
    curl = need_curl()
    data = os.urandom(300 * 1024)  # past the 64 KiB the server holds per connection
    upload = tmp_path / "photo.bin"
    upload.write_bytes(data)
    proc = run(
        [curl, "-sS", "-F", "name=ann", "-F", "file=@%s" % upload, perl_cgi.url("/form.cgi")],
        "curl -F",
        perl_cgi,
    )
    assert proc.stdout.decode() == (
        "method=POST\nname=ann\ncookie=\nfile=photo.bin size=%d md5=%s\n"
        % (len(data), hashlib.md5(data).hexdigest())
    )


def test_perl_cgi_one_date_header(perl_cgi):
    status, headers, _ = request(perl_cgi.port, "GET", "/form.cgi?name=bob")
    assert status == 200
    assert len(headers["date"]) == 1, headers["date"]
    assert len(headers["server"]) == 1, headers["server"]


# --- a PHP app through php-cgi -----------------------------------------------------------

PHP_APP = {
    # sessions in the app's own folder, so that the test leaves nothing behind
    "index.php": """<?php
session_save_path(dirname(__DIR__) . '/sessions');
session_start();
$_SESSION['visits'] = ($_SESSION['visits'] ?? 0) + 1;
header('Content-Type: text/plain');
echo 'visits=', $_SESSION['visits'], "\\n";
echo 'user=', $_SESSION['user'] ?? '', "\\n";
""",
    # a POST form that redirects (Post/Redirect/Get)
    "login.php": """<?php
session_save_path(dirname(__DIR__) . '/sessions');
session_start();
if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    $_SESSION['user'] = $_POST['user'] ?? '';
    header('Location: /');
    exit;
}
echo '<form method="post"><input name="user"></form>';
""",
    "upload.php": """<?php
header('Content-Type: text/plain');
$f = $_FILES['file'] ?? null;
if ($f === null || $f['error'] !== UPLOAD_ERR_OK) {
    http_response_code(400);
    exit("no file\\n");
}
printf("%s %d %s %s\\n", $f['name'], $f['size'], sha1_file($f['tmp_name']), $_POST['note'] ?? '');
""",
    "big.php": """<?php
$n = intval($_GET['n'] ?? 0);
for ($i = 0; $i < $n; $i++) { printf("<p>line %08d</p>\\n", $i); }
""",
}


def big_page(n):
    return "".join("<p>line %08d</p>\n" % i for i in range(n)).encode()


@pytest.fixture
def php_app(serve, tmp_path, php_cgi):
    www = tmp_path / "www"
    www.mkdir()
    (tmp_path / "sessions").mkdir()
    for name, text in PHP_APP.items():
        (www / name).write_text(text)
    return serve(www, "--cgi", ".php=" + php_cgi)


def browser():
    """urllib with a cookie jar: keeps cookies, follows redirects (a POST answered with
    302 becomes a GET, as browsers do)."""
    jar = CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar)), jar


def test_php_session_cookie_read_back(php_app):
    opener, jar = browser()
    with opener.open(php_app.url("/"), timeout=60) as resp:
        assert resp.status == 200
        assert resp.read() == b"visits=1\nuser=\n"
        cookies = resp.headers.get_all("Set-Cookie")
    assert len(cookies) == 1 and cookies[0].startswith("PHPSESSID="), cookies
    assert [c.name for c in jar] == ["PHPSESSID"]
    with opener.open(php_app.url("/"), timeout=60) as resp:
        assert resp.read() == b"visits=2\nuser=\n"
        assert resp.headers.get_all("Set-Cookie") is None
    # another browser has another session
    other, _ = browser()
    with other.open(php_app.url("/index.php"), timeout=60) as resp:
        assert resp.read() == b"visits=1\nuser=\n"


def test_php_post_form_redirect(php_app):
    status, headers, body = request(
        php_app.port,
        "POST",
        "/login.php",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=b"user=ann",
    )
    assert status == 302, (headers, body, php_app.stderr_text())
    assert headers["location"] == ["/"]
    opener, _ = browser()
    form = urllib.parse.urlencode({"user": "J\u00fcrgen"}).encode()
    with opener.open(php_app.url("/login.php"), data=form, timeout=60) as resp:
        assert resp.url == php_app.url("/")  # the redirect was followed with the cookie
        assert resp.read().decode() == "visits=1\nuser=J\u00fcrgen\n"


def test_php_upload(php_app, tmp_path):
    curl = need_curl()
    data = os.urandom(700 * 1024)
    upload = tmp_path / "report.pdf"
    upload.write_bytes(data)
    proc = run(
        [curl, "-sS", "-F", "note=hello", "-F", "file=@%s" % upload, php_app.url("/upload.php")],
        "curl -F",
        php_app,
    )
    assert proc.stdout.decode() == "report.pdf %d %s hello\n" % (
        len(data),
        hashlib.sha1(data).hexdigest(),
    )


@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
def test_php_page_past_buffer_output(php_app, version):
    """A 2.3 MB page, far past the 64 KiB collected for a Content-Length: streamed
    (chunked on HTTP/1.1, close-delimited on 1.0) and complete, as a browser needs."""
    n = 100_000
    status, headers, body = request(php_app.port, "GET", "/big.php?n=%d" % n, version=version)
    assert status == 200, (headers, php_app.stderr_text())
    assert headers["content-type"] == ["text/html; charset=UTF-8"]
    assert "content-length" not in headers
    if version == "HTTP/1.1":
        assert headers["transfer-encoding"] == ["chunked"]
    assert len(body) == len(big_page(n)) and body == big_page(n)
    # a small page still gets its Content-Length
    status, headers, body = request(php_app.port, "GET", "/big.php?n=10", version=version)
    assert headers["content-length"] == [str(len(big_page(10)))] and body == big_page(10)


# --- gitweb -------------------------------------------------------------------------------

GITWEB = "/usr/share/gitweb/gitweb.cgi"


@pytest.fixture
def gitweb(site):
    if not os.access(GITWEB, os.X_OK):
        pytest.skip("no %s (Debian's git package ships it)" % GITWEB)
    if subprocess.run(["perl", "-MCGI", "-e1"], capture_output=True).returncode != 0:
        pytest.skip("Perl's CGI.pm not installed (apt-get install libcgi-pm-perl)")
    conf = site.tmp / "gitweb.conf"
    conf.write_text('our $projectroot = "%s";\nour $git_temp = "%s";\n' % (site.repos, site.tmp))
    static = os.path.join(os.path.dirname(GITWEB), "static")
    site.start(
        "--alias",
        "/gitweb=" + GITWEB,
        "--alias",
        "/static=" + static,
        "--env",
        "GITWEB_CONFIG=%s" % conf,
    )
    return site


def test_gitweb_pages(gitweb):
    port = gitweb.server.port
    status, headers, body = request(port, "GET", "/gitweb")
    assert status == 200, gitweb.server.stderr_text()
    page = body.decode()
    assert 'href="/gitweb?p=proj.git;a=summary"' in page
    # the page's stylesheet: static/gitweb.css under <base href=".../gitweb">
    assert 'href="static/gitweb.css"' in page
    status, headers, body = request(port, "GET", "/static/gitweb.css")
    assert status == 200 and headers["content-type"] == ["text/css"] and b"{" in body
    # PATH_INFO URLs
    status, headers, body = request(port, "GET", "/gitweb/proj.git/log")
    assert status == 200 and b"add b.txt" in body and b"add a.txt" in body
    status, headers, body = request(port, "GET", "/gitweb/proj.git/blob_plain/main:/b.txt")
    assert status == 200 and body == b"two\n"
    status, headers, body = request(port, "GET", "/gitweb/proj.git/tree/main")
    assert status == 200 and b"a.txt" in body and b"b.txt" in body


def test_gitweb_snapshot_streamed(gitweb):
    """A snapshot past --buffer-output (git archive | gzip, through gitweb) arrives whole."""
    data = os.urandom(3 * MiB)
    gitweb.commit(gitweb.seed, "blob.bin", data)
    gitweb.git("push", "-q", "origin", "main", cwd=gitweb.seed)
    status, headers, body = request(
        gitweb.server.port, "GET", "/gitweb/proj.git/snapshot/main.tar.gz"
    )
    assert status == 200, gitweb.server.stderr_text()
    assert headers["transfer-encoding"] == ["chunked"]
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        names = {m.name.split("/", 1)[1]: m for m in tar.getmembers() if "/" in m.name}
        assert tar.extractfile(names["b.txt"]).read() == b"two\n"
        assert tar.extractfile(names["blob.bin"]).read() == data


def test_gitweb_one_date_header(gitweb):
    commit = gitweb.rev(gitweb.bare, "main")
    status, headers, _ = request(gitweb.server.port, "GET", "/gitweb/proj.git/commit/" + commit)
    assert status == 200 and "expires" in headers
    assert len(headers["date"]) == 1, headers["date"]
