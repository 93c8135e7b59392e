"""The exact CGI environment of SPEC §6, seen by a real script over a real socket.

tests/cgi_bin/dump_env.py prints the environment it was exec'd with (from
/proc/self/environ, so nothing CPython adds at start-up shows), and the tests compare it with
an expected dict (the way Go's net/http/cgi tests do with runCgiTest).
"""

import os

from test_cgi import Client, build_request, install, make_root, parse_dump

DUMP = "/cgi-bin/dump_env.py"
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


def dump(client, method, target, headers=(), body=b"", version="HTTP/1.1"):
    resp = client.request(method, target, headers, body, version)
    assert resp.status == 200, resp
    return parse_dump(resp.body)


def base_env(server, root, client, **changes):
    """What every request to dump_env.py sees, plus CHANGES (a value of None removes a key)."""
    env = {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_SOFTWARE": "microcgi/" + server.version,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_ADDR": "127.0.0.1",
        "SERVER_PORT": str(server.port),
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": str(client.local_port),
        "REQUEST_METHOD": "GET",
        "REQUEST_URI": DUMP,
        "QUERY_STRING": "",
        "SCRIPT_NAME": DUMP,
        "SCRIPT_FILENAME": str(root / "cgi-bin" / "dump_env.py"),
        "DOCUMENT_ROOT": str(root),
        "REDIRECT_STATUS": "200",
        "REQUEST_SCHEME": "http",
        "PATH": SAFE_PATH,
        "HTTP_HOST": "127.0.0.1:%d" % server.port,
    }
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def check_signature(env, server):
    """SERVER_SIGNATURE is microcgi/X.Y, optionally followed by the platform; then drop it."""
    signature = env.pop("SERVER_SIGNATURE", None)
    assert signature is not None, env
    assert signature == "microcgi/" + server.version or signature.startswith(
        "microcgi/" + server.version + " "
    ), signature


def test_get_environment_is_exactly_section_6(serve, tmp_path):
    """SPEC §6: every variable with its value, and nothing else (no PATH_INFO, no CONTENT_*)."""
    root = make_root(tmp_path, "dump_env.py")
    server = serve(root)
    headers = [
        ("Host", "www.example.test:8123"),
        ("User-Agent", "e2e-test/1.0"),
        ("Accept", "*/*"),
        ("x-lower-case", "low"),
        ("X-Custom-Thing", "v1"),
    ]
    with Client(server.port) as client:
        env, extra = dump(client, "GET", DUMP + "?a=1&b=%20x&c=d+e", headers)
        expected = base_env(
            server,
            root,
            client,
            SERVER_NAME="www.example.test",
            REQUEST_URI=DUMP + "?a=1&b=%20x&c=d+e",
            QUERY_STRING="a=1&b=%20x&c=d+e",
            HTTP_HOST="www.example.test:8123",
            HTTP_USER_AGENT="e2e-test/1.0",
            HTTP_ACCEPT="*/*",
            HTTP_X_LOWER_CASE="low",
            HTTP_X_CUSTOM_THING="v1",
        )
    check_signature(env, server)
    assert env == expected
    assert extra["stdin"] == ""


def test_post_environment_has_content_vars_not_http_ones(serve, tmp_path):
    """SPEC §6: CONTENT_LENGTH/CONTENT_TYPE for a body, never HTTP_CONTENT_LENGTH/_TYPE."""
    root = make_root(tmp_path, "dump_env.py")
    server = serve(root)
    body = b"name=J%C3%B6rg&x=1+2"
    headers = [("Content-Type", "application/x-www-form-urlencoded")]
    with Client(server.port) as client:
        env, extra = dump(client, "POST", DUMP, headers, body)
        expected = base_env(
            server,
            root,
            client,
            REQUEST_METHOD="POST",
            CONTENT_LENGTH=str(len(body)),
            CONTENT_TYPE="application/x-www-form-urlencoded",
        )
    check_signature(env, server)
    assert env == expected
    assert extra["stdin"] == body.hex()


def test_content_length_without_content_type(serve, tmp_path):
    """SPEC §6: CONTENT_TYPE only when sent (weborf 0.19 crashed here: 500)."""
    root = make_root(tmp_path, "dump_env.py")
    server = serve(root)
    with Client(server.port) as client:
        env, extra = dump(client, "POST", DUMP, body=b"raw body")
    assert env["CONTENT_LENGTH"] == "8" and "CONTENT_TYPE" not in env
    assert extra["stdin"] == b"raw body".hex()


