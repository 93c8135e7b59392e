"""A site on the emulated board, deployed and redeployed (issue 12).

One emulated ESP32 serves every test of this module in turn (the real MicroPython
interpreter, the real mpremote, tools/deploy.py and `microcgi deploy`):

- the demo site (examples/www) answers 200 on every link of its index, on the board;
- the helpers of microcgi.script: a JSON API, a form, a file upload;
- mirror mode: --delete removes what the site no longer has, --keep spares a folder,
  --dry-run lists copies, deletions and kept files, and nothing outside the site's
  folder and lib/microcgi/ is ever touched;
- whatever ends a deploy (a dry run, a full flash, Ctrl-C), the board serves again;
- a syntax error stops the deploy before the board is touched; scripts a board
  cannot run are skipped, or copied as data when asked.

Each test deploys the state it starts from (--delete makes that exact).
"""

import html.parser
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.parse

import pytest
from emulated import (
    DEPLOY,
    MISSING,
    PASSWORD,
    REPO,
    SKIP_REASON,
    SSID,
    EmulatedBoard,
    copies,
    deploy,
    deploy_env,
    free_port,
    microcgi_argv,
)
from helpers import request

pytestmark = pytest.mark.skipif(bool(MISSING), reason=SKIP_REASON)

WWW = REPO / "examples" / "www"
TIMEOUT = 30  # seconds for one HTTP request to the emulated board (a hang detector)

# a test script with the upload helper: the file goes to data/ at the flash's root
UPLOAD = b"""
import os
from microcgi.script import BadRequest, save_upload, send_json

def main(environ, stdin, stdout):
    try:
        os.mkdir("data")
    except OSError:
        pass
    try:
        fields, upload = save_upload(environ, stdin, "file", "data/upload.bin", 8000)
    except BadRequest as e:
        send_json(stdout, {"error": str(e)}, e.status)
        return
    send_json(stdout, {"fields": fields, "upload": upload})
"""


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("deploy-site")
    b = EmulatedBoard(workdir / "board", "--wifi", f"{SSID}:{PASSWORD}")
    b.port = free_port()
    b.url = f"http://127.0.0.1:{b.port}/"
    b.workdir = workdir
    yield b
    b.stop()


def make_site(board, name, extra=None, drop=()):
    """A copy of the demo site plus upload.py and `extra` {path: bytes}, minus `drop`."""
    site = board.workdir / name
    shutil.copytree(WWW, site)
    (site / "upload.py").write_bytes(UPLOAD)
    for rel, data in (extra or {}).items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_bytes(data)
    for rel in drop:
        path = site / rel
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return site


def site_deploy(board, site, *args):
    result = deploy(board.serial, site, "--http-port", str(board.port), *args)
    return result


def get(board, path, **kw):
    return request(board.port, "GET", path, timeout=TIMEOUT, **kw)


def last_line(result):
    return result.stdout.strip().splitlines()[-1]


# -- the demo site, with `microcgi deploy` and a --config file ------------------------------


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src", "action") and value:
                self.urls.append(value)


def links_of(page):
    parser = Links()
    parser.feed(page.decode("utf-8"))
    parser.close()
    return parser.urls


