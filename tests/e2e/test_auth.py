"""Basic authentication (issue 14): `--auth PREFIX=FILE` and `microcgi passwd`, with real
server processes and real clients (curl, raw sockets, git).

The password files are written by `microcgi passwd` itself, the password on stdin.
"""

import base64
import json
import os
import pty
import shutil
import socket
import stat
import subprocess
import sys
import time
from http.client import HTTPConnection, HTTPResponse
from pathlib import Path

import pytest
from helpers import REPO, drop_read_override, http, request
from test_real_programs import GitSite

DUMP_ENV = REPO / "tests" / "cgi_bin" / "dump_env.py"
ITERATIONS = "1000"  # cheap for the tests; the default is for a board (docs/security.md)
SECRET = b"the secret of the admin page\n"


def passwd(path, user, password, *args):
    """`microcgi passwd PATH USER ARGS` with password on stdin: the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "microcgi", "passwd", str(path), user, *args],
        input=None if password is None else password.encode() + b"\n",
        capture_output=True,
        timeout=60,
    )


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def env_lines(body):
    """The env-KEY=value lines of dump_env.py as a dict."""
    env = {}
    for line in body.decode(errors="replace").splitlines():
        if line.startswith("env-"):
            key, _, value = line[4:].partition("=")
            env[key] = value
    return env


@pytest.fixture
def site(tmp_path):
    """www/ with a protected admin/ (a file, a script), a public script, /administrator
    (a file outside the prefix), and users.pw (alice, bob) out of the document root."""
    www = tmp_path / "www"
    (www / "admin").mkdir(parents=True)
    (www / "admin" / "secret.txt").write_bytes(SECRET)
    shutil.copy(DUMP_ENV, www / "admin" / "env.py")
    shutil.copy(DUMP_ENV, www / "env.py")
    (www / "administrator").write_text("not protected\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "report.txt").write_bytes(SECRET)
    users = tmp_path / "users.pw"
    for user, pw in (("alice", "wonder land"), ("bob", "b0b:pass")):
        proc = passwd(users, user, pw, "--iterations", ITERATIONS)
        assert proc.returncode == 0, proc.stderr
    return www, users


def curl(url, *args):
    """(status, headers text, body) of curl URL ARGS."""
    exe = shutil.which("curl")
    if exe is None:
        pytest.skip("curl not installed (apt-get install curl)")
    proc = subprocess.run(
        [exe, "-s", "-S", "-D", "-", "--max-time", "30", *args, url],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    head, _, body = proc.stdout.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    return status, head.decode("latin-1"), body


def test_no_wrong_right_credentials_static_and_script(serve, site):
    www, users = site
    server = serve(www, "--auth", "/admin=%s" % users, "--auth-realm", 'Lab "A" device')
    for path in ("/admin/secret.txt", "/admin/env.py"):
        url = server.url(path)
        for args in ((), ("-u", "alice:wrong"), ("-u", "mallory:wonder land")):
            status, head, body = curl(url, *args)
            assert status == 401, (path, args, head)
            assert 'WWW-Authenticate: Basic realm="Lab \\"A\\" device"' in head, head
            assert body == b"401 Unauthorized\n"  # short, nothing of the resource
        status, head, body = curl(url, "-u", "alice:wonder land")
        assert status == 200, (path, head)
    assert curl(server.url("/admin/secret.txt"), "-u", "alice:wonder land")[2] == SECRET
    # the script sees who logged in, never the credentials (a password with ":" too)
    status, _, body = curl(server.url("/admin/env.py"), "-u", "bob:b0b:pass")
    env = env_lines(body)
    assert (status, env["AUTH_TYPE"], env["REMOTE_USER"]) == (200, "Basic", "bob")
    assert "HTTP_AUTHORIZATION" not in env
    assert b"YjBi" not in body and b"b0b" not in body  # base64 of "bob:..." and the password
    # a script outside the prefix: no user, no credentials either
    status, _, body = curl(server.url("/env.py"), "-u", "alice:wonder land")
    env = env_lines(body)
    assert status == 200 and "REMOTE_USER" not in env and "AUTH_TYPE" not in env
    assert "HTTP_AUTHORIZATION" not in env
    # failed logins are logged with the client's address
    assert server.wait_for("auth: failed login as 'alice' from 127.0.0.1 (/admin/secret.txt)")
    assert server.wait_for("auth: failed login as 'mallory' from 127.0.0.1")


def test_head_and_post_get_401_without_the_resource(serve, site):
    www, users = site
    server = serve(www, "--auth", "/admin=%s" % users)
    status, headers, body = request(server.port, "HEAD", "/admin/secret.txt")
    assert (status, body) == (401, b"")
    assert headers["www-authenticate"] == ['Basic realm="microcgi", charset="UTF-8"']
    # a POST to a protected script: the script never runs, the body is not read
    raw = b"POST /admin/env.py HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100
    got = http(server.port, raw, timeout=10)
    assert got.startswith(b"HTTP/1.1 401 "), got[:200]
    assert b"env-" not in got and b"Connection: close\r\n" in got


def test_keep_alive_browser(serve, site):
    """A browser sends the same Authorization with every request of its connection."""
    www, users = site
    server = serve(www, "--auth", "/admin=%s" % users, "--access-log", "-")
    conn = HTTPConnection("127.0.0.1", server.port, timeout=10)
    hdrs = {"Authorization": basic("alice", "wonder land")}
    for _ in range(20):
        for path in ("/admin/secret.txt", "/admin/env.py", "/administrator"):
            conn.request("GET", path, headers=hdrs)
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 200, (path, body)
    conn.close()
    # the access log's user field (Common Log Format): "-" outside the prefix, where the
    # credentials are not looked at
    deadline = time.monotonic() + 10
    while server.stdout_text().count("\n") < 61 and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = server.stdout_text().splitlines()
    assert len(lines) == 61, lines[-3:]
    for line in lines[1:]:
        user = "-" if "GET /administrator" in line else "alice"
        assert line.startswith("127.0.0.1 - %s [" % user), line


def test_malformed_authorization_is_400_never_500(serve, site):
    www, users = site
    server = serve(www, "--auth", "/admin=%s" % users)
    cases = [
        ("Basic !!!!", 400),
        ("Basic", 400),
        ("Basic ", 400),
        ("Basic YWxpY2U=", 400),  # "alice": no ":"
        ("Basic YWxpY2U6d29uZGVyIGxhbmQ", 400),  # unpadded
        ("Basic /w==", 400),  # the user name is not UTF-8
        ("Basic YWxp\tY2U6", 400),
        ("basic " + basic("alice", "wonder land")[6:], 200),  # the scheme is case-blind
        ("Basic   " + basic("alice", "wonder land")[6:], 200),
        ("Bearer abc.def", 401),  # another scheme: the challenge
        ("Digest username=alice", 401),
        ("Basically " + basic("alice", "wonder land")[6:], 401),
    ]
    for value, want in cases:
        status, headers, body = request(
            server.port, "GET", "/admin/secret.txt", [("Authorization", value)]
        )
        assert status == want, (value, status, body)
        if want != 200:
            assert SECRET not in body
    # two Authorization headers
    good = basic("alice", "wonder land")
    status, _, _ = request(
        server.port, "GET", "/admin/secret.txt", [("Authorization", good), ("Authorization", good)]
    )
    assert status == 400
    # non-ASCII bytes in the header
    raw = b"GET /admin/secret.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Basic \xff\xfe\r\n"
    got = http(server.port, raw + b"Connection: close\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 400 "), got[:100]
    assert "Traceback" not in server.stderr_text()
    # malformed headers are not failed logins: no 429 came of them
    assert request(server.port, "GET", "/admin/secret.txt", [("Authorization", good)])[0] == 200


def _get_from(source, port, path, auth=None):
    """GET path from the client address source (127.0.0.x): (status, headers, body)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    with sock:
        lines = ["GET %s HTTP/1.1" % path, "Host: x", "Connection: close"]
        if auth:
            lines.append("Authorization: " + auth)
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        resp = HTTPResponse(sock, method="GET")
        resp.begin()
        return resp.status, dict(resp.getheaders()), resp.read()


