"""Name-based virtual hosts (issue 14): `--vhost NAME=DIR` (config `vhosts`) serves DIR to
requests whose Host names NAME; unknown or missing names get ROOT; a Host that is not a
host name is a 400. Scripts see the chosen root in DOCUMENT_ROOT, SCRIPT_FILENAME and
PATH_TRANSLATED, and its name in SERVER_NAME.
"""

import json
import os
import subprocess
import sys

from helpers import http, request

ENV_SCRIPT = """#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
echo "site=%s"
echo "DOCUMENT_ROOT=$DOCUMENT_ROOT"
echo "SCRIPT_FILENAME=$SCRIPT_FILENAME"
echo "SERVER_NAME=$SERVER_NAME"
echo "PATH_TRANSLATED=$PATH_TRANSLATED"
"""


def _site(folder, label):
    folder.mkdir()
    (folder / "page.txt").write_text("page of %s\n" % label)
    (folder / "env.sh").write_text(ENV_SCRIPT % label)
    (folder / "env.sh").chmod(0o755)
    return folder


def _sites(tmp_path):
    return (
        _site(tmp_path / "main", "main"),
        _site(tmp_path / "alpha", "alpha"),
        _site(tmp_path / "beta", "beta"),
    )


def _env(body):
    return dict(line.split("=", 1) for line in body.decode().splitlines())


def _serve_two(serve, tmp_path, *args):
    main, alpha, beta = _sites(tmp_path)
    server = serve(
        main, "--vhost", "alpha.test=%s" % alpha, "--vhost", "Beta.Test=%s" % beta, *args
    )
    return server, main, alpha, beta


def test_two_names_two_roots_static_and_scripts(serve, tmp_path):
    server, main, alpha, beta = _serve_two(serve, tmp_path)
    for host, label, root in (("alpha.test", "alpha", alpha), ("beta.test:8080", "beta", beta)):
        status, _, body = request(server.port, "GET", "/page.txt", {"Host": host})
        assert (status, body) == (200, b"page of %s\n" % label.encode())
        status, _, body = request(server.port, "GET", "/env.sh/x/y", {"Host": host})
        assert status == 200, body
        env = _env(body)
        assert env["site"] == label
        assert env["DOCUMENT_ROOT"] == str(root)
        assert env["SCRIPT_FILENAME"] == str(root / "env.sh")
        assert env["SERVER_NAME"] == host.split(":")[0]
        assert env["PATH_TRANSLATED"] == str(root) + "/x/y"


def test_unknown_and_missing_names_get_root(serve, tmp_path):
    server, main, _, _ = _serve_two(serve, tmp_path)
    status, _, body = request(server.port, "GET", "/env.sh", {"Host": "gamma.test"})
    env = _env(body)
    assert (status, env["site"], env["DOCUMENT_ROOT"]) == (200, "main", str(main))
    assert env["SERVER_NAME"] == "gamma.test"
    # an IP address, as a board's visitors type it: no virtual host has it
    status, _, body = request(server.port, "GET", "/page.txt")
    assert (status, body) == (200, b"page of main\n")
    # HTTP/1.0 without Host
    raw = http(server.port, b"GET /page.txt HTTP/1.0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 ") and raw.endswith(b"page of main\n")
    raw = http(server.port, b"GET /env.sh HTTP/1.0\r\n\r\n")
    assert b"site=main\n" in raw and b"DOCUMENT_ROOT=%s\n" % str(main).encode() in raw
    # HTTP/1.1 with an empty Host (RFC 9112 3.2: a target without an authority)
    status, _, body = request(server.port, "GET", "/page.txt", {"Host": ""})
    assert (status, body) == (200, b"page of main\n")


def test_names_ignore_case_and_a_trailing_dot(serve, tmp_path):
    server, _, alpha, beta = _serve_two(serve, tmp_path)
    for host, label in (
        ("ALPHA.test", "alpha"),
        ("alpha.test.", "alpha"),
        ("Alpha.Test.:8080", "alpha"),
        ("beta.TEST", "beta"),  # configured as Beta.Test
    ):
        status, _, body = request(server.port, "GET", "/env.sh", {"Host": host})
        env = _env(body)
        assert (status, env["site"]) == (200, label), host
        assert env["SERVER_NAME"] == label + ".test"


def test_name_with_a_port(serve, tmp_path):
    main, alpha, beta = _sites(tmp_path)
    server = serve(
        main, "--vhost", "alpha.test=%s" % alpha, "--vhost", "alpha.test:8443=%s" % beta
    )
    for host, label in (
        ("alpha.test:8443", "beta"),  # NAME:PORT before NAME
        ("alpha.test", "alpha"),
        ("alpha.test:80", "alpha"),
        ("ALPHA.test.:8443", "beta"),
    ):
        status, _, body = request(server.port, "GET", "/page.txt", {"Host": host})
        assert (status, body) == (200, b"page of %s\n" % label.encode()), host
    # only the explicit port names it
    server2 = serve(main, "--vhost", "alpha.test:8443=%s" % beta)
    status, _, body = request(server2.port, "GET", "/page.txt", {"Host": "alpha.test"})
    assert (status, body) == (200, b"page of main\n")