def test_chunked_body_gives_the_dechunked_length(serve, tmp_path):
    """SPEC §3/§6: a chunked body is de-chunked; CONTENT_LENGTH is its length."""
    root = make_root(tmp_path, "dump_env.py")
    server = serve(root)
    chunked = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n"
    headers = [("Transfer-Encoding", "chunked"), ("Content-Type", "text/plain")]
    with Client(server.port) as client:
        env, extra = dump(client, "POST", DUMP, headers, chunked)
        assert env["CONTENT_LENGTH"] == "12" and env["CONTENT_TYPE"] == "text/plain"
        assert extra["stdin"] == b"hello, world".hex()
        assert "HTTP_CONTENT_LENGTH" not in env
        env, _ = dump(client, "GET", DUMP)  # the connection survives a chunked body
        assert "CONTENT_LENGTH" not in env


def test_repeated_headers_are_joined(serve, tmp_path):
    """SPEC §6: repeated headers joined with ", ", Cookie with "; " (any name case)."""
    root = make_root(tmp_path, "dump_env.py")
    server = serve(root)
    headers = [
        ("X-Multi", "one"),
        ("Cookie", "a=1"),
        ("x-multi", "two"),
        ("Accept", "text/html"),
        ("cookie", "b=2; c=3"),
        ("X-MULTI", "three"),
    ]
    with Client(server.port) as client:
        env, _ = dump(client, "GET", DUMP, headers)
    assert env["HTTP_X_MULTI"] == "one, two, three"
    assert env["HTTP_COOKIE"] == "a=1; b=2; c=3"
    assert env["HTTP_ACCEPT"] == "text/html"


def test_proxy_header_is_dropped(serve, tmp_path):
    """SPEC §6: no HTTP_PROXY, ever (httpoxy, Go issue 16405)."""
    root = make_root(tmp_path, "dump_env.py")
    server = serve(root)
    with Client(server.port) as client:
        env, _ = dump(client, "GET", DUMP, [("Proxy", "http://evil.example:3128")])
    assert "HTTP_PROXY" not in env
    assert "http://evil.example:3128" not in env.values()


def test_headers_with_underscores_are_dropped(serve, tmp_path):
    """SPEC §6: a header name with `_` could forge another header's variable: dropped."""
    root = make_root(tmp_path, "dump_env.py")
    server = serve(root)
    headers = [
        ("X_Forwarded_For", "6.6.6.6"),
        ("X-Forwarded-For", "10.0.0.1"),
        ("Content_Length", "999"),
        ("Remote_Addr", "6.6.6.6"),
        ("Auth_Token", "forged"),
    ]
    with Client(server.port) as client:
        env, _ = dump(client, "GET", DUMP, headers)
    assert env["HTTP_X_FORWARDED_FOR"] == "10.0.0.1"
    assert "CONTENT_LENGTH" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert "HTTP_REMOTE_ADDR" not in env and "HTTP_AUTH_TOKEN" not in env
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert "6.6.6.6" not in env.values() and "forged" not in env.values()


def test_nothing_from_the_servers_environment(serve, tmp_path):
    """SPEC §6: the environment is wiped: no server variable reaches the script, PATH is fixed."""
    root = make_root(tmp_path, "dump_env.py")
    server_env = {
        "SECRET_TOKEN": "x-secret-value",
        "HOME": "/root/secret-home",
        "LANG": "C.UTF-8",
        "PATH": "/secret/bin:" + os.environ.get("PATH", "/usr/bin:/bin"),
    }
    server = serve(root, env=server_env)
    with Client(server.port) as client:
        env, _ = dump(client, "GET", DUMP)
        expected = base_env(server, root, client)
    check_signature(env, server)
    assert env == expected
    assert "SECRET_TOKEN" not in env and "HOME" not in env and "LANG" not in env
    assert env["PATH"] == SAFE_PATH


