"""Error pages: a browser (Accept: text/html) gets a small HTML page for a 4xx/5xx, other
clients keep plain text; --error-page STATUS=PATH (config error_pages) answers with the
site's own page and the right status."""

import json
import subprocess
import sys

from helpers import request

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def _site(tmp_path):
    root = tmp_path / "www"
    (root / "private").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "404.html").write_text("<h1>our own 404</h1>\n")
    return root


def test_browser_gets_html_others_plain_text(serve, tmp_path):
    server = serve(_site(tmp_path))
    status, headers, body = request(server.port, "GET", "/private/missing.txt", BROWSER)
    assert status == 404
    assert headers["content-type"] == ["text/html; charset=utf-8"]
    assert b"<title>404 Not Found</title>" in body and b"<h1>404 Not Found</h1>" in body
    assert b"private" not in body and b"missing" not in body and str(tmp_path) not in str(body)
    status, headers, body = request(server.port, "POST", "/a.txt", BROWSER, body=b"x")
    assert status == 405 and b"<h1>405 Method Not Allowed</h1>" in body
    status, headers, body = request(server.port, "GET", "/private/missing.txt")
    assert status == 404 and headers["content-type"] == ["text/plain; charset=utf-8"]
    assert body.startswith(b"404 Not Found\n")
    status, headers, body = request(server.port, "HEAD", "/nothing", BROWSER)
    assert status == 404 and body == b""


def test_site_error_page(serve, tmp_path):
    server = serve(_site(tmp_path), "--error-page", "404=/404.html")
    for headers in (BROWSER, {}):
        status, got, body = request(server.port, "GET", "/nothing/here", headers)
        assert (status, body) == (404, b"<h1>our own 404</h1>\n")
        assert got["content-type"] == ["text/html; charset=utf-8"]
    # other statuses are unchanged
    status, _, body = request(server.port, "POST", "/a.txt", body=b"x")
    assert status == 405 and body.startswith(b"405 Method Not Allowed\n")


def test_error_pages_from_the_config_file(serve, tmp_path):
    root = _site(tmp_path)
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"error_pages": {"404": "/404.html"}}))
    server = serve(root, "--config", config)
    status, _, body = request(server.port, "GET", "/nothing")
    assert (status, body) == (404, b"<h1>our own 404</h1>\n")


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "microcgi", "serve", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_bad_error_pages_are_start_up_errors(tmp_path):
    root = _site(tmp_path)
    for arg, says in [
        ("404=/gone.html", "error page 404=/gone.html: no such file under"),
        ("200=/404.html", "expected STATUS=/PATH with a 4xx or 5xx STATUS"),
        ("404=404.html", "expected STATUS=/PATH"),
        ("404=/../404.html", "expected STATUS=/PATH"),
    ]:
        result = _cli(root, "--port", "0", "--error-page", arg)
        assert result.returncode == 2, (arg, result.stderr)
        assert says in result.stderr and result.stderr.count("\n") == 1, (arg, result.stderr)


def test_bad_error_pages_in_the_config_file(tmp_path):
    root = _site(tmp_path)
    for pages, says in [
        ({"200": "/404.html"}, "error_pages: expected STATUS: /PATH"),
        ({"404": "404.html"}, "error_pages: expected STATUS: /PATH"),
        ({"404": "/gone.html"}, "error page 404=/gone.html: no such file under"),
        ({"404": 7}, "error_pages must be an object of strings"),
    ]:
        config = tmp_path / "c.json"
        config.write_text(json.dumps({"error_pages": pages}))
        result = _cli(root, "--port", "0", "--config", config)
        assert result.returncode == 2, (pages, result.stderr)
        assert says in result.stderr and result.stderr.count("\n") == 1, (pages, result.stderr)


def test_a_large_page_is_sent_from_the_file_and_head_has_none(serve, tmp_path):
    # issue 13: sent as a static file is (the 64 KiB it was once read into memory whole
    # is no bound any more)
    root = _site(tmp_path)
    page = b"<p>" + b"x" * (200 * 1024) + b"</p>\n"
    (root / "big.html").write_bytes(page)
    server = serve(root, "--error-page", "404=/big.html", "--error-page", "405=/404.html")
    status, headers, body = request(server.port, "GET", "/nothing")
    assert (status, body) == (404, page)
    assert headers["content-length"] == [str(len(page))]
    status, headers, body = request(server.port, "HEAD", "/nothing")
    assert (status, body) == (404, b"") and headers["content-length"] == [str(len(page))]
    status, _, body = request(server.port, "POST", "/a.txt", body=b"x")
    assert (status, body) == (405, b"<h1>our own 404</h1>\n")
    # a page that went away since the start: the built-in answer
    (root / "404.html").unlink()
    status, _, body = request(server.port, "POST", "/a.txt", BROWSER, body=b"x")
    assert status == 405 and b"<h1>405 Method Not Allowed</h1>" in body