def test_throttle_429_after_failures(serve, site, tmp_path):
    www, users = site
    config = tmp_path / "auth.json"
    config.write_text(
        json.dumps({"auth": {"/admin": str(users)}, "auth_max_failures": 3, "auth_window": 2})
    )
    server = serve(www, "--config", config)
    good, bad = basic("alice", "wonder land"), basic("alice", "guess")
    port = server.port
    assert _get_from("127.0.0.2", port, "/admin/secret.txt", good)[0] == 200
    for _ in range(3):
        assert _get_from("127.0.0.2", port, "/admin/secret.txt", bad)[0] == 401
    # refused now, even with the right password (a guess's result is not told)
    status, headers, body = _get_from("127.0.0.2", port, "/admin/secret.txt", good)
    assert status == 429 and SECRET not in body
    assert 1 <= int(headers["Retry-After"]) <= 2
    assert _get_from("127.0.0.2", port, "/admin/env.py")[0] == 429
    assert server.wait_for("auth: 3 failed logins from 127.0.0.2: refused (429) for 2 s")
    # what is not protected is still served to it, and other addresses are not refused
    assert _get_from("127.0.0.2", port, "/administrator")[0] == 200
    assert _get_from("127.0.0.3", port, "/admin/secret.txt", good)[0] == 200
    assert _get_from("127.0.0.1", port, "/admin/secret.txt")[0] == 401
    # after the window, it may log in again
    deadline = time.monotonic() + 30
    while _get_from("127.0.0.2", port, "/admin/secret.txt", good)[0] == 429:
        assert time.monotonic() < deadline, "still refused after 30 s"
        time.sleep(0.25)
    assert _get_from("127.0.0.2", port, "/admin/secret.txt", good)[2] == SECRET


