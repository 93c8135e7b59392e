# The settings of config.py: one name per setting for flags, config.json and board profiles
# (SPEC sections 2 and 9), each with its default from SPEC sections 3-7, each checked.
# Plain functions and asserts: pytest collects them, and tests/run_mpy.py runs them under
# MicroPython.
from microcgi import gateway, http11
from microcgi.config import SETTINGS, Config, ConfigError

# Defaults the SPEC states outright.
SPEC_DEFAULTS = {
    "host": "127.0.0.1",  # section 2
    "port": 8080,  # section 2
    "root": ".",  # section 2: the current folder
    "listing": True,  # section 4: on unless --no-listing
    "runner": "subprocess",  # section 2 / 5 (Linux)
    "script_timeout": 30,  # section 7.6 (issue 10: without progress)
    "script_max_time": None,  # issue 10: no bound on Linux
    "max_output": None,  # section 7.5 (issue 10: no cap on Linux)
    "buffer_output": 64 * 1024,  # issue 10: collected for a Content-Length
    "body_buffer": 64 * 1024,  # issue 9: request body held per connection
    "max_script_header": 8 * 1024,  # section 7.1
    "max_request_line": 4 * 1024,  # section 3: 414
    "max_header_bytes": 8 * 1024,  # section 3: 431
    "max_headers": 64,  # section 3: 431
    "header_timeout": 10,  # section 3: 408
    "keepalive_timeout": 5,  # section 3
    "path_env": "/usr/local/bin:/usr/bin:/bin",  # section 6
    "stream_output": [],  # section 7.5: buffered unless asked
    "env": {},  # section 6: operator extras, none by default
    "access_log": None,
}

# Limits the SPEC names without giving a value: present, and of a usable kind.
SPEC_LIMITS = ("max_body", "max_connections", "buffer_size", "backlog")

# (key, value) pairs apply() takes.
GOOD = (
    ("max_output", None),  # no cap
    ("max_output", 1),
    ("script_max_time", None),
    ("script_max_time", 0.5),
    ("watchdog", None),  # off
    ("watchdog", 0),  # off
    ("watchdog", 30),
    ("buffer_output", 1),
    ("body_buffer", 1),
    ("host", "0.0.0.0"),
    ("host", ""),
    ("port", 0),  # the OS chooses
    ("port", 65535),
    ("root", "/srv/www"),
    ("index", []),
    ("index", ["home.html", "index.py"]),
    ("listing", False),
    ("cgi", {}),
    ("cgi", {".php": "/usr/bin/php-cgi", ".cgi": ""}),
    ("runner", "inprocess"),
    ("runner", "subprocess"),
    ("script_timeout", 1),
    ("script_timeout", 0.5),
    ("header_timeout", 2.5),
    ("keepalive_timeout", 60),
    ("max_output", 1),
    ("max_output", 64 * 1024),
    ("max_script_header", 512),
    ("stream_output", ["/big/", "/cgi-bin/stream.py"]),
    ("max_body", 0),  # no request bodies at all
    ("max_body", 10**9),
    ("max_request_line", 1),
    ("max_header_bytes", 1024),
    ("max_headers", 1),
    ("max_connections", 8),
    ("backlog", 1),
    ("buffer_size", 1024),
    ("path_env", "/bin"),
    ("env", {"SITE": "demo", "EMPTY": ""}),
    ("access_log", "-"),
    ("access_log", "/var/log/microcgi.log"),
    ("access_log", None),
    ("alias", {}),
    ("alias", {"/git": "/usr/lib/git-core/git-http-backend", "/static": "/srv/files"}),
    ("alias", {"/.well-known/acme": "/srv/acme"}),
    ("cgi_dirs", []),
    ("cgi_dirs", ["/cgi-bin", "/scripts"]),
    ("follow_symlinks", False),
    ("serve_dotfiles", True),
)

