"""`microcgi deploy --auth PREFIX=FILE` on the emulated board (issue 14): the password
file goes to the board's auth/ folder, config.json names it, and the board asks for it."""

import base64
import json
import subprocess
import sys

import pytest
from emulated import MISSING, PASSWORD, SKIP_REASON, SSID, EmulatedBoard, copies, deploy, free_port
from helpers import request

pytestmark = pytest.mark.skipif(bool(MISSING), reason=SKIP_REASON)


def test_deploy_with_a_password_file(tmp_path):
    site = tmp_path / "site"
    (site / "admin").mkdir(parents=True)
    (site / "admin" / "relay.txt").write_text("on\n")
    (site / "index.html").write_text("open\n")
    users = tmp_path / "users.pw"
    proc = subprocess.run(
        [sys.executable, "-m", "microcgi", "passwd", str(users), "admin"],
        input=b"pump house\n",
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    # a bad file is refused before the board is touched
    bad = tmp_path / "bad.pw"
    bad.write_text("admin:plain\n")
    result = deploy("/dev/null", site, "--auth", "/admin=%s" % bad)
    assert result.returncode == 1 and "--auth /admin: " in result.stderr, result.stderr
    board = EmulatedBoard(tmp_path / "board", "--wifi", f"{SSID}:{PASSWORD}")
    try:
        port = free_port()
        result = deploy(
            board.serial, site, "--http-port", str(port), "--auth", "/admin=%s" % users
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "auth/users.pw" in copies(result.stdout)
        assert (board.flash / "auth" / "users.pw").read_bytes() == users.read_bytes()
        config = json.loads((board.flash / "config.json").read_text())
        assert config["auth"] == {"/admin": "auth/users.pw"}
        assert request(port, "GET", "/index.html", timeout=30)[0] == 200
        assert request(port, "GET", "/admin/relay.txt")[0] == 401
        good = "Basic " + base64.b64encode(b"admin:pump house").decode()
        status, _, body = request(port, "GET", "/admin/relay.txt", {"Authorization": good})
        assert (status, body) == (200, b"on\n")
    finally:
        board.stop()
