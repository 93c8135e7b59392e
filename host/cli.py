"""The `microcgi` command line (SPEC section 2).

`main(argv=None) -> int`: 0 on a clean stop, 2 on bad usage (one line on stderr).

Start-up time is a measured target (issue 5: until the port accepts), so `serve` imports
only what serving needs: json when a JSON file is read, the board emulator only for
`microcgi board`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from microcgi import __version__
from microcgi.config import Config, ConfigError

PROG = "microcgi"


class CLIError(Exception):
    """A usage problem: printed as `microcgi: message`, exit 2."""


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter with the terminal width found without importing shutil:
    argparse makes a formatter for every add_argument() (to check metavars), and
    HelpFormatter imports shutil (with zlib, bz2 and lzma) for shutil.get_terminal_size."""

    def __init__(self, prog: str, indent_increment=2, max_help_position=24, width=None):
        if width is None:
            width = _columns()
        super().__init__(prog, indent_increment, max_help_position, width)


def _columns() -> int:
    # shutil.get_terminal_size(): $COLUMNS, else the terminal on stdout, else 80
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kw):
        kw.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kw)

    def error(self, message: str):  # one line, exit 2 (argparse prints usage too)
        raise CLIError(message)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0: {text!r}")
    return value


def _count(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}: {text!r}")
        return value

    return parse


def _or_none(parse):
    """parse, or the word "none" (no bound): kept as "none" until build_config()."""

    def wrapped(text: str):
        return "none" if text.strip().lower() == "none" else parse(text)

    return wrapped


def _port(text: str) -> int:
    value = _count(0)(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r}")
    return value


def _cgi(text: str) -> tuple[str, str]:
    ext, eq, interp = text.partition("=")
    if not eq or not ext.startswith(".") or len(ext) < 2 or "/" in ext:
        raise argparse.ArgumentTypeError(f"expected .EXT=INTERPRETER, got {text!r}")
    return ext, interp


def _alias(text: str) -> tuple[str, str]:
    prefix, eq, target = text.partition("=")
    if not eq or not prefix.startswith("/") or not target:
        raise argparse.ArgumentTypeError(f"expected /PREFIX=PATH, got {text!r}")
    return prefix, target


def _auth(text: str) -> tuple[str, str]:
    prefix, eq, path = text.partition("=")
    if not eq or not prefix.startswith("/") or not path:
        raise argparse.ArgumentTypeError(f"expected /PREFIX=FILE, got {text!r}")
    return prefix, path


def _vhost(text: str) -> tuple[str, str]:
    name, eq, folder = text.partition("=")
    if not eq or not name or not folder:
        raise argparse.ArgumentTypeError(f"expected NAME=DIR or NAME:PORT=DIR, got {text!r}")
    return name, folder


def _error_page(text: str) -> tuple[int, str]:
    status, eq, path = text.partition("=")
    bad_path = path[:1] != "/" or ".." in path.split("/")
    if not eq or not status.isdigit() or not 400 <= int(status) <= 599 or bad_path:
        raise argparse.ArgumentTypeError(
            f"expected STATUS=/PATH with a 4xx or 5xx STATUS, got {text!r}"
        )
    return int(status), path