# (key, value) pairs apply() refuses. JSON gives bool, int, float, str, None, list, dict.
BAD = (
    ("max_output", 0),
    ("max_output", "1"),
    ("script_max_time", 0),
    ("script_max_time", "none"),
    ("watchdog", -1),
    ("watchdog", 2.5),  # whole seconds
    ("watchdog", "30"),
    ("watchdog", True),
    ("buffer_output", None),
    ("body_buffer", 0),
    ("host", 1),
    ("host", None),
    ("host", ["a"]),
    ("port", -1),
    ("port", 65536),
    ("port", "8080"),
    ("port", 80.0),
    ("port", True),  # bool is an int in Python; not a port
    ("port", None),
    ("root", None),
    ("root", b"/srv"),
    ("index", "index.html"),
    ("index", ["a", 1]),
    ("index", [None]),
    ("index", None),
    ("index", {"a": "b"}),
    ("listing", 1),
    ("listing", 0),
    ("listing", "false"),
    ("listing", None),
    ("cgi", [".php"]),
    ("cgi", {".php": None}),
    ("cgi", {".php": 1}),
    ("cgi", {1: "x"}),
    ("cgi", "x"),
    ("runner", "threads"),
    ("runner", ""),
    ("runner", 1),
    ("runner", None),
    ("script_timeout", 0),
    ("script_timeout", -1),
    ("script_timeout", -0.5),
    ("script_timeout", "30"),
    ("script_timeout", True),
    ("script_timeout", None),
    ("header_timeout", 0.0),
    ("keepalive_timeout", "5"),
    ("max_output", 0),
    ("max_output", -1),
    ("max_output", 1.5),
    ("max_output", 1e6),  # a JSON float is not an integer byte count
    ("max_output", "1M"),
    ("max_output", False),
    ("max_script_header", 0),
    ("stream_output", "/big/"),
    ("stream_output", [1]),
    ("max_body", -1),
    ("max_body", True),
    ("max_body", 1.0),
    ("max_body", "1024"),
    ("max_body", None),
    ("max_request_line", 0),
    ("max_header_bytes", 0),
    ("max_headers", 0),
    ("max_headers", -64),
    ("max_connections", 0),
    ("backlog", 0),
    ("buffer_size", 0),
    ("buffer_size", 1024.0),
    ("path_env", None),
    ("path_env", ["/bin"]),
    ("env", []),
    ("env", {"A": 1}),
    ("env", {"A": None}),
    ("env", None),
    ("access_log", 1),
    ("access_log", False),
    ("access_log", ["-"]),
    ("alias", ["/git"]),
    ("alias", {"git": "/usr/bin/git"}),  # not a URL path
    ("alias", {"": "/srv"}),
    ("alias", {"/a//b": "/srv"}),  # decoded paths never hold these: it could never match
    ("alias", {"/a/../b": "/srv"}),
    ("alias", {"/a/./b": "/srv"}),
    ("alias", {"/a/..": "/srv"}),
    ("alias", {"/git": ""}),
    ("alias", {"/git": None}),
    ("cgi_dirs", "/cgi-bin"),
    ("cgi_dirs", ["cgi-bin"]),
    ("cgi_dirs", ["/a//b"]),
    ("follow_symlinks", "no"),
    ("follow_symlinks", 0),
    ("serve_dotfiles", 1),
    ("serve_dotfiles", None),
)


def refused(cfg, mapping, where=None, ignore=()):
    """The ConfigError message from cfg.apply(mapping, where, ignore)."""
    try:
        if where is None:
            cfg.apply(mapping)
        else:
            cfg.apply(mapping, where, ignore)
    except ConfigError as e:
        assert isinstance(e, ValueError)
        return str(e)
    raise AssertionError("accepted: %r" % (mapping,))


def test_every_setting_has_a_default():
    cfg = Config()
    keys = [key for key, _default, _kind in SETTINGS]
    assert len(keys) == len(set(keys))
    for key, default, _kind in SETTINGS:
        assert getattr(cfg, key) == default, key
    for key in SPEC_DEFAULTS:
        assert key in keys, key
        assert getattr(cfg, key) == SPEC_DEFAULTS[key], (key, getattr(cfg, key))
    for key in SPEC_LIMITS:
        value = getattr(cfg, key)
        assert type(value) is int and value >= 1, (key, value)


def test_defaults_of_other_modules_agree():
    cfg = Config()
    # the same defaults as the parser's and the script-header parser's own
    assert cfg.max_request_line == http11.RequestParser().max_request_line == 4 * 1024
    assert cfg.max_header_bytes == http11.RequestParser().max_header_bytes == 8 * 1024
    assert cfg.max_headers == http11.RequestParser().max_headers == 64
    assert cfg.max_script_header == 8 * 1024
    assert cfg.max_output is None and gateway.ScriptOutput().max_output is None
    assert cfg.path_env == gateway.DEFAULT_PATH_ENV


def test_default_index_and_cgi():
    cfg = Config()
    assert type(cfg.index) is list and "index.html" in cfg.index
    assert cfg.index[0] == "index.html"
    for name in cfg.index:
        assert type(name) is str and name
    assert type(cfg.cgi) is dict


def test_defaults_pass_their_own_checks():
    # what a config file written from the defaults says is accepted as is
    cfg = Config()
    for key, default, _kind in SETTINGS:
        cfg.apply({key: default}, "defaults.json")
        assert getattr(cfg, key) == default, key


