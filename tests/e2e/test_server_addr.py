"""SERVER_ADDR and SERVER_PORT on a wildcard bind: the address the client reached (the
accepted socket's getsockname()), not 0.0.0.0 or ::, which no script can use in a URL."""

import re
import socket

import pytest
from test_cgi import Client, make_root, parse_dump

DUMP = "/cgi-bin/dump_env.py"


def _env_via(port, family, addr):
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect((addr, port))
        sock.sendall(b"GET " + DUMP.encode() + b" HTTP/1.0\r\nHost: h\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return parse_dump(body)[0]


def test_ipv4_wildcard_gives_the_address_reached(serve, tmp_path):
    root = make_root(tmp_path, "dump_env.py")
    server = serve(root, "--host", "0.0.0.0")
    with Client(server.port) as client:  # 127.0.0.1
        resp = client.request("GET", DUMP)
    env = parse_dump(resp.body)[0]
    assert (env["SERVER_ADDR"], env["SERVER_PORT"]) == ("127.0.0.1", str(server.port))
    assert env["REMOTE_ADDR"] == "127.0.0.1"


def test_ipv6_wildcard_gives_the_address_reached(serve, tmp_path):
    if not socket.has_ipv6:
        pytest.skip("no IPv6 in this Python")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback (::1) on this machine")
    root = make_root(tmp_path, "dump_env.py")
    server = serve(root, "--host", "::")
    env = _env_via(server.port, socket.AF_INET6, "::1")
    assert (env["SERVER_ADDR"], env["SERVER_PORT"]) == ("::1", str(server.port))
    assert env["REMOTE_ADDR"] == "::1"
    env = _env_via(server.port, socket.AF_INET, "127.0.0.1")  # dual-stack: IPv4-mapped
    assert env["SERVER_ADDR"] == "127.0.0.1" and env["REMOTE_ADDR"] == "127.0.0.1"


def _urls(server):
    """The URLs of the start-up line and the `also` lines after it."""
    server.wait_for("listening on", stream="stdout")  # the `also` lines: the same write()
    lines = server.stdout_text().splitlines()
    urls = [re.search(r"listening on (http://\S+)", lines[0])[1]]
    urls += [line[len("  also ") :] for line in lines[1:] if line.startswith("  also ")]
    return urls


def _answers(url):
    host, port = re.fullmatch(r"http://\[?([^\]]+?)\]?:(\d+)/", url).groups()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect((host, int(port)))
        sock.sendall(b"GET /a.txt HTTP/1.0\r\n\r\n")
        return sock.recv(100).startswith(b"HTTP/1.1 200")


def test_wildcard_start_line_lists_reachable_urls(serve, tmp_path):
    (tmp_path / "a.txt").write_text("a")
    server = serve(tmp_path, "--host", "0.0.0.0")
    urls = _urls(server)
    assert not any("0.0.0.0" in url for url in urls), urls
    assert urls[-1] == "http://127.0.0.1:%d/" % server.port, urls
    assert len(set(urls)) == len(urls)
    for url in urls:
        assert _answers(url), url


def test_ipv6_wildcard_start_line_lists_reachable_urls(serve, tmp_path):
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback (::1) on this machine")
    (tmp_path / "a.txt").write_text("a")
    server = serve(tmp_path, "--host", "::")
    urls = _urls(server)
    assert not any("[::]" in url for url in urls), urls
    assert "http://[::1]:%d/" % server.port in urls
    assert "http://127.0.0.1:%d/" % server.port in urls  # Linux binds :: dual-stack
    loopback = [i for i, url in enumerate(urls) if "127.0.0.1" in url or "[::1]" in url]
    assert loopback == list(range(len(urls) - len(loopback), len(urls))), urls
    for url in urls:
        assert _answers(url), url


def test_a_named_address_is_the_only_url(serve, tmp_path):
    (tmp_path / "a.txt").write_text("a")
    server = serve(tmp_path)  # --host 127.0.0.1
    assert _urls(server) == ["http://127.0.0.1:%d/" % server.port]