def _build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; the `board` subcommand gets its arguments only when argv names it
    (they come from the emulator module, which is slow to import and serve never needs)."""
    p = _Parser(prog=PROG, description="A tiny web server with CGI/1.1 (RFC 3875).")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    s = sub.add_parser("serve", help="serve a folder, running its CGI scripts")
    s.add_argument("root", nargs="?", default=None, metavar="ROOT", help="document root (.)")
    s.add_argument("-d", "--directory", metavar="ROOT", help="document root, as an option (.)")
    s.add_argument("-b", "--host", "--bind", help="address to listen on (127.0.0.1)")
    s.add_argument("-p", "--port", type=_port, help="TCP port (8080; 0 picks a free one)")
    s.add_argument(
        "--cgi",
        type=_cgi,
        action="append",
        default=[],
        metavar="EXT=INTERPRETER",
        help="run files ending in EXT with INTERPRETER; EXT= runs the file itself (repeatable)",
    )
    s.add_argument(
        "--script-timeout",
        type=_seconds,
        metavar="SECONDS",
        help="longest a script may go without output or reading its body (30)",
    )
    s.add_argument(
        "--script-max-time",
        type=_or_none(_seconds),
        metavar="SECONDS",
        help="longest a script may run in all (none)",
    )
    s.add_argument(
        "--max-output",
        type=_or_none(_count(1)),
        metavar="BYTES",
        help="script output cap; past it the response is cut short (none: no cap)",
    )
    s.add_argument(
        "--buffer-output",
        type=_count(1),
        metavar="BYTES",
        help="script output collected for a Content-Length; more is streamed (65536)",
    )
    s.add_argument(
        "--body-buffer",
        type=_count(1),
        metavar="BYTES",
        help="request body held in memory per connection (65536)",
    )
    s.add_argument(
        "--max-body", type=_count(0), metavar="BYTES", help="request body cap, 413 (16777216)"
    )
    s.add_argument(
        "--max-script-header",
        type=_count(1),
        metavar="BYTES",
        help="script header block cap, 500 (8192)",
    )
    s.add_argument("--max-request-line", type=_count(1), metavar="BYTES", help="(4096)")
    s.add_argument("--max-header-bytes", type=_count(1), metavar="BYTES", help="(8192)")
    s.add_argument("--max-headers", type=_count(1), metavar="N", help="(64)")
    s.add_argument("--header-timeout", type=_seconds, metavar="SECONDS", help="(10)")
    s.add_argument("--keepalive-timeout", type=_seconds, metavar="SECONDS", help="(5)")
    s.add_argument("--max-connections", type=_count(1), metavar="N", help="(256)")
    s.add_argument(
        "--max-scripts", type=_count(1), metavar="N", help="scripts at once (max-connections)"
    )
    s.add_argument(
        "--buffer-size",
        type=_count(512),
        metavar="BYTES",
        help="receive and file chunk size per connection (16384)",
    )
    s.add_argument(
        "--runner",
        choices=("subprocess", "inprocess"),
        help="how scripts run: processes, or Python functions in the server (subprocess)",
    )
    s.add_argument(
        "--index",
        metavar="NAMES",
        help="index files, comma-separated (index.html,index.htm,index.py,index.php)",
    )
    s.add_argument("--no-listing", action="store_true", help="403 for folders without index")
    s.add_argument(
        "--stream-output",
        action="append",
        nargs="?",
        const="/",
        metavar="PREFIX",
        help="stream script output (for scripts under PREFIX; all without one)",
    )
    s.add_argument(
        "--alias",
        type=_alias,
        action="append",
        default=[],
        metavar="PREFIX=PATH",
        help="URL PREFIX runs the program PATH, or serves the folder PATH (repeatable)",
    )
    s.add_argument(
        "--vhost",
        type=_vhost,
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="serve DIR to requests whose Host is NAME (or NAME:PORT); others get ROOT "
        "(repeatable)",
    )
    s.add_argument(
        "--cgi-dir",
        action="append",
        default=[],
        metavar="PREFIX",
        help="executables under URL PREFIX run as CGI, any name (/cgi-bin and these)",
    )
    s.add_argument(
        "--no-follow-symlinks",
        action="store_true",
        help="403 for a path whose real path leaves ROOT (or its alias's folder)",
    )
    s.add_argument(
        "--serve-dotfiles", action="store_true", help="serve and list .names (404 otherwise)"
    )
    s.add_argument(
        "--auth",
        type=_auth,
        action="append",
        default=[],
        metavar="PREFIX=FILE",
        help="URL PREFIX and all below it need a user and password of FILE (microcgi "
        "passwd FILE USER writes it); repeatable",
    )
    s.add_argument("--auth-realm", metavar="TEXT", help="the realm of --auth (microcgi)")
    s.add_argument("--access-log", metavar="FILE", help="an access log; - for stdout (none)")
    s.add_argument(
        "--access-log-format",
        choices=("common", "combined"),
        default="common",
        help="common, or combined: with the referrer and the user agent (%(default)s)",
    )
    s.add_argument("--board", metavar="PROFILE", help="apply boards/PROFILE.json (none)")
    s.add_argument("--config", metavar="FILE", help="a JSON file of settings (none)")
    s.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for every script (repeatable)",
    )
    s.add_argument(
        "--error-page",
        type=_error_page,
        action="append",
        default=[],
        metavar="STATUS=PATH",
        help="answer STATUS (4xx, 5xx) with the site's page at URL PATH (none; repeatable)",
    )
    s.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS: certificate, PEM (none)")
    s.add_argument("--tls-key", metavar="FILE", help="serve HTTPS: its private key, PEM (none)")
    s.add_argument(
        "--redirect-http",
        type=_port,
        metavar="PORT",
        help="with TLS: a plain port answering 301 to the https URL (none)",
    )
    s.add_argument(
        "--demo", action="store_true", help="serve the demo site that comes with microcgi"
    )
    t = sub.add_parser(
        "tls-selfsigned", help="write a key and a self-signed certificate for HTTPS"
    )
    t.add_argument("dir", metavar="DIR", help="folder for cert.pem and key.pem (created)")
    t.add_argument("--name", required=True, metavar="HOST", help="the host name or IP address")
    t.add_argument("--days", type=_count(1), default=825, help="validity (%(default)s)")
    # `microcgi demo ...` is `microcgi serve --demo ...` (main())
    sub.add_parser("demo", help="serve the demo site (serve --demo)", add_help=False)
    pw = sub.add_parser(
        "passwd",
        help="add a user to a password file of --auth, or change their password",
        description="Add USER to FILE (created, mode 600) or change their password. The "
        "password is asked for without echo on a terminal, else read as one line from "
        "stdin; never taken from the command line.",
    )
    pw.add_argument("file", metavar="FILE")
    pw.add_argument("user", metavar="USER")
    pw.add_argument(
        "--iterations",
        type=_count(1),
        metavar="N",
        help="PBKDF2 iterations (%d: what a board affords; more on a Pi, see "
        "docs/security.md)" % _DEFAULT_ITERATIONS,
    )
    pw.add_argument("--delete", action="store_true", help="remove USER from FILE instead")
    b = sub.add_parser("board", help="run an emulated MicroPython board on a pseudo-terminal")
    # `microcgi deploy ...` is tools/deploy.py's command line, handed over whole (main())
    sub.add_parser(
        "deploy", help="put microcgi, a site and a config on a MicroPython board", add_help=False
    )
    if _command(sys.argv[1:] if argv is None else argv) == "board":
        from microcgi_host import board_emulator

        board_emulator.add_arguments(b)
    return p


def _command(argv: list[str]) -> str | None:
    """The subcommand argv names: its first word that is not an option."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg
    return None


