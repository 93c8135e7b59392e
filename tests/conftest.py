"""Shared pytest fixtures (end-to-end tests against a real server process).

    def test_hello(serve, tmp_path):
        (tmp_path / "index.html").write_text("hi")
        server = serve(tmp_path, "--no-listing")      # started, listening, port known
        status, headers, body = request(server.port, "GET", "/")
        assert (status, body) == (200, b"hi")
        assert server.wait_for("GET /", stream="stdout")   # e.g. with "--access-log", "-"

`serve(root, *args, env=None, cwd=None, bound=False)` starts `python -m microcgi serve ROOT
--host 127.0.0.1 --port 0 *args` and returns a helpers.ServerProcess (.port, .proc,
.url(path), .stdout_text(), .stderr_text(), .wait_for(text), .stop()); every server is
stopped at the end of the test (SIGTERM, then SIGKILL). bound=True: file permissions bind
the server even when the tests run as root (helpers.drop_read_override). `from helpers
import http, request` for the client side. `php_cgi` gives the php-cgi path or skips the
test.

Test module names must be unique across tests/ (pytest imports them by basename).
"""

import importlib.util
import shutil

import pytest
from helpers import ServerProcess


@pytest.fixture
def serve(tmp_path):
    if importlib.util.find_spec("microcgi_host") is None:
        pytest.fail("microcgi is not installed in this Python: run scripts/setup.sh (make test)")
    servers = []

    def start(root, *args, env=None, cwd=None, bound=False):
        name = "server%d" % (len(servers) + 1)
        server = ServerProcess(root, args, tmp_path, name=name, env=env, cwd=cwd, bound=bound)
        servers.append(server)
        return server.wait_listening()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def php_cgi():
    path = shutil.which("php-cgi")
    if path is None:
        pytest.skip("php-cgi not installed (apt-get install php-cgi)")
    return path