def test_bad_host_is_400(serve, tmp_path):
    server, _, _, _ = _serve_two(serve, tmp_path)
    for host in (
        "alpha test",
        "a/b",
        "<script>",
        "alpha.test:http",
        "alpha.test:99999",
        "alpha..test",
        "-alpha.test",
        "user@alpha.test",
        "[::1",
        "[zz::1]",
        "[::1]x",
        "alpha.test:80:80",
        ".",
        "a" * 64 + ".test",
    ):
        status, _, body = request(server.port, "GET", "/page.txt", {"Host": host})
        assert status == 400, (host, status, body)
        assert b"page of" not in body
    # IPv6 and IPv4 literals are host names
    for host in ("[::1]:8080", "[fe80::a:1]", "127.0.0.1:80", "[::ffff:10.0.0.1]"):
        status, _, body = request(server.port, "GET", "/page.txt", {"Host": host})
        assert (status, body) == (200, b"page of main\n"), host


def test_bad_host_is_400_without_vhosts(serve, tmp_path):
    # RFC 9112 3.2: a Host with an invalid field value is a 400, virtual hosts or not
    main, _, _ = _sites(tmp_path)
    server = serve(main)
    status, _, body = request(server.port, "GET", "/env.sh", {"Host": "a b"})
    assert status == 400 and b"site=" not in body


def test_config_file_vhosts(serve, tmp_path):
    main, alpha, _ = _sites(tmp_path)
    config = tmp_path / "microcgi.json"
    config.write_text(json.dumps({"vhosts": {"alpha.test": str(alpha)}}))
    server = serve(main, "--config", str(config))
    status, _, body = request(server.port, "GET", "/page.txt", {"Host": "alpha.test"})
    assert (status, body) == (200, b"page of alpha\n")
    assert "vhost alpha.test" in server.stdout_text()


def test_listing_and_index_per_root(serve, tmp_path):
    main, alpha, _ = _sites(tmp_path)
    (alpha / "sub").mkdir()
    (alpha / "sub" / "only-in-alpha.txt").write_text("x")
    (main / "sub").mkdir()
    (main / "sub" / "index.html").write_text("main index\n")
    server = serve(main, "--vhost", "alpha.test=%s" % alpha)
    status, _, body = request(server.port, "GET", "/sub/", {"Host": "alpha.test"})
    assert status == 200 and b"only-in-alpha.txt" in body
    status, _, body = request(server.port, "GET", "/sub/", {"Host": "other.test"})
    assert (status, body) == (200, b"main index\n")


def test_error_pages_per_root(serve, tmp_path):
    main, alpha, beta = _sites(tmp_path)
    (main / "404.html").write_text("main's 404\n")
    (alpha / "404.html").write_text("alpha's 404\n")
    server = serve(
        main,
        "--vhost",
        "alpha.test=%s" % alpha,
        "--vhost",
        "beta.test=%s" % beta,
        "--error-page",
        "404=/404.html",
    )
    status, _, body = request(server.port, "GET", "/nothing", {"Host": "alpha.test"})
    assert (status, body) == (404, b"alpha's 404\n")
    status, _, body = request(server.port, "GET", "/nothing", {"Host": "x.test"})
    assert (status, body) == (404, b"main's 404\n")
    # beta has no page of its own: the built-in answer, not main's page
    status, _, body = request(server.port, "GET", "/nothing", {"Host": "beta.test"})
    assert status == 404 and b"main's" not in body


def test_aliases_stay_global(serve, tmp_path):
    main, alpha, _ = _sites(tmp_path)
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "s.txt").write_text("shared\n")
    server = serve(main, "--vhost", "alpha.test=%s" % alpha, "--alias", "/s=%s" % shared)
    for host in ("alpha.test", "other.test"):
        status, _, body = request(server.port, "GET", "/s/s.txt", {"Host": host})
        assert (status, body) == (200, b"shared\n")


def test_symlink_check_is_per_root(serve, tmp_path):
    # A virtual host's folder inside ROOT, with --no-follow-symlinks: a link from it to
    # elsewhere in ROOT is inside ROOT (200 by ROOT's name) but leaves the virtual host's
    # folder (403 by its name), in either order: the check's memory is per root.
    main = _site(tmp_path / "main", "main")
    inner = main / "inner"
    inner.mkdir()
    (inner / "link.txt").symlink_to(main / "page.txt")
    (inner / "link2.txt").symlink_to(main / "page.txt")
    server = serve(main, "--vhost", "inner.test=%s" % inner, "--no-follow-symlinks")
    status, _, body = request(server.port, "GET", "/inner/link.txt", {"Host": "x.test"})
    assert (status, body) == (200, b"page of main\n")
    status, _, body = request(server.port, "GET", "/link.txt", {"Host": "inner.test"})
    assert status == 403 and b"page of" not in body
    status, _, _ = request(server.port, "GET", "/link2.txt", {"Host": "inner.test"})
    assert status == 403
    status, _, body = request(server.port, "GET", "/inner/link2.txt", {"Host": "x.test"})
    assert (status, body) == (200, b"page of main\n")


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "microcgi", "serve", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_bad_vhosts_are_start_up_errors(tmp_path):
    main, alpha, _ = _sites(tmp_path)
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"vhosts": {"bad name": str(alpha)}}))
    for args, message in (
        (["--vhost", "alpha.test=%s" % (tmp_path / "nowhere")], "does not exist"),
        (["--vhost", "alpha.test=%s" % (alpha / "page.txt")], "is not a folder"),
        (["--vhost", "bad name=%s" % alpha], "is not a host name"),
        (["--vhost", "alpha.test:99999=%s" % alpha], "is not a host name"),
        (["--vhost", "alpha.test"], "expected NAME=DIR"),
        (["--config", str(config)], "is not a host name"),
    ):
        result = _cli(str(main), "--port", "0", *args)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("microcgi: "), result.stderr
        assert message in lines[0], (args, lines[0])
    assert os.path.isdir(alpha)
