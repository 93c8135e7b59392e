# Server configuration: one name per setting, shared by the command line
# (--max-body), config.json and board profiles (max_body).
#
# A value's type in DEFAULTS is its type everywhere; Config.apply() checks it.

# (key, default, kind); kind: "int" >= 0, "pos" > 0, "num" seconds > 0,
# "str", "bool", "list" (of str), "dict" (str -> str), "opt" (str or None),
# "optpos" (None or "pos"), "optnum" (None or "num"), "optint" (None or "int")
SETTINGS = (
    ("host", "127.0.0.1", "str"),
    ("port", 8080, "int"),
    ("root", ".", "str"),
    ("index", ["index.html", "index.htm", "index.py", "index.php"], "list"),
    ("listing", True, "bool"),
    ("cgi", {}, "dict"),  # ".ext" -> interpreter ("" = run the file itself)
    ("cgi_dirs", ["/cgi-bin"], "list"),  # URL prefixes whose executables run, any name
    ("alias", {}, "dict"),  # URL prefix -> a program (run for it all) or a folder (served)
    ("vhosts", {}, "dict"),  # NAME or NAME:PORT -> its document root (issue 14)
    ("follow_symlinks", True, "bool"),  # False: 403 for a real path leaving ROOT (SPEC 4)
    ("serve_dotfiles", False, "bool"),  # False: 404 for .names, /.well-known/ apart
    ("runner", "subprocess", "str"),
    ("script_timeout", 30, "num"),  # seconds a script may go without progress (SPEC 7.6)
    ("script_max_time", None, "optnum"),  # seconds a script may run in all; None: no bound
    ("max_output", None, "optpos"),  # bytes of script output in all; None: no bound
    ("buffer_output", 64 * 1024, "pos"),  # script output collected before streaming
    ("body_buffer", 64 * 1024, "pos"),  # request body held per connection (in RAM)
    ("max_script_header", 8 * 1024, "pos"),  # script header block (SPEC 7.1)
    ("stream_output", [], "list"),  # URL path prefixes whose script output is streamed
    ("max_body", 16 * 1024 * 1024, "int"),  # request body (413)
    ("max_request_line", 4 * 1024, "pos"),  # 414
    ("max_header_bytes", 8 * 1024, "pos"),  # 431
    ("max_headers", 64, "pos"),  # 431
    ("header_timeout", 10, "num"),  # seconds to complete the headers (408)
    ("keepalive_timeout", 5, "num"),  # idle seconds between requests
    ("max_connections", 256, "pos"),  # beyond this: 503 (lwIP on ESP32 has 10 sockets)
    # scripts at once (subprocess runner), beyond this: 503; 0 = max_connections. Both are
    # lowered to what RLIMIT_NOFILE allows at start (host/cli.py)
    ("max_scripts", 0, "int"),
    ("backlog", 64, "pos"),
    ("buffer_size", 16 * 1024, "pos"),  # per-connection receive and file chunk size
    ("path_env", "/usr/local/bin:/usr/bin:/bin", "str"),  # PATH given to scripts
    ("env", {}, "dict"),  # extra variables for scripts, added last
    ("access_log", None, "opt"),  # None, "-" (stdout) or a file
    # "404" -> the URL path of the site's own page for that 4xx or 5xx status, sent as
    # text/html under the request's document root (microcgi.errorpage)
    ("error_pages", {}, "dict"),
    # a board's machine.WDT: seconds the loop may go without coming round before the
    # board resets; None or 0: off (CPython has none)
    ("watchdog", None, "optint"),
    # HTTPS (microcgi.tls): certificate and key files (PEM); both or neither
    ("tls_cert", None, "opt"),
    ("tls_key", None, "opt"),
    ("redirect_http", None, "optint"),  # a plain port answering 301 to https (None: off)
)

_KINDS = {}
for _k, _v, _t in SETTINGS:
    _KINDS[_k] = _t


class ConfigError(ValueError):
    pass