def test_the_demo_site_answers_200_on_every_link_on_the_board(board):
    make_site(board, "demo")
    config = board.workdir / "deploy.json"
    config.write_text(
        json.dumps(
            {
                "board": "esp32",
                "device": board.serial,
                "site": "demo",  # relative to the config file's folder
                "wifi_ssid": SSID,
                "http_port": board.port,
                "delete": True,
            }
        )
    )
    result = subprocess.run(
        microcgi_argv("deploy", "--config", str(config)),
        capture_output=True,
        text=True,
        env=deploy_env(),
        stdin=subprocess.DEVNULL,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert last_line(result) == f"microcgi is running at {board.url}"
    for script in ("www/info.php", "www/cgi-bin/uptime.sh"):
        suffix = script.rpartition(".")[2]
        assert (
            f"skip {script}: a board cannot run .{suffix} scripts (--include-unrunnable "
            "copies it as data)" in result.stdout.splitlines()
        )
        assert not (board.flash / script).exists()

    # every link of the index, and of every page it leads to on the site, answers 200
    status, headers, index = get(board, "/")
    assert status == 200 and headers["content-type"] == ["text/html; charset=utf-8"]
    assert index.count(b"Linux only: not on this server") == 2
    seen, todo = {"/"}, ["/"]
    pages = {"/": index}
    while todo:
        page = todo.pop(0)
        for url in links_of(pages[page]):
            parsed = urllib.parse.urlsplit(urllib.parse.urljoin(page, url))
            assert not parsed.netloc, url
            target = parsed.path + ("?" + parsed.query if parsed.query else "")
            if target in seen:
                continue
            seen.add(target)
            status, headers, body = get(board, target)
            assert status == 200, (target, status, body[:300])
            if headers["content-type"][0].startswith("text/html"):
                pages[target] = body
                todo.append(target)
    expected = {
        "/cgi-bin/form.py",
        "/cgi-bin/api.py?n=2&n=3.5&n=4",
        "/hello.py?name=Ada%20Lovelace",
    }
    expected |= {"/cgi-bin/env.py/extra/path?a=1&b=two%20words", "/files/", "/style.css"}
    expected |= {"/files/a%20%26%20b.txt", "/"}
    assert expected <= seen, seen
    assert not [u for u in seen if "uptime" in u or ".php" in u]


def test_the_helpers_on_the_board(board):
    # a fresh board (a deploy ends with a reset): its heap holds none of the demo pages
    # compiled by the test above; with all of them, the 64-bit emulator's heap, twice as
    # full as an ESP32's with the same objects, has too little left for an upload
    result = site_deploy(board, make_site(board, "helpers"), "--delete")
    assert result.returncode == 0, result.stdout + result.stderr
    # the query, and a JSON body, to the JSON API
    status, headers, body = get(board, "/cgi-bin/api.py?n=2&n=3.5&n=4")
    assert (status, headers["content-type"]) == (200, ["application/json"])
    assert json.loads(body) == {"count": 3, "sum": 9.5, "mean": 9.5 / 3}
    api = {"Content-Type": "application/json"}
    status, _, body = request(
        board.port, "POST", "/cgi-bin/api.py", api, b'{"numbers": [1, 2]}', timeout=TIMEOUT
    )
    assert (status, json.loads(body)) == (200, {"count": 2, "sum": 3, "mean": 1.5})
    status, _, body = request(board.port, "POST", "/cgi-bin/api.py", api, b"{", timeout=TIMEOUT)
    assert (status, json.loads(body)) == (400, {"error": "the body is not valid JSON"})
    # an urlencoded form, escaped, a repeated name kept
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _, body = request(
        board.port,
        "POST",
        "/cgi-bin/form.py",
        form,
        b"name=Ada+L&message=%3Cb%3E+%26+%C3%A9&t=1&t=2",
        timeout=TIMEOUT,
    )
    assert status == 200
    assert "<dd>&lt;b&gt; &amp; é</dd>".encode() in body and b"<dd>Ada L</dd>" in body
    assert b"<dt>t</dt>\n  <dd>1</dd>\n  <dt>t</dt>\n  <dd>2</dd>" in body
    status, _, _ = request(board.port, "POST", "/cgi-bin/form.py", api, b"{}", timeout=TIMEOUT)
    assert status == 415
    # a multipart upload, written to the board's flash
    data = bytes(range(256)) * 24 + b"\r\n--not-the-boundary\r\n"
    boundary = "----b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="t.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    multipart = {"Content-Type": "multipart/form-data; boundary=" + boundary}
    status, _, answer = request(board.port, "POST", "/upload.py", multipart, body, timeout=TIMEOUT)
    assert status == 200, answer
    assert json.loads(answer) == {
        "fields": {"note": "hello"},
        "upload": {
            "filename": "t.bin",
            "type": "application/octet-stream",
            "size": len(data),
            "path": "data/upload.bin",
        },
    }
    assert (board.flash / "data" / "upload.bin").read_bytes() == data
    too_big = body.replace(data, data * 2)
    status, _, answer = request(
        board.port, "POST", "/upload.py", multipart, too_big, timeout=TIMEOUT
    )
    assert (status, json.loads(answer)) == (413, {"error": "the file is more than 8000 bytes"})
    assert not (board.flash / "data" / "upload.bin").exists()  # the partial file is removed


# -- mirror mode --------------------------------------------------------------------------


def put(board, path, data):
    """A file on the board's flash, as a script or the user would leave it there."""
    target = board.flash / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def test_mirror_mode_dry_run_delete_and_keep(board):
    site = make_site(board, "mirror")
    assert site_deploy(board, site, "--delete").returncode == 0
    # what the board has beyond the site: the user's boot.py and data at the flash's root,
    # a script's data under the site's folder, a page deleted from the site, old firmware
    put(board, "boot.py", b"# the user's own\n")
    put(board, "data/readings.csv", b"t,v\n1,2\n")
    put(board, "www/data/log.txt", b"a script's log\n")
    put(board, "www/old/page.html", b"<p>old</p>\n")
    put(board, "lib/microcgi/stale.mpy", b"M\x06")

    # without --delete: kept, and said so
    dry = site_deploy(board, site, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    lines = dry.stdout.splitlines()
    assert "would delete lib/microcgi/stale.mpy" in lines  # stale firmware: always
    assert "would keep www/old/page.html (not in the site; --delete removes it)" in lines
    assert re.search(
        r"^dry run: 0 files would be copied \(0 bytes\), \d+ unchanged, 1 deleted, 2 kept",
        dry.stdout,
        re.M,
    )

    # --dry-run --delete --keep: the plan, and nothing done; the board serves again
    dry = site_deploy(board, site, "--dry-run", "--delete", "--keep", "/www/data/")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    lines = dry.stdout.splitlines()
    assert "would delete www/old/page.html" in lines and "would delete www/old/" in lines
    assert "would delete lib/microcgi/stale.mpy" in lines
    assert "would keep www/data/log.txt (--keep www/data)" in lines
    assert re.search(
        r"^dry run: 0 files would be copied \(0 bytes\), \d+ unchanged, 2 deleted, 1 kept",
        dry.stdout,
        re.M,
    )
    assert last_line(dry) == (
        f"the board is back: microcgi is running at {board.url}, serving its previous site "
        "(nothing changed)"
    )
    assert get(board, "/old/page.html")[0] == 200  # the dry run deleted nothing

    # the real thing, with a page gone from the site and a folder gone too
    site2 = make_site(board, "mirror2", {"new.html": b"<p>new</p>\n"}, drop=["files", "hello.py"])
    done = site_deploy(board, site2, "--delete", "--keep", "www/data")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for path in (
        "www/hello.py",
        "www/old/page.html",
        "www/files/notes.txt",
        "lib/microcgi/stale.mpy",
    ):
        assert f"delete {path}" in lines, done.stdout
    assert "delete www/files/" in lines and "delete www/old/" in lines
    assert copies(done.stdout) == ["www/new.html"]
    summary = r"^copied 1 file \(11 bytes\), \d+ unchanged, 7 deleted, 1 kept that the site "
    assert re.search(summary + "does not have$", done.stdout, re.M), done.stdout
    assert get(board, "/old/page.html")[0] == 404
    assert get(board, "/hello.py")[0] == 404
    assert get(board, "/files/")[0] == 404
    assert get(board, "/new.html")[:3:2] == (200, b"<p>new</p>\n")
    assert get(board, "/data/log.txt")[2] == b"a script's log\n"  # kept
    # outside the site's folder and lib/microcgi nothing is touched
    assert (board.flash / "boot.py").read_bytes() == b"# the user's own\n"
    assert (board.flash / "data" / "readings.csv").exists()
    assert not (board.flash / "lib" / "microcgi" / "stale.mpy").exists()


# -- the board always comes back ----------------------------------------------------------


def test_a_full_flash_leaves_the_board_serving_its_previous_site(board):
    site = make_site(board, "before-full")
    assert site_deploy(board, site, "--delete").returncode == 0
    big = make_site(board, "too-big", {"big.bin": os.urandom(3 * 1024 * 1024)})
    result = site_deploy(board, big, "--delete")
    assert result.returncode == 1
    assert result.stderr.startswith("deploy: flash full: the files need "), result.stderr
    assert copies(result.stdout) == []
    assert "resetting the board" in result.stdout
    assert last_line(result) == (
        f"the board is back: microcgi is running at {board.url}, serving its previous site"
    )
    assert get(board, "/hello.py?name=back")[2] == b"hello back\n"


def test_ctrl_c_during_the_copy_leaves_the_board_serving(board):
    site = make_site(board, "before-ctrl-c")
    assert site_deploy(board, site, "--delete").returncode == 0
    heavy = make_site(
        board, "heavy", {f"blob/{i:02}.bin": os.urandom(40 * 1024) for i in range(20)}
    )
    argv = [sys.executable, str(DEPLOY), "--board", "esp32", "--device", board.serial]
    argv += ["--site", str(heavy), "--wifi-ssid", SSID, "--http-port", str(board.port)]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=deploy_env(),
        text=True,
    )
    try:
        out = []
        for line in proc.stdout:
            out.append(line)
            if line.startswith("[1/"):  # the first file is on its way
                proc.send_signal(signal.SIGINT)
                break
        out.append(proc.stdout.read())
        err = proc.stderr.read()
        proc.wait(180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stdout = "".join(out)
    assert proc.returncode == 1, stdout + err
    assert err.splitlines()[0] == "deploy: interrupted"
    assert len(copies(stdout)) < 20
    assert stdout.strip().splitlines()[-1] == (
        f"the board is back: microcgi is running at {board.url}, serving a partly copied "
        "site: deploy again"
    )
    assert get(board, "/hello.py?name=again")[2] == b"hello again\n"


# -- what deploy checks before it copies ------------------------------------------------------


def test_a_syntax_error_stops_the_deploy_before_the_board_is_touched(board):
    site = make_site(board, "good")
    assert site_deploy(board, site, "--delete").returncode == 0
    reboots = board.output().count("soft reboot")
    bad = make_site(
        board,
        "bad",
        {
            "cgi-bin/broken.py": b"def main(environ, stdin, stdout):\n    x = (1,\n    return\n",
            "fine.txt": b"new\n",
        },
    )
    result = site_deploy(board, bad, "--delete")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"deploy: {bad / 'cgi-bin' / 'broken.py'}, line 3: SyntaxError: invalid syntax "
        "(1 script does not compile; nothing was copied)"
    ]
    assert "board:" not in result.stdout  # the board was never asked
    assert not (board.flash / "www" / "fine.txt").exists()
    assert board.output().count("soft reboot") == reboots
    assert get(board, "/hello.py?name=still")[2] == b"hello still\n"


def test_scripts_a_board_cannot_run_are_skipped_or_copied_as_data(board):
    site = make_site(board, "with-shell")
    result = site_deploy(board, site, "--delete", "--include-unrunnable")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "skip " not in result.stdout
    assert "www/cgi-bin/uptime.sh" in copies(result.stdout)
    assert (board.flash / "www" / "cgi-bin" / "uptime.sh").read_bytes() == (
        WWW / "cgi-bin" / "uptime.sh"
    ).read_bytes()
    # data on the flash: the board's server never serves a script's source
    status, _, body = get(board, "/cgi-bin/uptime.sh")
    assert status == 403 and b"#!/bin/sh" not in body
    again = site_deploy(board, site, "--delete")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "delete www/cgi-bin/uptime.sh" in again.stdout.splitlines()
    assert not (board.flash / "www" / "cgi-bin" / "uptime.sh").exists()
