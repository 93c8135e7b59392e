"""Routing against a real server process: files the server cannot read, what is neither
a file nor a folder, dot names, symlinks on every route, aliases, index.php (SPEC 4, 5;
issue 9 items 2, 3 and 7; issue 10 item 4 and "Script aliases", "Symlinks", index.php).
"""

import os
import socket
import subprocess
import sys
import threading

import pytest
from helpers import HOST, REPO, drop_read_override, request
from test_cgi import install, parse_dump

SECRET = b"TOP-SECRET-outside-the-root\n"
DUMP = REPO / "tests" / "cgi_bin" / "dump_env.py"


def status_of(port, path, method="GET", headers=None):
    return request(port, method, path, headers)[0]


def get(port, path):
    status, _, body = request(port, "GET", path)
    return status, body


def alive(srv):
    """The server still answers (and its process runs)."""
    assert srv.proc.poll() is None, srv.stderr_text()
    assert get(srv.port, "/ok.txt") == (200, b"ok\n")


# --- files the server cannot read (issue 9 item 2) ------------------------------------


@pytest.fixture
def bound_site(tmp_path):
    """ROOT for a server bound by file permissions: as root, the server process gives up
    root's right to read any file (helpers.drop_read_override); skipped where it can't.
    The modes are restored afterwards, so that tmp_path can be removed."""
    if os.geteuid() == 0:
        probe = tmp_path / "probe"
        probe.write_bytes(b"x")
        probe.chmod(0)
        try:
            r = subprocess.run(
                ["cat", str(probe)], preexec_fn=drop_read_override, capture_output=True
            )
        except (OSError, subprocess.SubprocessError) as e:
            pytest.skip("tests run as root and root cannot give up reading any file: %s" % e)
        if r.returncode == 0:
            pytest.skip("tests run as root and still read a mode-000 file without CAP_DAC_*")
    root = tmp_path / "www"
    root.mkdir()
    (root / "ok.txt").write_bytes(b"ok\n")
    locked = []
    yield root, locked
    for path in locked:
        path.chmod(0o700)


def lock(locked, path, mode=0):
    path.chmod(mode)
    locked.append(path)


def test_unreadable_files_are_403_and_the_server_keeps_serving(serve, bound_site):
    """Issue 9 item 2: a file the server cannot read (small: read into the cache; large:
    opened to be streamed), a mode-000 folder, its listing, an index file that cannot be
    read → 403 and one log line each; the server lives."""
    root, locked = bound_site
    (root / "small.txt").write_bytes(b"secret\n")
    (root / "large.bin").write_bytes(b"s" * 300_000)
    (root / "sub").mkdir()
    (root / "sub" / "in.txt").write_bytes(b"in\n")
    (root / "idx").mkdir()
    (root / "idx" / "index.html").write_bytes(b"<p>index</p>\n")
    if os.geteuid() == 0:  # mode 600, owned by another user
        os.chown(root / "small.txt", 65534, 65534)
        lock(locked, root / "small.txt", 0o600)
    else:
        lock(locked, root / "small.txt", 0o200)  # write-only: not readable
    lock(locked, root / "large.bin")
    lock(locked, root / "sub")
    lock(locked, root / "idx" / "index.html")
    srv = serve(root, bound=True)
    cases = [
        ("GET", "/small.txt", None),
        ("HEAD", "/small.txt", None),
        ("GET", "/large.bin", None),
        ("GET", "/large.bin", {"Range": "bytes=0-9"}),  # a 206 would be queued first
        ("GET", "/large.bin", {"If-None-Match": '"x"'}),
        ("GET", "/sub/", None),  # the listing
        ("GET", "/sub/in.txt", None),  # a file in a folder that cannot be entered
        ("GET", "/idx/", None),  # an index file that cannot be read
    ]
    for method, path, headers in cases:
        status, _, body = request(srv.port, method, path, headers)
        assert status == 403, (method, path, status, body)
        assert b"secret" not in body and b"sss" not in body
        alive(srv)
    log = srv.stderr_text()
    assert log.count("cannot read") == len(cases), log
    assert "Traceback" not in log
    assert get(srv.port, "/ok.txt") == (200, b"ok\n")