def test_prefix_boundary_and_path_forms(serve, site):
    www, users = site
    server = serve(www, "--auth", "/admin/=%s" % users)
    port = server.port
    assert request(port, "GET", "/administrator")[0] == 200  # not under /admin
    for path in (
        "/admin",  # the folder itself (no redirect to /admin/ before the login)
        "/admin/",
        "/admin/secret.txt",
        "/admin/missing.txt",  # no telling what exists
        "/%61dmin/secret.txt",  # checked after %-decoding
        "/admin%2fsecret.txt",  # (403 anyway: an encoded slash)
        "//admin//secret.txt",  # after "//" collapses
        "/./admin/./secret.txt",
        "/admin/env.py/extra/path",
        "/admin/secret.txt?x=1",
    ):
        status, headers, body = request(port, "GET", path)
        assert status in (401, 403), (path, status)
        assert SECRET not in body and b"env-" not in body
    assert request(port, "GET", "/%61dmin/secret.txt")[0] == 401
    assert request(port, "GET", "http://x/admin/secret.txt")[0] == 401  # absolute-form
    assert request(port, "GET", "/public/../admin/secret.txt")[0] == 403  # ".." refused


def test_alias_under_a_protected_prefix(serve, site, tmp_path):
    www, users = site
    server = serve(
        www,
        "--auth",
        "/admin=%s" % users,
        "--alias",
        "/admin/data=%s" % (tmp_path / "data"),
        "--alias",
        "/admin/tool=%s" % DUMP_ENV,
        "--alias",
        "/open=%s" % (tmp_path / "data"),
    )
    good = [("Authorization", basic("alice", "wonder land"))]
    assert request(server.port, "GET", "/admin/data/report.txt")[0] == 401
    assert request(server.port, "GET", "/admin/data/report.txt", good)[2] == SECRET
    assert request(server.port, "GET", "/admin/tool/x")[0] == 401
    status, _, body = request(server.port, "GET", "/admin/tool/x", good)
    assert status == 200 and env_lines(body)["REMOTE_USER"] == "alice"
    # the same folder through an alias outside the prefix is not protected: the prefix
    # is of URLs, not of files (docs/security.md)
    assert request(server.port, "GET", "/open/report.txt")[0] == 200


def test_local_redirect_into_a_protected_prefix_is_checked(serve, site):
    """A script's `Location: /path` is answered as if asked for (RFC 3875 6.2.2): a
    public script cannot hand out a protected file."""
    www, users = site
    (www / "go.sh").write_text("#!/bin/sh\nprintf 'Location: /admin/secret.txt\\r\\n\\r\\n'\n")
    (www / "go.sh").chmod(0o755)
    server = serve(www, "--auth", "/admin=%s" % users)
    status, _, body = request(server.port, "GET", "/go.sh")
    assert status == 401 and SECRET not in body
    good = [("Authorization", basic("alice", "wonder land"))]
    assert request(server.port, "GET", "/go.sh", good)[2] == SECRET