def test_apply_accepts_good_values():
    for key, value in GOOD:
        cfg = Config()
        assert cfg.apply({key: value}) is cfg
        assert getattr(cfg, key) == value, (key, value)
        assert type(getattr(cfg, key)) is type(value), (key, value)
        # the same through the constructor, as keyword arguments
        assert getattr(Config(**{key: value}), key) == value, (key, value)


def test_apply_many_keys_at_once():
    mapping = {}
    for key, value in GOOD:
        mapping[key] = value  # the last value of each key wins in the dict
    cfg = Config().apply(mapping, "site.json")
    for key in mapping:
        assert getattr(cfg, key) == mapping[key], key
    # an empty mapping changes nothing
    cfg = Config()
    cfg.apply({})
    for key, default, _kind in SETTINGS:
        assert getattr(cfg, key) == default, key


def test_apply_rejects_bad_values_naming_the_key():
    for key, value in BAD:
        cfg = Config()
        before = getattr(cfg, key)
        msg = refused(cfg, {key: value})
        assert key in msg, (key, value, msg)
        # the bad value is not kept
        assert getattr(cfg, key) == before, (key, value)
        # with where: the message names both the source and the key
        msg = refused(Config(), {key: value}, "boards/esp32.json")
        assert msg.startswith("boards/esp32.json"), (key, value, msg)
        assert key in msg, (key, value, msg)


def test_constructor_rejects_bad_values():
    for key, value in BAD:
        try:
            Config(**{key: value})
        except ConfigError as e:
            assert key in str(e), (key, value, str(e))
        else:
            raise AssertionError("Config(%s=%r) accepted" % (key, value))


def test_unknown_keys_are_errors():
    for key in ("bogus", "max-body", "MAX_BODY", "maxbody", "heap_bytes", "", "max_header_byte"):
        cfg = Config()
        msg = refused(cfg, {key: 1})
        assert repr(key) in msg or (key and key in msg), (key, msg)
        msg = refused(cfg, {"port": 1, key: 1}, "site/config.json")
        assert msg.startswith("site/config.json"), msg
        assert key in msg and "unknown" in msg, (key, msg)
        assert not hasattr(cfg, key) or key == "", key
    try:
        Config(bogus=1)
    except ConfigError as e:
        assert "bogus" in str(e)
    else:
        raise AssertionError("Config(bogus=1) accepted")


def test_ignore_skips_keys():
    # board profiles carry keys that are not settings (SPEC 9); the caller names them
    board = {"interpreter": "micropython", "heap_bytes": 110000, "max_connections": 6}
    cfg = Config()
    cfg.apply(board, "boards/esp32.json", ("interpreter", "heap_bytes"))
    assert cfg.max_connections == 6
    assert not hasattr(cfg, "interpreter") and not hasattr(cfg, "heap_bytes")
    # ignored keys are not checked; the others still are
    msg = refused(Config(), {"interpreter": 5, "max_connections": 0}, "b.json", ("interpreter",))
    assert msg.startswith("b.json") and "max_connections" in msg, msg
    msg = refused(Config(), {"interpreter": 5, "network": "wlan"}, "b.json", ("interpreter",))
    assert "network" in msg, msg


def test_list_and_dict_defaults_are_not_shared():
    a = Config()
    b = Config()
    a.index.append("x.html")
    a.stream_output.append("/s/")
    a.cgi[".x"] = "/bin/x"
    a.env["A"] = "1"
    for cfg in (b, Config()):
        assert "x.html" not in cfg.index
        assert cfg.stream_output == []
        assert cfg.cgi == {}
        assert cfg.env == {}
    # nor with the table the defaults come from
    for key, default, _kind in SETTINGS:
        if key == "index":
            assert "x.html" not in default
        elif key in ("stream_output", "cgi", "env"):
            assert not default, key


def test_instances_are_independent():
    a = Config(port=1, max_body=5)
    b = Config()
    assert (a.port, a.max_body) == (1, 5)
    assert b.port == 8080 and b.max_body != 5
    b.apply({"port": 2})
    assert a.port == 1


def test_alias_and_cgi_dirs_prefixes_lose_a_trailing_slash():
    # prefixes match whole path segments: "/static/" and "/static" are the same prefix;
    # "/" is the prefix of every path, kept as ""; a target "/" stays "/"
    cfg = Config(alias={"/static/": "/srv/files/", "/": "/srv/app", "/r": "/"})
    assert cfg.alias == {"/static": "/srv/files", "": "/srv/app", "/r": "/"}, cfg.alias
    cfg = Config(cgi_dirs=["/cgi-bin/", "/", "/x"])
    assert cfg.cgi_dirs == ["/cgi-bin", "", "/x"], cfg.cgi_dirs
    assert Config().cgi_dirs == ["/cgi-bin"]
    assert Config().follow_symlinks is True and Config().serve_dotfiles is False