def _which(name: str) -> str | None:
    """shutil.which(name), without importing shutil (and fnmatch and re with it)."""
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(folder or ".", name)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    return None


def default_cgi_map() -> dict[str, str]:
    """SPEC 2: .cgi/.sh via shebang, .py via this Python, .php via php-cgi if present."""
    # .php stays mapped without php-cgi: its requests then fail with a 500 and
    # a log line instead of serving the page's source as text.
    return {
        ".cgi": "",
        ".sh": "",
        ".py": sys.executable,
        ".php": _which("php-cgi") or "php-cgi",
    }


def _read_json(path: str, what: str) -> dict:
    import json

    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise CLIError(f"cannot read {what} {path}: {e.strerror}") from None
    except ValueError as e:
        raise CLIError(f"{path}: not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise CLIError(f"{path}: must hold a JSON object")
    return data


def _board_settings(name: str) -> dict:
    try:
        from microcgi_host import boards
    except ImportError:  # boards support not installed
        boards = None
    if boards is not None:
        try:
            return boards.server_settings(name)
        except ValueError as e:
            raise CLIError(str(e)) from None
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(here, "boards", name + ".json")
    if not os.path.exists(path):
        raise CLIError(f"no board profile {name!r} (looked for {path})")
    return _read_json(path, "board profile")


_DEFAULT_ITERATIONS = 3000  # microcgi.passwords.DEFAULT_ITERATIONS (checked by a test)
_BOARD_ONLY = ("interpreter", "heap_bytes", "network", "mpy_cross", "description", "notes")


def _interpreter(ext: str, name: str) -> str:
    """The absolute path of a --cgi interpreter: a bare name is looked up on the server's
    PATH (a script's folder is no place to look for it). Raises CLIError when there is no
    such executable file."""
    if "/" not in name:
        path = _which(name)
        if path is None:
            raise CLIError(f"cgi {ext}={name}: no {name} on PATH")
        return os.path.abspath(path)
    path = os.path.abspath(name)
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise CLIError(f"cgi {ext}={name}: not an executable file")
    return path


def build_config(args: argparse.Namespace) -> Config:
    cfg = Config(cgi=default_cgi_map())
    given: dict = {}  # the settings of board profile and config file
    try:
        if args.board:
            given.update(_board_settings(args.board))
            cfg.apply(given, f"board {args.board}", _BOARD_ONLY)
        if args.config:
            data = _read_json(args.config, "config file")
            given.update(data)
            cfg.apply(data, args.config)
    except ConfigError as e:
        raise CLIError(str(e)) from None
    flags = {}
    for key in (
        "host",
        "port",
        "script_timeout",
        "script_max_time",
        "max_output",
        "buffer_output",
        "body_buffer",
        "max_body",
        "max_script_header",
        "max_request_line",
        "max_header_bytes",
        "max_headers",
        "header_timeout",
        "keepalive_timeout",
        "max_connections",
        "max_scripts",
        "buffer_size",
        "runner",
        "access_log",
        "auth_realm",
        "tls_cert",
        "tls_key",
        "redirect_http",
    ):
        value = getattr(args, key)
        if value is not None:
            flags[key] = None if value == "none" else value
    if args.directory is not None:
        if args.root is not None:
            raise CLIError(f"two document roots: {args.root} and -d {args.directory}")
        args.root = args.directory
    if args.demo:
        if args.root is not None:
            raise CLIError(f"--demo serves the demo site, not {args.root}: give no ROOT")
        from microcgi_host.resources import demo_dir

        flags["root"] = str(demo_dir())
    elif args.root is not None:
        flags["root"] = args.root
    if args.index is not None:
        flags["index"] = [n for n in args.index.split(",") if n]
    if args.no_listing:
        flags["listing"] = False
    if args.stream_output:
        flags["stream_output"] = args.stream_output
    if args.no_follow_symlinks:
        flags["follow_symlinks"] = False
    if args.serve_dotfiles:
        flags["serve_dotfiles"] = True
    if args.alias:
        flags["alias"] = {**cfg.alias, **dict(args.alias)}
    if args.cgi_dir:
        flags["cgi_dirs"] = cfg.cgi_dirs + args.cgi_dir
    if args.auth:
        flags["auth"] = {**cfg.auth, **dict(args.auth)}
    if args.vhost:
        flags["vhosts"] = {**cfg.vhosts, **dict(args.vhost)}
    try:
        cfg.apply(flags)
    except ConfigError as e:
        raise CLIError(str(e)) from None
    defaults = dict(cfg.cgi) if "cgi" not in given else {}
    for ext, interp in args.cgi:
        cfg.cgi[ext] = interp
        defaults.pop(ext, None)
    if cfg.runner == "subprocess":
        for ext, interp in cfg.cgi.items():
            if interp and defaults.get(ext) != interp:
                cfg.cgi[ext] = _interpreter(ext, interp)
    for item in args.env:
        name, eq, value = item.partition("=")
        if not eq or not name:
            raise CLIError(f"--env expects NAME=VALUE, got {item!r}")
        cfg.env[name] = value
    root = os.path.abspath(cfg.root)
    if not os.path.isdir(root):
        what = "does not exist" if not os.path.exists(root) else "is not a folder"
        hint = ""
        if args.root is not None and args.root.isdigit() and not os.path.exists(root):
            hint = f" (a port? use -p {args.root})"
        raise CLIError(f"document root {cfg.root} {what}{hint}")
    if not os.access(root, os.R_OK | os.X_OK):
        raise CLIError(f"document root {cfg.root} is not readable")
    cfg.root = root
    cfg.alias = _check_aliases(cfg)
    cfg.auth = _check_auth(cfg)
    cfg.vhosts = _check_vhosts(cfg)
    for status, path in args.error_page:
        cfg.error_pages[str(status)] = path
    for status, path in cfg.error_pages.items():
        page = os.path.join(root, path.lstrip("/"))
        if not os.path.isfile(page):
            raise CLIError(f"error page {status}={path}: no such file under {cfg.root}")
    if bool(cfg.tls_cert) != bool(cfg.tls_key):
        raise CLIError("--tls-cert and --tls-key go together")
    if cfg.redirect_http is not None and not cfg.tls_cert:
        raise CLIError("--redirect-http needs --tls-cert and --tls-key")
    return cfg


def _check_vhosts(cfg: Config) -> dict[str, str]:
    """cfg.vhosts with absolute folders; a folder that is missing or cannot be read is
    a start-up error (config.py has checked the names)."""
    vhosts = {}
    for name, folder in cfg.vhosts.items():
        path = os.path.abspath(folder)
        if not os.path.isdir(path):
            what = "does not exist" if not os.path.exists(path) else "is not a folder"
            raise CLIError(f"vhost {name}: {folder} {what}")
        if not os.access(path, os.R_OK | os.X_OK):
            raise CLIError(f"vhost {name}: folder {folder} is not readable")
        vhosts[name] = path
    return vhosts


def _check_aliases(cfg: Config) -> dict[str, str]:
    """cfg.alias with absolute targets; a target that is missing, or a file that
    cannot run, is a start-up error."""
    aliases = {}
    for prefix, target in cfg.alias.items():
        path = os.path.abspath(target)
        shown = prefix or "/"
        if os.path.isdir(path):
            if not os.access(path, os.R_OK | os.X_OK):
                raise CLIError(f"alias {shown}: folder {target} is not readable")
        elif os.path.isfile(path):
            name = os.path.basename(path)
            dot = name.rfind(".")
            mapped = dot > 0 and name[dot:] in cfg.cgi
            if not mapped and not os.access(path, os.X_OK):
                raise CLIError(
                    f"alias {shown}: {target} is not executable (and no --cgi maps its extension)"
                )
        else:
            what = "does not exist" if not os.path.lexists(path) else "is not a file or a folder"
            raise CLIError(f"alias {shown}: {target} {what}")
        aliases[prefix] = path
    return aliases


def _check_auth(cfg: Config) -> dict[str, str]:
    """cfg.auth with absolute paths; a password file that cannot be read, or holds a
    line that is not user:hash, is a start-up error. A warning (stderr) for {SHA} hashes,
    and for a file the server itself would serve."""
    checked: dict[str, str] = {}
    if not cfg.auth:
        return checked  # (passwords loads hashlib: 4 MiB of libcrypto for nothing)
    from microcgi import passwords

    for prefix, path in cfg.auth.items():
        path = os.path.abspath(path)
        shown = prefix or "/"
        try:
            users = passwords.load_users(path)
        except OSError as e:
            why = e.strerror or e
            raise CLIError(f"auth {shown}: cannot read password file {path}: {why}") from None
        except ValueError as e:
            raise CLIError(f"auth {shown}: {e}") from None
        weak = sorted(u for u, h in users.items() if h.startswith("{SHA}"))
        if weak:
            _error_log(
                f"auth {shown}: {path}: {{SHA}} hashes (unsalted SHA-1, weak) for "
                f"{', '.join(weak)}: `microcgi passwd` replaces them"
            )
        real = os.path.realpath(path)
        root = os.path.realpath(cfg.root)
        inside = os.path.relpath(real, root)
        if inside != ".." and not inside.startswith(".." + os.sep):
            hidden = any(p.startswith(".") for p in inside.split(os.sep))
            if not hidden or cfg.serve_dotfiles:
                _error_log(f"auth {shown}: {path} is under the document root: move it out")
        checked[prefix] = path
    return checked


def _make_runner(cfg: Config, log):
    if cfg.runner == "inprocess":
        from microcgi.inprocess import CallableRunner

        return CallableRunner(log=log)
    from microcgi_host.subprocess_runner import SubprocessRunner

    return SubprocessRunner(log=log, max_scripts=cfg.max_scripts)


# The descriptor budget (RLIMIT_NOFILE): what the server holds whatever it serves (stdio,
# the listener, /dev/null, the logs, Python's own), what a connection may hold (its socket,
# and a file it sends or a request body spooled for a script), and what a subprocess
# script holds (its stdin, stdout and stderr pipes and a pidfd).
FD_RESERVE = 16
FD_PER_CONNECTION = 2
FD_PER_SCRIPT = 4


def fit_descriptors(cfg: Config) -> str | None:
    """Make max_connections and max_scripts fit the descriptors the server may open.

    The soft RLIMIT_NOFILE is raised as far as the settings need and the hard limit
    allows (no further: scripts inherit it, and some programs close every descriptor up
    to it). If that is still too few, both settings are lowered in proportion. Returns
    the line to log when they were, else None. max_scripts 0 becomes max_connections.
    """
    import resource

    conns = cfg.max_connections
    scripts = (cfg.max_scripts or conns) if cfg.runner == "subprocess" else 0
    need = FD_RESERVE + FD_PER_CONNECTION * conns + FD_PER_SCRIPT * scripts
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    infinite = resource.RLIM_INFINITY
    if soft != infinite and soft < need:
        target = need if hard == infinite else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if cfg.runner == "subprocess":
        cfg.max_scripts = scripts
    if soft == infinite or soft >= need:
        return None
    share = max(soft - FD_RESERVE, 0) / (FD_PER_CONNECTION * conns + FD_PER_SCRIPT * scripts)
    cfg.max_connections = max(1, int(conns * share))
    lowered = f"max_connections {conns} -> {cfg.max_connections}"
    if scripts:
        cfg.max_scripts = max(1, int(scripts * share))
        lowered += f", max_scripts {scripts} -> {cfg.max_scripts}"
    return f"descriptors: RLIMIT_NOFILE is {soft}, so {lowered}"


def _error_log(msg: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    sys.stderr.write(f"{stamp} {msg}\n")
    sys.stderr.flush()


def _open_access_log(target: str | None):
    if target is None:
        return None, None
    if target == "-":

        def write_stdout(line: str) -> None:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

        return write_stdout, None
    try:
        f = open(target, "a", encoding="utf-8", buffering=1)
    except OSError as e:
        raise CLIError(f"cannot open access log {target}: {e.strerror}") from None

    def write_file(line: str) -> None:
        f.write(line + "\n")

    return write_file, f


def cmd_serve(args: argparse.Namespace) -> int:
    from microcgi.server import Server

    cfg = build_config(args)
    lowered = fit_descriptors(cfg)
    if lowered is not None:
        _error_log(lowered)
    access, access_file = _open_access_log(cfg.access_log)
    runner = _make_runner(cfg, _error_log)
    server = Server(cfg, runner, log=_error_log, access_log=access, realpath=os.path.realpath)
    if access is not None and args.access_log_format == "combined":
        from microcgi.hostserver import combined_log

        server.access_log = combined_log(server, access)
    scheme = "http"
    if cfg.tls_cert:
        from microcgi import tls

        try:
            tls.setup(server)
        except ValueError as e:
            raise CLIError(str(e)) from None
        scheme = "https"
    try:
        host, port = server.listen()
    except OSError as e:
        where = cfg.host, cfg.port
        if cfg.redirect_http is not None and server.sock is not None:
            where = cfg.host, cfg.redirect_http
        raise CLIError(f"cannot listen on {where[0]}:{where[1]}: {e.strerror or e}") from None
    addrs = [host]
    if host in ("0.0.0.0", "::"):  # every address: list the URLs someone can open
        from microcgi_host.addresses import reachable

        addrs = reachable(host, server.sock)
    urls = [f"{scheme}://[{a}]:{port}/" if ":" in a else f"{scheme}://{a}:{port}/" for a in addrs]
    lines = [f"{PROG} {__version__} listening on {urls[0]} (root {cfg.root})"]
    lines += [f"  also {url}" for url in urls[1:]]
    lines += [f"  vhost {name} (root {folder})" for name, folder in cfg.vhosts.items()]
    if cfg.redirect_http is not None:
        a = addrs[0]
        shown = f"[{a}]" if ":" in a else a
        lines.append(f"  redirecting http://{shown}:{server.redirect_port}/ to https")
    print("\n".join(lines), flush=True)

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        _serve_forever(server, runner)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        if access_file is not None:
            access_file.close()
    return 0


_RETRY_ACCEPT_MS = 100  # out of descriptors: how often to try accept() again


def _serve_forever(server, runner) -> None:
    """server.serve_forever(), and while the listener is paused for want of descriptors
    (Server.on_poll), another accept() every 100 ms: a script that ended or a file that
    was closed may have freed one, with no connection closing to say so."""
    retry = 0.0
    while True:
        if not server.paused:
            server.run_once()
            continue
        server.run_once(0 if runner.wants_cpu() else _RETRY_ACCEPT_MS)
        now = time.monotonic()
        if server.paused and now >= retry:
            retry = now + _RETRY_ACCEPT_MS / 1000
            server.on_poll(server.sock, 0)


def cmd_board(args: argparse.Namespace) -> int:
    from microcgi_host import board_emulator

    try:
        return board_emulator.run(args)
    except board_emulator.EmulatorError as e:
        raise CLIError(str(e)) from None


def _read_password(user: str) -> bytes:
    """The new password: asked twice without echo on a terminal, else one line of stdin."""
    if sys.stdin is not None and sys.stdin.isatty():
        import getpass

        try:
            first = getpass.getpass(f"New password for {user}: ")
            again = getpass.getpass("Again: ")
        except EOFError:
            raise CLIError("no password given") from None
        if first != again:
            raise CLIError("the two passwords differ")
        password = first.encode()
    else:
        line = sys.stdin.buffer.readline() if sys.stdin is not None else b""
        password = line.rstrip(b"\n").rstrip(b"\r")
        try:
            password.decode()
        except UnicodeError:
            raise CLIError("the password is not UTF-8") from None
    if not password:
        raise CLIError("empty password")
    return password


def cmd_passwd(args: argparse.Namespace) -> int:
    """`microcgi passwd FILE USER`: add or change USER's line of FILE (written to a new
    file with mode 600, then renamed over FILE, so a running server reads either the old
    file or the new one)."""
    from microcgi import passwords

    user = args.user
    if not user or ":" in user or any(c.isspace() or c < " " or c == "\x7f" for c in user):
        raise CLIError(f"bad user name {user!r}: no ':', spaces or control characters")
    path = args.file
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    except OSError as e:
        raise CLIError(f"cannot read {path}: {e.strerror}") from None
    except UnicodeError:
        raise CLIError(f"{path}: not UTF-8") from None
    found = [i for i, line in enumerate(lines) if line.strip().partition(":")[0] == user]
    if args.delete:
        if not found:
            raise CLIError(f"no user {user} in {path}")
        lines = [line for i, line in enumerate(lines) if i not in found]
        what = "removed from"
    else:
        iterations = args.iterations or passwords.DEFAULT_ITERATIONS
        stored = passwords.make_hash(_read_password(user), iterations)
        if found:
            lines[found[0]] = f"{user}:{stored}"
            lines = [line for i, line in enumerate(lines) if i not in found[1:]]
            what = "changed in"
        else:
            lines.append(f"{user}:{stored}")
            what = "added to"
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)  # whatever the umask
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise CLIError(f"cannot write {path}: {e.strerror}") from None
    print(f"{PROG}: {user} {what} {path}")
    return 0


def cmd_tls_selfsigned(args: argparse.Namespace) -> int:
    from microcgi_host import selfsigned

    try:
        cert, key, how = selfsigned.make(args.dir, args.name, args.days)
    except selfsigned.SelfSignedError as e:
        raise CLIError(str(e)) from None
    print(f"{cert}: certificate for {args.name} ({how}), valid {args.days} days")
    print(f"{key}: its private key (keep it secret)")
    print(f"serve with: {PROG} serve --tls-cert {cert} --tls-key {key} ...")
    return 0


_COMMANDS = {
    "serve": cmd_serve,
    "board": cmd_board,
    "passwd": cmd_passwd,
    "tls-selfsigned": cmd_tls_selfsigned,
}
DEPLOY_SCRIPT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools", "deploy.py"
)


def cmd_deploy(argv: list[str]) -> int:
    """`microcgi deploy ARGS`: tools/deploy.py's main(ARGS), the implementation (it sits in
    the repository next to boards/ and firmware/, which it deploys)."""
    if not os.path.exists(DEPLOY_SCRIPT):
        raise CLIError(f"deploy needs the microcgi repository: no {DEPLOY_SCRIPT}")
    import importlib.util

    spec = importlib.util.spec_from_file_location("microcgi_deploy", DEPLOY_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module.main(argv, prog=f"{PROG} deploy")


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    if _command(args_list) == "deploy":
        at = args_list.index("deploy")
        try:
            return cmd_deploy(args_list[at + 1 :])
        except CLIError as e:
            print(f"{PROG}: {e}", file=sys.stderr)
            return 2
    if _command(args_list) == "demo":
        at = args_list.index("demo")
        args_list = [*args_list[:at], "serve", "--demo", *args_list[at + 1 :]]
        argv = args_list
    parser = _build_parser(argv)
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        return _COMMANDS[args.command](args)
    except CLIError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