def test_operator_variables_are_added_last_and_win(serve, tmp_path):
    """SPEC §6: operator-configured extra variables (--env) are added last and win."""
    root = make_root(tmp_path, "dump_env.py")
    server = serve(root, "--env", "SITE_MODE=test", "--env", "PATH=/opt/site/bin:/usr/bin")
    with Client(server.port) as client:
        env, _ = dump(client, "GET", DUMP)
    assert env["SITE_MODE"] == "test"
    assert env["PATH"] == "/opt/site/bin:/usr/bin"


def test_request_uri_is_raw_and_query_stays_encoded(serve, tmp_path):
    """SPEC §6: REQUEST_URI is the raw target, QUERY_STRING the raw query, SCRIPT_NAME decoded."""
    root = make_root(tmp_path, "dump_env.py")
    server = serve(root)
    target = "/cgi-bin/dump%5Fenv.py?x=%41&amp=%26%3D&sp=%20+&nul=%00&pct=%25&q=?&s=%2F"
    with Client(server.port) as client:
        env, _ = dump(client, "GET", target)
    assert env["REQUEST_URI"] == target
    assert env["QUERY_STRING"] == target.partition("?")[2]
    assert env["SCRIPT_NAME"] == DUMP
    assert env["SCRIPT_FILENAME"] == str(root / "cgi-bin" / "dump_env.py")


def test_no_query_means_empty_query_string_and_no_question_mark(serve, tmp_path):
    """SPEC §6: QUERY_STRING is "" without a query; REQUEST_URI has `?query` only if sent."""
    root = make_root(tmp_path, "dump_env.py")
    server = serve(root)
    with Client(server.port) as client:
        env, _ = dump(client, "GET", DUMP)
    assert env["QUERY_STRING"] == "" and env["REQUEST_URI"] == DUMP


def test_path_info_and_path_translated(serve, tmp_path):
    """SPEC §5/§6: extra path after the script: decoded PATH_INFO, PATH_TRANSLATED = ROOT + it."""
    root = make_root(tmp_path, "dump_env.py")
    server = serve(root)
    with Client(server.port) as client:
        env, _ = dump(client, "GET", DUMP + "/a%20b/c.txt?k=v")
    assert env["SCRIPT_NAME"] == DUMP
    assert env["PATH_INFO"] == "/a b/c.txt"
    assert env["PATH_TRANSLATED"] == str(root) + "/a b/c.txt"
    assert env["QUERY_STRING"] == "k=v"
    assert env["REQUEST_URI"] == DUMP + "/a%20b/c.txt?k=v"


def test_http10_without_host_uses_the_bound_address(serve, tmp_path):
    """SPEC §6: no Host → SERVER_NAME is the bound address; SERVER_PROTOCOL as requested."""
    root = make_root(tmp_path, "dump_env.py")
    server = serve(root)
    with Client(server.port) as client:
        client.send(build_request(server.port, "GET", DUMP, version="HTTP/1.0"))
        resp = client.read_response()
    assert resp.status == 200, resp
    env, _ = parse_dump(resp.body)
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert "HTTP_HOST" not in env


def test_host_without_port_and_upper_case(serve, tmp_path):
    """SPEC §6: SERVER_NAME is the host part of Host, without a port."""
    root = make_root(tmp_path, "dump_env.py")
    server = serve(root)
    with Client(server.port) as client:
        env, _ = dump(client, "GET", DUMP, [("Host", "example.org")])
        assert env["SERVER_NAME"] == "example.org" and env["HTTP_HOST"] == "example.org"
        env, _ = dump(client, "GET", DUMP, [("Host", "[::1]:8080")])
        assert env["SERVER_NAME"] == "[::1]" and env["HTTP_HOST"] == "[::1]:8080"


def test_script_sees_its_own_folder_and_a_subfolder_root(serve, tmp_path):
    """SPEC §5/§6: cwd is the script's folder; SCRIPT_* follow a nested path."""
    root = make_root(tmp_path)
    install(root, "dump_env.py", "deep/er/dump_env.py")
    server = serve(root)
    with Client(server.port) as client:
        env, extra = dump(client, "GET", "/deep/er/dump_env.py")
    assert extra["cwd"] == os.path.realpath(root / "deep" / "er")
    assert env["SCRIPT_NAME"] == "/deep/er/dump_env.py"
    assert env["SCRIPT_FILENAME"] == str(root / "deep" / "er" / "dump_env.py")