def test_whole_site_and_nested_prefixes(serve, site, tmp_path):
    www, users = site
    admins = tmp_path / "admins.pw"
    assert passwd(admins, "root", "toor", "--iterations", "10").returncode == 0
    server = serve(www, "--auth", "/=%s" % users, "--auth", "/admin=%s" % admins)
    alice = [("Authorization", basic("alice", "wonder land"))]
    root = [("Authorization", basic("root", "toor"))]
    assert request(server.port, "GET", "/administrator")[0] == 401
    assert request(server.port, "GET", "/administrator", alice)[0] == 200
    assert request(server.port, "GET", "/", alice)[0] == 200
    # the longest prefix decides: /admin takes admins.pw's users only
    assert request(server.port, "GET", "/admin/secret.txt", alice)[0] == 401
    assert request(server.port, "GET", "/admin/secret.txt", root)[2] == SECRET


def test_passwd_round_trip_and_a_running_server_rereads(serve, site):
    www, users = site
    assert stat.S_IMODE(users.stat().st_mode) == 0o600
    lines = users.read_text().splitlines()
    assert [x.split(":")[0] for x in lines] == ["alice", "bob"]
    assert lines[0].startswith("alice:$pbkdf2-sha256$1000$")
    server = serve(www, "--auth", "/admin=%s" % users)
    old = [("Authorization", basic("alice", "wonder land"))]
    new = [("Authorization", basic("alice", "new one"))]
    assert request(server.port, "GET", "/admin/secret.txt", old)[0] == 200
    # a new password: the old one stops working at once, cached or not
    proc = passwd(users, "alice", "new one")
    assert proc.returncode == 0 and b"alice changed in" in proc.stdout, proc.stderr
    assert stat.S_IMODE(users.stat().st_mode) == 0o600
    lines = users.read_text().splitlines()
    assert len(lines) == 2 and lines[0].startswith("alice:$pbkdf2-sha256$3000$")
    assert request(server.port, "GET", "/admin/secret.txt", old)[0] == 401
    assert request(server.port, "GET", "/admin/secret.txt", new)[0] == 200
    # a user removed
    assert passwd(users, "bob", None, "--delete").returncode == 0
    bob = [("Authorization", basic("bob", "b0b:pass"))]
    assert request(server.port, "GET", "/admin/secret.txt", bob)[0] == 401
    assert [x.split(":")[0] for x in users.read_text().splitlines()] == ["alice"]