def _check(key, value, kind):
    if kind[:3] == "opt" and kind != "opt":
        if value is None:
            return
        kind = kind[3:]
    if kind in ("int", "pos"):
        if not isinstance(value, int) or isinstance(value, bool) or value < (kind == "pos"):
            raise ConfigError(
                "%s must be an integer %s" % (key, ">= 1" if kind == "pos" else ">= 0")
            )
    elif kind == "num":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError("%s must be a number of seconds > 0" % key)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError("%s must be true or false" % key)
    elif kind == "str":
        if not isinstance(value, str):
            raise ConfigError("%s must be a string" % key)
    elif kind == "opt":
        if value is not None and not isinstance(value, str):
            raise ConfigError("%s must be a string or null" % key)
    elif kind == "list":
        if not isinstance(value, list) or [v for v in value if not isinstance(v, str)]:
            raise ConfigError("%s must be a list of strings" % key)
    elif kind == "dict":
        if not isinstance(value, dict):
            raise ConfigError("%s must be an object of strings" % key)
        for k in value:
            if not isinstance(k, str) or not isinstance(value[k], str):
                raise ConfigError("%s must be an object of strings" % key)
    if key == "runner" and value not in ("subprocess", "inprocess"):
        raise ConfigError("runner must be subprocess or inprocess")
    if key in ("port", "redirect_http") and value is not None and value > 65535:
        raise ConfigError("%s must be 0..65535" % key)
    if key == "alias":
        for prefix in value:
            _check_prefix(key, prefix)
            if not value[prefix]:
                raise ConfigError("alias %s: no file or folder given" % prefix)
    elif key == "cgi_dirs":
        for prefix in value:
            _check_prefix(key, prefix)
    elif key == "error_pages":
        for status in value:
            path = value[status]
            if (
                not status.isdigit()
                or not 400 <= int(status) <= 599
                or path[:1] != "/"
                or ".." in path.split("/")
            ):
                raise ConfigError(
                    "error_pages: expected STATUS: /PATH with a 4xx or 5xx STATUS, got %r: %r"
                    % (status, path)
                )
    elif key == "vhosts":
        for name in value:
            _vhost_key(name)
            if not value[name]:
                raise ConfigError("vhosts: %s: no folder given" % name)


def _check_prefix(key, prefix):
    # URL paths are matched after decoding (static.decode_path), which collapses "//"
    # and "/./" and refuses "..": a prefix holding one of them could never match.
    if prefix[:1] != "/" or "//" in prefix or "/./" in prefix + "/" or "/../" in prefix + "/":
        raise ConfigError("%s: %r must be a URL path starting with /" % (key, prefix))


def _vhost_key(name):
    """A vhosts key as the server looks it up: "name" or "name:port", lower case, no
    trailing dot (microcgi.vhost.parse_host); ConfigError when it is not NAME[:PORT]."""
    from microcgi.compat import lazy_call
    from microcgi.errors import HTTPError

    try:  # (loaded for this call: a board's start-up loads it for good after config.py)
        host, port = lazy_call("vhost", "parse_host", name.encode())
    except (HTTPError, UnicodeError):
        host = ""
    if not host:
        raise ConfigError("vhosts: %r is not a host name (NAME or NAME:PORT)" % name)
    return host if port is None else "%s:%d" % (host, port)


def _strip(path):
    # "/static/" -> "/static", "/" -> "" (the prefix of every path), "/a" unchanged
    while path.endswith("/"):
        path = path[:-1]
    return path


def normalize(key, value):
    """value as the server uses it: alias and cgi_dirs prefixes without a trailing
    slash (they match whole path segments), alias targets and vhosts folders too ("/"
    stays); vhosts names as microcgi.vhost looks them up."""
    if key == "alias":
        return {_strip(k): _strip(v) or "/" for k, v in value.items()}
    if key == "cgi_dirs":
        return [_strip(p) for p in value]
    if key == "vhosts":
        return {_vhost_key(k): _strip(v) or "/" for k, v in value.items()}
    return value


class Config:
    """Every setting as an attribute, starting from its default."""

    def __init__(self, **overrides):
        for key, default, kind in SETTINGS:
            if kind == "list":
                default = list(default)
            elif kind == "dict":
                default = dict(default)
            setattr(self, key, default)
        self.apply(overrides)

    def apply(self, mapping, where=None, ignore=()):
        """Set each key of mapping after checking it; unknown keys are errors.

        Raises ConfigError naming where (a file) and the key.
        """
        for key in mapping:
            if key in ignore:
                continue
            value = mapping[key]
            kind = _KINDS.get(key)
            try:
                if kind is None:
                    raise ConfigError("unknown key %r" % key)
                _check(key, value, kind)
            except ConfigError as e:
                raise ConfigError("%s: %s" % (where, e) if where else str(e))
            setattr(self, key, normalize(key, value))
        return self
