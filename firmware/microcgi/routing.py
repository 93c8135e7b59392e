# The rarer rules of routing (server.Server.route()), apart from server.py so that a
# board loads them only while a request needs one (compat.lazy_call()): aliases, dot
# names, cgi_dirs folders, and the answer to a file found but not readable.
import errno

from microcgi import compat
from microcgi.errors import Forbidden, HTTPError


def alias(server, conn, req, path):
    """The alias of path, if any (server.Server.route()).

    An alias of a program runs it for its prefix and everything below (SCRIPT_NAME
    the prefix, PATH_INFO the rest): True then. An alias of a folder gives (folder,
    the rest of path). None: no alias matches.
    """
    hit = match_alias(server.cfg.alias, path)
    if hit is None:
        return None
    target, n = hit
    rest = path[n:]
    try:
        st = compat.stat(target)
    except OSError as e:
        raise unreadable(server, target, e)
    mode = st[0]
    if mode & compat.S_IFMT != compat.S_IFREG:
        return target, rest
    interp = server.interpreter(target, None, mode)
    if interp is None:
        server.log("cgi: %s is not executable and no cgi mapping runs it" % target)
        raise HTTPError("the script could not run", 500)
    server.run_script(conn, req, path[:n], target, rest or None, interp, st)
    return True


def match_alias(aliases, path):
    """(target, prefix length) of the longest prefix of path in aliases, or None.

    A prefix matches whole segments: /git matches /git and /git/x, not /gitx
    (config.py keeps prefixes without a trailing slash; "/" is "").
    """
    target = None
    longest = -1
    for prefix, value in aliases.items():
        n = len(prefix)
        if n > longest and path.startswith(prefix) and (len(path) == n or path[n] == "/"):
            target = value
            longest = n
    return None if target is None else (target, longest)


def hidden(path):
    """Whether path has a segment starting with "." that is refused (SPEC 4): any but
    a leading /.well-known (RFC 8615), whose own dot names are refused again."""
    if path.startswith("/.well-known") and (len(path) == 12 or path[12] == "/"):
        return path.find("/.", 12) >= 0
    return "/." in path


def in_cgi_dir(server, path):
    """Whether the URL path is below one of cfg.cgi_dirs (whole segments)."""
    for prefix in server.cfg.cgi_dirs:
        n = len(prefix)
        if len(path) > n and path[n] == "/" and path.startswith(prefix):
            return True
    return False


def unreadable(server, fs, err):
    """The HTTPError for a file or folder found but not readable, logged: 404 when it
    vanished since it was found, else 403."""
    server.log("http: cannot read %s: %s" % (fs, err))
    if err.errno == errno.ENOENT:
        return HTTPError("no such file", 404)
    return Forbidden("not readable")


def unrunnable(server, path, ext):
    """The HTTPError for a script this server cannot run (a board runs only in-process
    .py scripts; a Linux server without php-cgi runs no .php): 403, never its source.
    Logged once per server."""
    if not server.warned:
        server.warned = True
        server.log("http: %s is a script this server cannot run (403; logged once)" % path)
    if compat.IS_MICROPYTHON:
        return Forbidden("%s scripts need microcgi on Linux" % (ext or "this"))
    return Forbidden("no interpreter is configured for %s scripts (--cgi)" % (ext or "these"))