def test_passwd_errors_and_exit_codes(tmp_path):
    users = tmp_path / "u.pw"
    for args, password, message in (
        (["bob"], "", b"empty password"),
        (["bob"], None, b"empty password"),  # nothing on stdin
        (["a:b"], "x", b"bad user name"),
        (["a b"], "x", b"bad user name"),
        (["bob", "--delete"], None, b"no user bob"),
        (["bob", "--iterations", "0"], "x", b"must be >= 1"),
    ):
        proc = passwd(users, *args[:1], password, *args[1:])
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.startswith(b"microcgi: ") and message in proc.stderr, proc.stderr
        assert proc.stderr.count(b"\n") == 1
    assert not users.exists()
    proc = passwd(tmp_path / "no" / "such" / "folder.pw", "bob", "x")
    assert proc.returncode == 2 and b"cannot write" in proc.stderr
    # the password never on the command line: there is no argument for it
    proc = passwd(users, "bob", "x", "secret")
    assert proc.returncode == 2 and not users.exists()
    # a password with spaces, colons and non-ASCII letters; CRLF ends the line too
    proc = subprocess.run(
        [sys.executable, "-m", "microcgi", "passwd", str(users), "bob"],
        input="pä ss:wörd\r\n".encode(),
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    sys.path.insert(0, str(REPO / "firmware"))
    from microcgi import passwords

    stored = users.read_text().strip().partition(":")[2]
    assert passwords.verify("pä ss:wörd".encode(), stored)


def _on_a_terminal(argv, answers):
    """argv run on a pseudo-terminal (its controlling terminal, as in a shell), each
    answer typed after the prompt before it; (exit status, everything it showed)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes argv
        os.execv(argv[0], argv)
    shown = b""
    deadline = time.monotonic() + 60
    try:
        for prompt, answer in answers:
            while prompt not in shown:
                assert time.monotonic() < deadline, shown
                shown += os.read(fd, 1024)
            os.write(fd, answer)
        while True:
            try:
                data = os.read(fd, 1024)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            shown += data
    finally:
        os.close(fd)
        status = os.waitpid(pid, 0)[1]
    return os.waitstatus_to_exitcode(status), shown


def test_passwd_on_a_terminal_asks_twice_without_echo(tmp_path):
    users = tmp_path / "u.pw"
    argv = [sys.executable, "-m", "microcgi", "passwd", str(users), "carol"]
    code, shown = _on_a_terminal(
        argv, [(b"New password for carol: ", b"tty secret\n"), (b"Again: ", b"tty secret\n")]
    )
    assert code == 0, shown
    assert b"tty secret" not in shown  # typed, never echoed
    assert b"carol added to" in shown
    sys.path.insert(0, str(REPO / "firmware"))
    from microcgi import passwords

    assert passwords.verify(b"tty secret", users.read_text().strip().partition(":")[2])
    code, shown = _on_a_terminal(
        argv, [(b"New password for carol: ", b"one\n"), (b"Again: ", b"two\n")]
    )
    assert code == 2 and b"microcgi: the two passwords differ" in shown, shown
    assert passwords.verify(b"tty secret", users.read_text().strip().partition(":")[2])


def _start(root, *args):
    return subprocess.run(
        [sys.executable, "-m", "microcgi", "serve", str(root), "--port", "0", *map(str, args)],
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_startup_errors_exit_2_with_one_line(site, tmp_path):
    www, users = site
    bad_line = tmp_path / "bad.pw"
    bad_line.write_text("alice:$pbkdf2-sha256$1000$c2FsdA$short\n")
    plain = tmp_path / "plain.pw"
    plain.write_text("alice:secret\n")
    cases = [
        (["--auth", "/admin=%s" % (tmp_path / "missing.pw")], b"cannot read password file"),
        (["--auth", "/admin=%s" % tmp_path], b"cannot read password file"),  # a folder
        (["--auth", "/admin=%s" % bad_line], b"line 1 (alice)"),
        (["--auth", "/admin=%s" % plain], b"line 1 (alice): unknown hash"),
        (["--auth", "admin=%s" % users], b"expected /PREFIX=FILE"),
        (["--auth", "/admin="], b"expected /PREFIX=FILE"),
        (["--auth", "/a/../b=%s" % users], b"must be a URL path"),
    ]
    for args, message in cases:
        proc = _start(www, *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.count(b"\n") == 1 and message in proc.stderr, (args, proc.stderr)
        assert b"listening" not in proc.stdout


def test_unreadable_password_file_is_a_startup_error(site, tmp_path):
    www, users = site
    users.chmod(0)
    preexec = drop_read_override if os.geteuid() == 0 else None
    proc = subprocess.run(
        [sys.executable, "-m", "microcgi", "serve", str(www), "--port", "0"]
        + ["--auth", "/admin=%s" % users],
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        preexec_fn=preexec,
    )
    assert proc.returncode == 2, proc.stderr
    assert b"cannot read password file" in proc.stderr and b"ermission denied" in proc.stderr


def test_password_file_removed_while_serving_is_503_not_open(serve, site):
    www, users = site
    server = serve(www, "--auth", "/admin=%s" % users)
    good = [("Authorization", basic("alice", "wonder land"))]
    assert request(server.port, "GET", "/admin/secret.txt", good)[0] == 200
    users.rename(users.with_suffix(".gone"))
    for headers in ((), good):
        status, _, body = request(server.port, "GET", "/admin/secret.txt", headers)
        assert status == 503 and SECRET not in body
    assert request(server.port, "GET", "/administrator")[0] == 200
    assert server.wait_for("cannot read password file")
    users.with_suffix(".gone").rename(users)
    assert request(server.port, "GET", "/admin/secret.txt", good)[0] == 200


def test_config_file_and_htpasswd_sha_lines(serve, site, tmp_path):
    www, _ = site
    users = tmp_path / "apache.pw"
    # `htpasswd -nbs carol password`
    users.write_text("# from Apache\ncarol:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n")
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"auth": {"/admin": str(users)}, "auth_realm": "Pi"}))
    server = serve(www, "--config", config)
    status, headers, _ = request(server.port, "GET", "/admin/secret.txt")
    assert status == 401 and headers["www-authenticate"][0].startswith('Basic realm="Pi"')
    good = [("Authorization", basic("carol", "password"))]
    assert request(server.port, "GET", "/admin/secret.txt", good)[2] == SECRET
    assert "{SHA} hashes (unsalted SHA-1, weak) for carol" in server.stderr_text()


def wait_in_file(path, text, timeout=10):
    """Whether text appears in the file within timeout s (a log line is written after
    its response is sent)."""
    deadline = time.monotonic() + timeout
    while text not in Path(path).read_text():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_git_push_behind_auth(serve, tmp_path):
    """git-http-backend takes a push from the user the server authenticated
    (REMOTE_USER), and only then: the user is in the access log and in the reflog."""
    site = GitSite(serve, tmp_path)
    site.git("config", "core.logAllRefUpdates", "true", cwd=site.bare)
    users = tmp_path / "git.pw"
    assert passwd(users, "alice", "pw for git", "--iterations", ITERATIONS).returncode == 0
    server = site.start("--auth", "/git=%s" % users, "--access-log", tmp_path / "access.log")
    url = site.url
    authed = url.replace("http://", "http://alice:pw%20for%20git@")
    out = site.tmp / "clone"
    site.git("clone", authed, out)
    before = site.rev(site.bare, "main")
    new = site.commit(out, "c.txt", "pushed\n")
    # without credentials: refused, nothing changes
    proc = site.failing("push", url, "main", cwd=out)
    # (git asks for a user after the 401, and may not: GIT_TERMINAL_PROMPT=0)
    assert "could not read Username" in proc.stderr, proc.stderr
    assert wait_in_file(
        tmp_path / "access.log",
        '"GET /git/proj.git/info/refs?service=git-receive-pack HTTP/1.1" 401',
    )
    # wrong password: refused too
    wrong = url.replace("http://", "http://alice:nope@")
    proc = site.failing("push", wrong, "main", cwd=out)
    assert "Authentication failed" in proc.stderr, proc.stderr
    assert site.rev(site.bare, "main") == before
    # with them: taken, and recorded as alice's
    site.git("push", "origin", "main", cwd=out)
    assert site.rev(site.bare, "main") == new
    reflog = site.git("reflog", "show", "--format=%gn", "-n1", "main", cwd=site.bare)
    assert reflog.stdout.strip() == "alice"
    assert wait_in_file(tmp_path / "access.log", "POST /git/proj.git/git-receive-pack")
    log = Path(tmp_path / "access.log").read_text()
    pushes = [x for x in log.splitlines() if "POST /git/proj.git/git-receive-pack" in x]
    assert pushes and pushes[-1].split()[2] == "alice" and '" 200 ' in pushes[-1], log
    site.fsck()
    assert server.wait_for("auth: failed login as 'alice'")


def test_a_password_file_the_server_would_serve_is_warned_about(serve, site):
    www, users = site
    shutil.copy(users, www / "users.pw")
    shutil.copy(users, www / ".htpasswd")  # a dot file: 404 unless --serve-dotfiles
    server = serve(
        www, "--auth", "/admin=%s" % (www / "users.pw"), "--auth", "/x=.htpasswd", cwd=www
    )
    assert server.wait_for("auth /admin: %s is under the document root" % (www / "users.pw"))
    assert "auth /x:" not in server.stderr_text()
    assert request(server.port, "GET", "/.htpasswd")[0] == 404


def test_readme_four_commands_protect_admin_over_https(serve, site, tmp_path):
    """README's four commands: a certificate, a password, the server with both, curl."""
    www, _ = site
    gen = subprocess.run(
        [sys.executable, "-m", "microcgi", "tls-selfsigned", "certs", "--name", "127.0.0.1"],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
    )
    if gen.returncode != 0 and b"openssl" in gen.stderr and b"cryptography" in gen.stderr:
        pytest.skip("neither openssl nor cryptography: " + gen.stderr.decode())
    assert gen.returncode == 0, gen.stderr
    assert passwd(tmp_path / "admins.pw", "admin", "over tls").returncode == 0
    cert, key = tmp_path / "certs" / "cert.pem", tmp_path / "certs" / "key.pem"
    server = serve(
        www, "--tls-cert", cert, "--tls-key", key, "--auth", "/admin=admins.pw", cwd=tmp_path
    )
    url = "https://127.0.0.1:%d/admin/secret.txt" % server.port
    status, head, body = curl(url, "--cacert", str(cert))
    assert status == 401 and 'WWW-Authenticate: Basic realm="microcgi"' in head
    status, _, body = curl(url, "--cacert", str(cert), "-u", "admin:over tls")
    assert (status, body) == (200, SECRET)
    status, _, body = curl(
        url.replace("secret.txt", "env.py"), "--cacert", str(cert), "-u", "admin:over tls"
    )
    env = env_lines(body)
    assert (env["REMOTE_USER"], env["HTTPS"]) == ("admin", "on")
    assert "HTTP_AUTHORIZATION" not in env
