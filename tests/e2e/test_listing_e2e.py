"""A listing names only what the server would serve: no dot names (404 by default), no FIFO
(403), and with --no-follow-symlinks no symlink leaving the root (403)."""

import os

from helpers import request


def _site(tmp_path):
    root = tmp_path / "www"
    (root / "d").mkdir(parents=True)
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    (root / "d" / "plain.txt").write_text("plain")
    (root / "d" / ".hidden").write_text("hidden")
    os.mkfifo(root / "d" / "pipe")
    (root / "d" / "out.txt").symlink_to(outside)
    (root / "d" / "in.txt").symlink_to(root / "d" / "plain.txt")
    return root


def test_listing_leaves_out_what_is_refused(serve, tmp_path):
    server = serve(_site(tmp_path), "--no-follow-symlinks")
    status, _, page = request(server.port, "GET", "/d/")
    assert status == 200
    assert b'href="plain.txt"' in page and b'href="in.txt"' in page
    for name in (b".hidden", b"pipe", b"out.txt"):
        assert b'href="' + name not in page, name
    assert request(server.port, "GET", "/d/plain.txt")[0] == 200
    assert request(server.port, "GET", "/d/in.txt")[0] == 200
    assert request(server.port, "GET", "/d/.hidden")[0] == 404
    assert request(server.port, "GET", "/d/pipe")[0] == 403
    assert request(server.port, "GET", "/d/out.txt")[0] == 403


def test_listing_shows_followed_symlinks_and_asked_for_dotfiles(serve, tmp_path):
    server = serve(_site(tmp_path), "--serve-dotfiles")
    status, _, page = request(server.port, "GET", "/d/")
    assert status == 200
    assert b'href="out.txt"' in page and b'href=".hidden"' in page
    assert b'href="pipe"' not in page
    assert request(server.port, "GET", "/d/out.txt")[:3:2] == (200, b"secret")
    assert request(server.port, "GET", "/d/.hidden")[:3:2] == (200, b"hidden")
