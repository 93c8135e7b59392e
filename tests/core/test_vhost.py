# microcgi.vhost (issue 14): the Host header as a name and a port, and the choice of a
# virtual host's root. Plain functions: pytest and tests/run_mpy.py (MicroPython) run them.
from microcgi.config import Config, ConfigError
from microcgi.errors import ProtocolError
from microcgi.http11 import Request
from microcgi.vhost import Hosts, parse_host


def test_parse_host_names_and_ports():
    cases = [
        (b"example.com", ("example.com", None)),
        (b"Example.COM.", ("example.com", None)),
        (b"a-b_c.example:8080", ("a-b_c.example", 8080)),
        (b"example.com:", ("example.com", None)),
        (b"192.168.4.1", ("192.168.4.1", None)),
        (b"[::1]:8080", ("[::1]", 8080)),
        (b"[FE80::A:1]", ("[fe80::a:1]", None)),
        (b"[::ffff:10.0.0.1]:1", ("[::ffff:10.0.0.1]", 1)),
        (b"", ("", None)),
        (b"x" * 63 + b".example", ("x" * 63 + ".example", None)),
    ]
    for value, expected in cases:
        got = parse_host(value)
        assert got == expected, (value, got)


def test_parse_host_refuses_what_is_not_a_host_name():
    for value in (
        b"a b",
        b"a/b",
        b"a..b",
        b".",
        b"..",
        b".a",
        b"-a",
        b"a-",
        b"user@a",
        b"a:b",
        b"a:65536",
        b"a:123456",
        b"a:1:2",
        b":80",
        b"[::1",
        b"[::1]x",
        b"[::1]:x",
        b"[1]",
        b"[g::1]",
        b"[fe80::1%25eth0]",
        b"\xc3\xa9.example",
        b"x" * 64 + b".example",
        (b"a" * 60 + b".") * 5,
    ):
        try:
            parse_host(value)
        except ProtocolError as e:
            assert e.status == 400
        else:
            raise AssertionError("accepted %r" % value)


def test_config_checks_and_normalizes_the_names():
    cfg = Config(vhosts={"A.Example.": "/srv/a/", "a.example:8443": "/", "b.example": "b"})
    assert cfg.vhosts == {"a.example": "/srv/a", "a.example:8443": "/", "b.example": "b"}
    for bad in ("", "a b", "a.example:0x1", ":80", "é.example", "[::1"):
        try:
            Config(vhosts={bad: "/srv"})
        except ConfigError as e:
            assert "is not a host name" in str(e)
        else:
            raise AssertionError("accepted %r" % bad)
    try:
        Config(vhosts={"a.example": ""})
    except ConfigError as e:
        assert "no folder" in str(e)
    else:
        raise AssertionError("accepted an empty folder")


def _req(host):
    return Request("GET", b"/", "HTTP/1.1", [] if host is None else [(b"host", host)])


def test_hosts_pick():
    roots = Config(vhosts={"A.example.": "/a/", "a.example:8443": "/", "b.example": "/b"}).vhosts
    hosts = Hosts(roots, "/r")
    cases = [
        (b"a.example", "/a"),
        (b"A.EXAMPLE.:80", "/a"),
        (b"a.example:8443", "/"),
        (b"b.example:8443", "/b"),
        (b"c.example", "/r"),
        (b"127.0.0.1:8080", "/r"),
        (b"", "/r"),
        (None, "/r"),
    ]
    for host, root in cases:
        req = _req(host)
        assert hosts.pick(req) == root, (host, root)
        assert req.root == root
    try:
        hosts.pick(_req(b"a b"))
    except ProtocolError as e:
        assert e.status == 400
    else:
        raise AssertionError("no 400")