def test_unreadable_file_with_listing_off_and_a_script_folder(serve, bound_site):
    """A mode-000 folder is 403 with --no-listing too, and PATH_INFO routing through it
    (/locked/app.py/x) is a 403, not a crash."""
    root, locked = bound_site
    (root / "locked").mkdir()
    install(root, "hello.sh", "locked/app.sh")
    lock(locked, root / "locked")
    srv = serve(root, "--no-listing", bound=True)
    for path in ("/locked/", "/locked/app.sh", "/locked/app.sh/x/y"):
        assert status_of(srv.port, path) == 403, path
    alive(srv)


def test_file_deleted_between_stat_and_open(serve, tmp_path):
    """Issue 9 item 2: a file removed between routing's stat() and open() is a 404 (or
    served, when it is there), never the end of the server. A thread creates and removes
    files while requests ask for them; each request lands anywhere in that cycle."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "ok.txt").write_bytes(b"ok\n")
    srv = serve(root)
    names = ["small.txt", "big.bin"]  # small files are read into the cache, big ones streamed
    stop = threading.Event()

    def churn():
        while not stop.is_set():
            for name in names:
                path = root / name
                path.write_bytes(b"x" * (100 if name == "small.txt" else 200_000))
                path.unlink()

    thread = threading.Thread(target=churn)
    thread.start()
    seen = set()
    try:
        with socket.create_connection((HOST, srv.port), timeout=10) as sock:
            f = sock.makefile("rb")
            for i in range(1500):
                name = names[i % 2]
                sock.sendall(b"HEAD /%s HTTP/1.1\r\nHost: x\r\n\r\n" % name.encode())
                line = f.readline()
                assert line.startswith(b"HTTP/1.1 "), (i, line, srv.stderr_text()[-2000:])
                seen.add(int(line.split()[1]))
                while f.readline() not in (b"\r\n", b""):
                    pass
    finally:
        stop.set()
        thread.join()
    assert seen <= {200, 404}, seen
    alive(srv)
    assert "Traceback" not in srv.stderr_text()


# --- FIFOs, sockets, devices (issue 9 item 3) --------------------------------------------


def test_fifo_is_403_never_opened_and_others_are_served_meanwhile(serve, tmp_path):
    """Issue 9 item 3: GET of a FIFO in ROOT is 403 without opening it (open() would block
    the one thread until a writer came); a second client is served meanwhile."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "ok.txt").write_bytes(b"ok\n")
    os.mkfifo(root / "pipe")
    srv = serve(root)
    with socket.create_connection((HOST, srv.port), timeout=10) as first:
        first.sendall(b"GET /pipe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        # the second client, while the first one's request is (or was) being answered
        assert get(srv.port, "/ok.txt") == (200, b"ok\n")
        answer = b""
        while True:
            data = first.recv(65536)
            if not data:
                break
            answer += data
    assert answer.startswith(b"HTTP/1.1 403 "), answer


def test_anything_but_a_file_or_a_folder_is_403_on_every_route(serve, tmp_path):
    """A FIFO named like a script, a FIFO as an index file (skipped: not an index),
    a unix socket, a character device (through a symlink), a FIFO with PATH_INFO."""
    root = tmp_path / "www"
    (root / "cgi-bin").mkdir(parents=True)
    (root / "ok.txt").write_bytes(b"ok\n")
    os.mkfifo(root / "cgi-bin" / "app.py")
    os.mkfifo(root / "pipe")
    (root / "dir").mkdir()
    os.mkfifo(root / "dir" / "index.html")
    (root / "null").symlink_to("/dev/null")
    sock_path = root / "sock"
    listener = socket.socket(socket.AF_UNIX)
    try:
        listener.bind(str(sock_path))
    except OSError:  # a path too long for sun_path: the other cases still run
        sock_path = None
    srv = serve(root)
    paths = ["/cgi-bin/app.py", "/cgi-bin/app.py/x", "/pipe", "/pipe/x", "/null"]
    if sock_path is not None:
        paths.append("/sock")
    for path in paths:
        for method in ("GET", "HEAD", "POST"):
            assert status_of(srv.port, path, method) == 403, (method, path)
    status, body = get(srv.port, "/dir/")  # the FIFO is no index: the listing instead
    assert status == 200 and b"index.html" in body
    listener.close()
    alive(srv)


# --- dot names (issue 9 item 7) -------------------------------------------------------


def dotted_site(tmp_path):
    root = tmp_path / "www"
    (root / ".git").mkdir(parents=True)
    (root / ".git" / "config").write_bytes(b"[core] secret\n")
    (root / ".htpasswd").write_bytes(b"admin:secret\n")
    (root / "sub").mkdir()
    (root / "sub" / ".env").write_bytes(b"KEY=secret\n")
    (root / "sub" / "shown.txt").write_bytes(b"shown\n")
    (root / ".well-known" / "acme-challenge").mkdir(parents=True)
    (root / ".well-known" / "acme-challenge" / "tok").write_bytes(b"token\n")
    (root / ".well-known" / ".private").write_bytes(b"secret\n")
    install(root, "hello.sh", "cgi-bin/.x.sh")
    install(root, "dump_env.py")
    (root / "ok.txt").write_bytes(b"ok\n")
    return root


DOTTED = [
    "/.htpasswd",
    "/.git/config",
    "/.git/",
    "/.git",
    "/sub/.env",
    "/cgi-bin/.x.sh",
    "/cgi-bin/.x.sh/more",
    "/.well-known/.private",
    "/%2ehtpasswd",
    "/sub/%2Eenv",
]


def test_dotfiles_are_404_except_well_known(serve, tmp_path):
    """Issue 9 item 7: dot files and folders → 404 (as if missing), scripts too; not
    in listings; /.well-known/ is served; PATH_INFO may hold dot names (it is the
    script's, not a file)."""
    root = dotted_site(tmp_path)
    srv = serve(root)
    for path in DOTTED:
        status, _, body = request(srv.port, "GET", path)
        assert status == 404, (path, status)
        assert b"secret" not in body and b"hello" not in body.lower(), path
    assert get(srv.port, "/.well-known/acme-challenge/tok") == (200, b"token\n")
    status, body = get(srv.port, "/sub/")
    assert status == 200 and b"shown.txt" in body and b".env" not in body
    status, body = get(srv.port, "/")
    assert b".git" not in body and b".htpasswd" not in body and b".well-known" not in body
    status, body = get(srv.port, "/cgi-bin/")
    assert status == 200 and b".x.sh" not in body
    status, body = get(srv.port, "/cgi-bin/dump_env.py/.hidden/x")
    env, _ = parse_dump(body)
    assert (status, env["PATH_INFO"]) == (200, "/.hidden/x")


def test_serve_dotfiles_serves_and_lists_them(serve, tmp_path):
    """--serve-dotfiles: every dot name is served (a dot script runs), and listed."""
    root = dotted_site(tmp_path)
    srv = serve(root, "--serve-dotfiles")
    assert get(srv.port, "/.htpasswd") == (200, b"admin:secret\n")
    assert get(srv.port, "/.git/config") == (200, b"[core] secret\n")
    assert get(srv.port, "/sub/.env") == (200, b"KEY=secret\n")
    assert get(srv.port, "/.well-known/.private") == (200, b"secret\n")
    status, body = get(srv.port, "/cgi-bin/.x.sh")
    assert status == 200 and b"hello" in body.lower()
    status, body = get(srv.port, "/sub/")
    assert b".env" in body and b"shown.txt" in body
    status, body = get(srv.port, "/")
    assert b".git/" in body and b".htpasswd" in body


# --- symlinks on every route (issue 10 item 4) ----------------------------------------

LOC_SCRIPT = "#!/bin/sh\nprintf 'Location: %s\\r\\n\\r\\n'\n"


@pytest.fixture
def linked(tmp_path):
    """ROOT with links leaving it on every route, a secret and a script outside."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret.txt").write_bytes(SECRET)
    (out / "index.html").write_bytes(SECRET)
    install(out, "hello.sh", "script.sh")
    install(out, "dump_env.py", "index.py")
    root = tmp_path / "www"
    (root / "cgi-bin").mkdir(parents=True)
    (root / "ok.txt").write_bytes(b"ok\n")
    (root / "leak.txt").symlink_to(out / "secret.txt")  # file
    (root / "cgi-bin" / "link.sh").symlink_to(out / "script.sh")  # script, PATH_INFO
    (root / "idx").mkdir()
    (root / "idx" / "index.html").symlink_to(out / "index.html")  # index file
    (root / "idxs").mkdir()
    (root / "idxs" / "index.py").symlink_to(out / "index.py")  # index script
    (root / "dir").symlink_to(out)  # a folder: its listing, and files through it
    install(root, "redir.sh", "cgi-bin/redir.sh", text=LOC_SCRIPT % "/idx/")
    install(root, "redir2.sh", "cgi-bin/redir2.sh", text=LOC_SCRIPT % "/leak.txt")
    install(root, "redir3.sh", "cgi-bin/redir3.sh", text=LOC_SCRIPT % "/cgi-bin/link.sh/x")
    (root / "inner.txt").symlink_to(root / "ok.txt")  # stays inside: always served
    (root / "files").mkdir()  # an alias folder, with a link out of it (into ROOT)
    (root / "files" / "own.txt").write_bytes(b"own\n")
    (root / "files" / "up.txt").symlink_to(root / "ok.txt")
    (root / "files" / "far.txt").symlink_to(out / "secret.txt")
    return root


LINKED_ROUTES = [
    "/leak.txt",
    "/cgi-bin/link.sh",
    "/cgi-bin/link.sh/x",  # the "/x suffix trick": PATH_INFO routing
    "/cgi-bin/link.sh/x/y",
    "/idx/",
    "/idxs/",
    "/dir/",
    "/dir/secret.txt",
    "/cgi-bin/redir.sh",  # local redirects (to /idx/, /leak.txt, link.sh/x)
    "/cgi-bin/redir2.sh",
    "/cgi-bin/redir3.sh",
    "/static/far.txt",  # alias folder: leaves it for outside ROOT
    "/static/up.txt",  # ... and for ROOT itself, which is not the alias's folder
]


def test_symlinks_are_followed_by_default(serve, linked):
    """Issue 10 item 4: followed by default (lighttpd, Apache FollowSymLinks)."""
    srv = serve(linked, "--alias", "/static=%s" % (linked / "files"))
    for path in LINKED_ROUTES:
        status, body = get(srv.port, path)
        assert status == 200, (path, status, body)
    assert get(srv.port, "/leak.txt") == (200, SECRET)
    assert get(srv.port, "/static/up.txt") == (200, b"ok\n")
    assert b"hello" in get(srv.port, "/cgi-bin/link.sh/x")[1].lower()
    assert parse_dump(get(srv.port, "/idxs/")[1])[0]["SCRIPT_NAME"] == "/idxs/index.py"


def test_no_follow_symlinks_refuses_leaving_links_on_every_route(serve, linked):
    """Issue 10 item 4: --no-follow-symlinks → 403 on every route for a real path
    leaving ROOT (an alias's folder for its files); links that stay inside work."""
    srv = serve(linked, "--no-follow-symlinks", "--alias", "/static=%s" % (linked / "files"))
    for path in LINKED_ROUTES:
        status, body = get(srv.port, path)
        assert status == 403, (path, status, body)
        assert SECRET not in body and b"hello" not in body.lower(), path
        assert b"env-" not in body, path
    assert get(srv.port, "/inner.txt") == (200, b"ok\n")
    assert get(srv.port, "/static/own.txt") == (200, b"own\n")
    alive(srv)


def test_a_file_replaced_by_a_symlink_is_checked_again(serve, linked):
    """Issue 10 item 4: a path served as a plain file, then replaced by a link leaving
    ROOT to a file of the same size and modification time, is refused: nothing of the
    first check is kept."""
    secret = linked.parent / "outside" / "secret.txt"
    swap = linked / "swap.txt"
    swap.write_bytes(b"x" * len(SECRET))
    srv = serve(linked, "--no-follow-symlinks")
    for _ in range(3):
        assert get(srv.port, "/swap.txt") == (200, b"x" * len(SECRET))
    st = swap.stat()
    os.utime(secret, ns=(st.st_atime_ns, st.st_mtime_ns))
    tmp = linked / "swap.tmp"
    tmp.symlink_to(secret)
    tmp.replace(swap)
    status, body = get(srv.port, "/swap.txt")
    assert (status, SECRET in body) == (403, False)


def test_a_folder_replaced_by_a_symlink_is_checked_again(serve, linked):
    """The same for a folder on the way: /d/secret.txt, served, then d becomes a link
    to a folder outside ROOT holding a secret.txt of the same size and time."""
    secret = linked.parent / "outside" / "secret.txt"
    (linked / "d").mkdir()
    inner = linked / "d" / "secret.txt"
    inner.write_bytes(b"y" * len(SECRET))
    st = inner.stat()
    os.utime(secret, ns=(st.st_atime_ns, st.st_mtime_ns))
    srv = serve(linked, "--no-follow-symlinks")
    assert get(srv.port, "/d/secret.txt") == (200, b"y" * len(SECRET))
    (linked / "d").rename(linked / "d.old")
    (linked / "d").symlink_to(secret.parent)
    status, body = get(srv.port, "/d/secret.txt")
    assert (status, SECRET in body) == (403, False)


# --- aliases (issue 10 "Script aliases") ----------------------------------------------


@pytest.fixture
def aliased(tmp_path):
    """ROOT, a program outside it (no extension, executable), a folder outside it."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "ok.txt").write_bytes(b"ok\n")
    (root / "gitx").write_bytes(b"root's gitx\n")
    prog = tmp_path / "prog"  # dump_env.py, run through this Python whatever PATH says
    shebang = b"#!" + sys.executable.encode()
    prog.write_bytes(DUMP.read_bytes().replace(b"#!/usr/bin/env python3", shebang, 1))
    prog.chmod(0o755)
    files = tmp_path / "files"
    (files / "sub").mkdir(parents=True)
    (files / "a.txt").write_bytes(b"a\n")
    (files / "sub" / "index.html").write_bytes(b"<p>sub index</p>\n")
    install(files, "dump_env.py", "env.py")  # mapped by extension
    (files / "tool").write_bytes(prog.read_bytes())  # executable, no extension
    (files / "tool").chmod(0o755)
    (tmp_path / "secret.txt").write_bytes(SECRET)
    return root, prog, files


def test_alias_to_a_program_runs_it_for_the_prefix_and_below(serve, aliased):
    """--alias /git=PROGRAM: SCRIPT_NAME=/git, PATH_INFO the rest (dot names too),
    SCRIPT_FILENAME the program, DOCUMENT_ROOT stays ROOT; /gitx is not under /git."""
    root, prog, _ = aliased
    srv = serve(root, "--alias", "/git=%s" % prog)
    status, body = get(srv.port, "/git/repo.git/info/refs?service=git-upload-pack")
    env, extra = parse_dump(body)
    assert status == 200, body
    assert env["SCRIPT_NAME"] == "/git"
    assert env["PATH_INFO"] == "/repo.git/info/refs"
    assert env["PATH_TRANSLATED"] == str(root) + "/repo.git/info/refs"
    assert env["SCRIPT_FILENAME"] == str(prog)
    assert env["DOCUMENT_ROOT"] == str(root)
    assert env["QUERY_STRING"] == "service=git-upload-pack"
    assert env["REQUEST_URI"] == "/git/repo.git/info/refs?service=git-upload-pack"
    assert extra["cwd"] == str(prog.parent)
    env, _ = parse_dump(get(srv.port, "/git")[1])
    assert env["SCRIPT_NAME"] == "/git" and "PATH_INFO" not in env
    env, _ = parse_dump(get(srv.port, "/git/")[1])
    assert env["PATH_INFO"] == "/"
    env, _ = parse_dump(get(srv.port, "/git/.dotted.git/HEAD")[1])
    assert env["PATH_INFO"] == "/.dotted.git/HEAD"
    status, _, body = request(srv.port, "POST", "/git/x", body=b"abc")
    assert status == 200 and parse_dump(body)[1]["stdin"] == b"abc".hex()
    assert get(srv.port, "/gitx") == (200, b"root's gitx\n")  # whole segments only
    assert status_of(srv.port, "/gi") == 404


def test_alias_to_a_folder_serves_it_and_runs_its_mapped_scripts(serve, aliased):
    """--alias /static=FOLDER: files, index, 301 to the slash form, listing, scripts by
    extension; an extension-less executable is a file unless --cgi-dir names the prefix."""
    root, _, files = aliased
    srv = serve(root, "--alias", "/static/=%s/" % files)
    assert get(srv.port, "/static/a.txt") == (200, b"a\n")
    assert get(srv.port, "/static/sub/") == (200, b"<p>sub index</p>\n")
    status, headers, _ = request(srv.port, "GET", "/static")
    assert (status, headers["location"]) == (301, ["/static/"])
    status, body = get(srv.port, "/static/")
    assert status == 200 and b"a.txt" in body and b"env.py" in body
    status, body = get(srv.port, "/static/env.py/more")
    env, _ = parse_dump(body)
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/static/env.py", "/more")
    assert env["SCRIPT_FILENAME"] == str(files / "env.py")
    assert env["DOCUMENT_ROOT"] == str(root)
    status, _, body = request(srv.port, "GET", "/static/tool")
    assert status == 200 and body == (files / "tool").read_bytes()  # served, not run
    srv2 = serve(root, "--alias", "/static=%s" % files, "--cgi-dir", "/static")
    env, _ = parse_dump(get(srv2.port, "/static/tool/x")[1])
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/static/tool", "/x")


def test_alias_paths_cannot_escape_the_folder(serve, aliased):
    """Traversal through an alias: the decoded path never leaves its folder."""
    root, _, files = aliased
    srv = serve(root, "--alias", "/static=%s" % files)
    for path in (
        "/static/../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/..%2fsecret.txt",
        "/static/sub/../../secret.txt",
        "/static%2f..%2fsecret.txt",
    ):
        status, _, body = request(srv.port, "GET", path)
        assert status in (403, 404), (path, status)
        assert SECRET not in body, path


def test_longest_alias_prefix_wins(serve, aliased):
    """/a → a folder, /a/b → a program: /a/b/c runs the program with PATH_INFO=/c."""
    root, prog, files = aliased
    srv = serve(root, "--alias", "/a=%s" % files, "--alias", "/a/b=%s" % prog)
    env, _ = parse_dump(get(srv.port, "/a/b/c")[1])
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/a/b", "/c")
    assert get(srv.port, "/a/a.txt") == (200, b"a\n")
    assert status_of(srv.port, "/a/bc") == 404  # in the folder: no such file


def test_local_redirect_into_an_alias(serve, aliased):
    """A script's Location: /git/x is routed again, through the alias."""
    root, prog, _ = aliased
    install(root, "r.sh", "cgi-bin/r.sh", text=LOC_SCRIPT % "/git/from-redirect")
    srv = serve(root, "--alias", "/git=%s" % prog)
    env, _ = parse_dump(get(srv.port, "/cgi-bin/r.sh")[1])
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/git", "/from-redirect")


BAD_ALIASES = {
    "no-equals": ["--alias", "/git"],
    "relative-prefix": ["--alias", "git=/bin/sh"],
    "empty-target": ["--alias", "/git="],
    "missing-target": ["--alias", "/git=/nonexistent/git-http-backend"],
    "dotdot-prefix": ["--alias", "/a/../b=/bin"],
    "double-slash-prefix": ["--alias", "/a//b=/bin"],
    "bad-cgi-dir": ["--cgi-dir", "cgi"],
}


@pytest.mark.parametrize("args", BAD_ALIASES.values(), ids=BAD_ALIASES.keys())
def test_bad_aliases_exit_2_with_one_line(tmp_path, args):
    """An alias prefix must start with "/" (a clean URL path), its target must exist."""
    r = subprocess.run(
        [sys.executable, "-m", "microcgi", "serve", str(tmp_path), "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=20,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and ("alias" in lines[0] or "cgi" in lines[0]), r.stderr


def test_alias_to_a_file_that_cannot_run_exits_2(tmp_path):
    plain = tmp_path / "plain"
    plain.write_bytes(b"not a program\n")
    r = subprocess.run(
        [sys.executable, "-m", "microcgi", "serve", str(tmp_path), "--port", "0"]
        + ["--alias", "/p=%s" % plain],
        capture_output=True,
        text=True,
        timeout=20,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert r.returncode == 2 and "not executable" in r.stderr, r.stderr


def test_alias_from_a_config_file(serve, aliased):
    """Config key alias (an object), targets relative to the current folder."""
    root, prog, files = aliased
    conf = root.parent / "site.json"
    conf.write_text('{"alias": {"/git": "prog", "/static": "files"}}')
    srv = serve(root, "--config", conf, cwd=root.parent)
    env, _ = parse_dump(get(srv.port, "/git/x")[1])
    assert (env["SCRIPT_FILENAME"], env["PATH_INFO"]) == (str(prog), "/x")
    assert get(srv.port, "/static/a.txt") == (200, b"a\n")


# --- index.php (issue 10, small gaps) -------------------------------------------------


def test_index_php_is_a_default_index_with_php_cgi(serve, tmp_path, php_cgi):
    """index.php is among the default index names: with .php mapped to php-cgi (the
    default when php-cgi is on PATH), GET /app/ runs it."""
    root = tmp_path / "www"
    (root / "app").mkdir(parents=True)
    (root / "app" / "index.php").write_text("<?php echo 'php says ', 6 * 7, \"\\n\";")
    srv = serve(root, "--cgi", ".php=%s" % php_cgi)
    assert get(srv.port, "/app/") == (200, b"php says 42\n")
    srv = serve(root)  # the default mapping
    assert get(srv.port, "/app/") == (200, b"php says 42\n")


# --- git's smart HTTP through an alias (docs/cgi.md) ----------------------------------

GIT_BACKEND = "/usr/lib/git-core/git-http-backend"


def git(*args, cwd=None):
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_CONFIG_NOSYSTEM="1", HOME="/nonexistent")
    ident = ["-c", "user.name=t", "-c", "user.email=t@example.org"]
    return subprocess.run(
        ["git", *ident, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_git_clone_and_push_through_an_alias(serve, tmp_path):
    """The docs/cgi.md example: --alias /git=git-http-backend with GIT_PROJECT_ROOT;
    clone (protocol v2, and v0 with --depth 1), then a push (http.receivepack)."""
    if not os.access(GIT_BACKEND, os.X_OK) or subprocess.run(["git", "--version"]).returncode:
        pytest.skip("git and %s are needed (apt-get install git)" % GIT_BACKEND)
    projects = tmp_path / "srv"
    projects.mkdir()
    bare = projects / "repo.git"
    assert git("init", "-q", "--bare", "-b", "main", str(bare)).returncode == 0
    assert git("-C", str(bare), "config", "http.receivepack", "true").returncode == 0
    work = tmp_path / "work"
    assert git("init", "-q", "-b", "main", str(work)).returncode == 0
    (work / "a.txt").write_text("one\n")
    git("add", "a.txt", cwd=work)
    git("commit", "-qm", "one", cwd=work)
    assert git("push", "-q", str(bare), "main", cwd=work).returncode == 0
    site = tmp_path / "www"
    site.mkdir()
    srv = serve(
        site,
        "--alias",
        "/git=" + GIT_BACKEND,
        "--env",
        "GIT_PROJECT_ROOT=%s" % projects,
        "--env",
        "GIT_HTTP_EXPORT_ALL=1",
    )
    url = srv.url("/git/repo.git")
    r = git("-c", "protocol.version=2", "clone", "-q", url, str(tmp_path / "c1"))
    assert r.returncode == 0, r.stderr + srv.stderr_text()
    assert (tmp_path / "c1" / "a.txt").read_text() == "one\n"
    r = git("-c", "protocol.version=0", "clone", "-q", "--depth", "1", url, str(tmp_path / "c2"))
    assert r.returncode == 0, r.stderr + srv.stderr_text()
    (tmp_path / "c1" / "a.txt").write_text("two\n")
    git("commit", "-qam", "two", cwd=tmp_path / "c1")
    r = git("push", "-q", "origin", "main", cwd=tmp_path / "c1")
    assert r.returncode == 0, r.stderr + srv.stderr_text()
    assert git("-C", str(bare), "log", "--format=%s").stdout.split() == ["two", "one"]
    assert git("-C", str(bare), "fsck").returncode == 0


def test_unmapped_script_extensions_are_403_not_source(serve, tmp_path):
    """Issue 11 / SPEC 2: a file with a script extension that no --cgi mapping runs (.pl
    here) is 403, never served as its source; the log says so once."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "a.pl").write_text("print 'SECRET';\n")
    (root / "b.pl").write_text("print 'SECRET';\n")
    (root / "notes.txt").write_text("plain\n")
    srv = serve(root)
    for name in ("a.pl", "b.pl"):
        status, _, body = request(srv.port, "GET", "/" + name)
        assert status == 403 and b"SECRET" not in body, body
    assert request(srv.port, "GET", "/notes.txt")[0] == 200
    assert srv.stderr_text().count("a script this server cannot run") == 1
