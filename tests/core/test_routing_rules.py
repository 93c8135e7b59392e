# The rules routing applies to a decoded URL path (SPEC 2, 4, 5): dot names, alias
# prefixes, cgi_dirs, the interpreter of a file. Plain functions and asserts: pytest
# collects them, and tests/run_mpy.py runs them under MicroPython.
from microcgi import compat, routing
from microcgi.config import Config
from microcgi.errors import Forbidden
from microcgi.server import Server

EXEC = 0o100755
PLAIN = 0o100644


def server(**settings):
    return Server(Config(buffer_size=512, **settings))


def test_dot_names_are_hidden_except_well_known():
    for path in (
        "/.htpasswd",
        "/.git/config",
        "/.git/",
        "/sub/.env",
        "/cgi-bin/.x.py",
        "/a/.b/c",
        "/.well-known/.private",
        "/.well-known/a/.b",
        "/.well-knownx/a",  # not /.well-known: only the whole segment is let through
        "/x/.well-known/a",  # only at the top
    ):
        assert routing.hidden(path), path
    for path in (
        "/",
        "/index.html",
        "/a.b/c.d",
        "/x./y",
        "/.well-known",
        "/.well-known/",
        "/.well-known/acme-challenge/tok",
    ):
        assert not routing.hidden(path), path


def test_alias_prefixes_match_whole_segments_longest_first():
    aliases = Config(alias={"/git": "/srv/git-http", "/a": "/srv/a", "/a/b/": "/srv/ab"}).alias
    cases = {
        "/git": ("/srv/git-http", 4),
        "/git/": ("/srv/git-http", 4),
        "/git/repo.git/info/refs": ("/srv/git-http", 4),
        "/gitx": None,
        "/gi": None,
        "/": None,
        "/a/x": ("/srv/a", 2),
        "/a/b": ("/srv/ab", 4),
        "/a/b/c": ("/srv/ab", 4),
        "/a/bc": ("/srv/a", 2),
        "/ab": None,
    }
    for path, expected in cases.items():
        assert routing.match_alias(aliases, path) == expected, (path, expected)
    aliases = Config(alias={"/": "/srv/app", "/static": "/srv/files"}).alias
    assert routing.match_alias(aliases, "/x/y") == ("/srv/app", 0)
    assert routing.match_alias(aliases, "/") == ("/srv/app", 0)
    assert routing.match_alias(aliases, "/static/a") == ("/srv/files", 7)


def test_cgi_dirs_match_whole_segments():
    s = server(cgi_dirs=["/cgi-bin", "/tools/"])
    for path in ("/cgi-bin/x", "/tools/x", "/tools/a/b"):
        assert routing.in_cgi_dir(s, path), path
    for path in ("/cgi-bin", "/cgi-binx/x", "/toolsx/a", "/x/cgi-bin/y", "/"):
        assert not routing.in_cgi_dir(s, path), path
    assert not routing.in_cgi_dir(server(cgi_dirs=[]), "/cgi-bin/x")


def test_interpreter_of_a_file():
    s = server(cgi={".py": "/usr/bin/python3", ".sh": "", ".cgi": ""}, cgi_dirs=["/run"])
    cases = (
        # fs, URL path (None: an alias's program), mode -> interpreter or None
        ("/r/a.py", "/a.py", PLAIN, "/usr/bin/python3"),
        ("/r/a.sh", "/a.sh", PLAIN, "/bin/sh"),
        ("/r/a.sh", "/a.sh", EXEC, ""),
        ("/r/a.txt", "/a.txt", PLAIN, None),
        ("/r/a.txt", "/a.txt", EXEC, None),  # executable, but not in a cgi_dirs folder
        ("/r/run/tool", "/run/tool", EXEC, ""),
        ("/r/run/tool", "/run/tool", PLAIN, None),
        ("/r/cgi-bin/tool", "/cgi-bin/tool", EXEC, None),  # cgi_dirs replaced /cgi-bin
        ("/usr/lib/git-core/git-http-backend", None, EXEC, ""),
        ("/srv/app.py", None, PLAIN, "/usr/bin/python3"),
        ("/srv/notes", None, PLAIN, None),
        ("/r/.profile", "/.profile", PLAIN, None),  # a leading dot is no extension
    )
    for fs, path, mode, expected in cases:
        if compat.IS_MICROPYTHON and path is not None and path.startswith("/cgi-bin/"):
            expected = 403  # a board runs nothing there but in-process .py (issue 11)
        try:
            got = s.interpreter(fs, path, mode)
        except Forbidden:
            got = 403
        assert got == expected, (fs, path, oct(mode))
    # a script extension nothing runs is never a plain file (issue 11)
    for fs, path in (("/r/x.pl", "/x.pl"), ("/r/x.php", "/x.php")):
        try:
            s.interpreter(fs, path, PLAIN)
        except Forbidden:
            continue
        raise AssertionError("served as a file: " + fs)
