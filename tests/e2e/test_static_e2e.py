"""End-to-end static file serving (SPEC section 4), against a real server process.

(Named test_static_e2e.py, not test_static.py: tests/core/test_static.py exists and pytest
imports test modules by their base name.)
"""

import email.utils
import hashlib
import html.parser
import os
import sys
import urllib.parse

import pytest
from helpers import request

SECRET = b"TOP-SECRET-outside-the-root\n"
MTIME = 1_600_000_000  # 2020-09-13T12:26:40Z: a fixed Last-Modified
RANGE_FILE = bytes(range(100))


def one(headers, name):
    """The single value of a header (request() gives lists), or None."""
    values = headers.get(name, [])
    assert len(values) <= 1, "%s repeated: %r" % (name, values)
    return values[0] if values else None


def make_site(tmp_path):
    """ROOT = tmp/www; a secret next to it, in a sibling folder whose name starts alike."""
    root = tmp_path / "www"
    root.mkdir()
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (tmp_path / "www2").mkdir()
    (tmp_path / "www2" / "secret.txt").write_bytes(SECRET)
    (root / "hello.txt").write_bytes(b"hello, world\n")
    (root / "range.bin").write_bytes(RANGE_FILE)
    os.utime(root / "hello.txt", (MTIME, MTIME))
    (root / "a").mkdir()
    (root / "a" / "b.txt").write_bytes(b"in a\n")
    (root / "a" / "index.html").write_bytes(b"<p>index of a</p>\n")
    (root / "plain").mkdir()
    (root / "plain" / "x.txt").write_bytes(b"x\n")
    (root / "my dir").mkdir()
    (root / "my dir" / "index.html").write_bytes(b"spaced\n")
    # Symlinks: one that leaves ROOT (file and folder), one that stays inside.
    (root / "leak.txt").symlink_to(tmp_path / "secret.txt")
    (root / "out").symlink_to(tmp_path)
    (root / "alias.txt").symlink_to(root / "hello.txt")
    return root


@pytest.fixture
def site(tmp_path):
    return make_site(tmp_path)


# --- GET and HEAD ---------------------------------------------------------------------


def test_get_a_file(serve, site):
    """SPEC 4: GET of a file under ROOT gives its bytes."""
    srv = serve(site)
    status, headers, body = request(srv.port, "GET", "/hello.txt")
    assert (status, body) == (200, b"hello, world\n")
    assert one(headers, "content-length") == "13"


def test_get_a_file_in_a_subfolder_and_through_an_inner_symlink(serve, site):
    """SPEC 4: subfolders work; a symlink that stays inside ROOT is an ordinary file."""
    srv = serve(site)
    assert request(srv.port, "GET", "/a/b.txt")[::2] == (200, b"in a\n")
    assert request(srv.port, "GET", "/alias.txt")[::2] == (200, b"hello, world\n")


def test_percent_encoded_names_are_decoded_once(serve, site):
    """SPEC 4: the path is %-decoded once: %20 is a space, %2541 is the name '%41'."""
    (site / "sp ace.txt").write_bytes(b"space\n")
    (site / "%41.txt").write_bytes(b"percent\n")
    (site / "A.txt").write_bytes(b"not me\n")
    srv = serve(site)
    assert request(srv.port, "GET", "/sp%20ace.txt")[::2] == (200, b"space\n")
    assert request(srv.port, "GET", "/%2541.txt")[::2] == (200, b"percent\n")
    assert request(srv.port, "GET", "/%68ello.txt")[::2] == (200, b"hello, world\n")


def test_query_string_is_not_part_of_the_file_name(serve, site):
    """SPEC 4: the query is not part of the path."""
    srv = serve(site)
    assert request(srv.port, "GET", "/hello.txt?x=1&y=%2F")[::2] == (200, b"hello, world\n")


def test_head_a_file(serve, site):
    """SPEC 3/4: HEAD gives GET's head and no body."""
    srv = serve(site)
    _, get_headers, _ = request(srv.port, "GET", "/hello.txt")
    status, headers, body = request(srv.port, "HEAD", "/hello.txt")
    assert (status, body) == (200, b"")
    for name in ("content-length", "content-type", "last-modified", "etag"):
        assert headers.get(name) == get_headers.get(name), name


def test_missing_file_is_404(serve, site):
    """SPEC 4: a missing file → 404 with a body framed correctly."""
    srv = serve(site)
    for path in ("/nope.txt", "/nope/deeper/x.txt", "/hello.txt/x", "/a/nope.html"):
        status, headers, body = request(srv.port, "GET", path)
        assert status == 404, path
        assert one(headers, "content-length") == str(len(body))
        assert b"hello" not in body


MIME = {
    "page.html": "text/html",
    "page.htm": "text/html",
    "style.css": "text/css",
    "notes.txt": "text/plain",
    "data.json": "application/json",
    "pic.png": "image/png",
    "pic.jpg": "image/jpeg",
    "pic.gif": "image/gif",
    "logo.svg": "image/svg+xml",
    "UPPER.PNG": "image/png",
    "blob.weirdext": "application/octet-stream",
    "noextension": "application/octet-stream",
}


def test_mime_types_from_the_extension(serve, site):
    """SPEC 4: MIME type from a built-in table; unknown → application/octet-stream."""
    for name in [*MIME, "app.js"]:
        (site / name).write_bytes(b"x")
    srv = serve(site)
    for name, expected in MIME.items():
        _, headers, _ = request(srv.port, "GET", "/" + name)
        ctype = one(headers, "content-type")
        assert ctype and ctype.split(";")[0].strip().lower() == expected, (name, ctype)
    _, headers, _ = request(srv.port, "GET", "/app.js")
    ctype = one(headers, "content-type").split(";")[0].strip()
    assert ctype in ("text/javascript", "application/javascript"), ctype


# --- staying inside ROOT --------------------------------------------------------------

TRAVERSALS = [
    "/../secret.txt",
    "/../../../../../../etc/passwd",
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/.%2e/secret.txt",
    "/a/../../secret.txt",
    "/a/..%2f..%2fsecret.txt",
    "/a/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/..%2fsecret.txt",
    "/..%5csecret.txt",
    "/../www2/secret.txt",  # a sibling whose name starts like ROOT's
    "/%2e%2e/www2/secret.txt",
    "/%252e%252e/secret.txt",  # decoded once: a folder literally named %2e%2e
    "/hello.txt%00.html",
    "/%00",
    "/a%2fb.txt",  # encoded slash: a/b.txt exists, but not by this name
    "/a%2Fb.txt",
]


# symlinks leaving ROOT: refused with --no-follow-symlinks (followed by default)
LEAVING_LINKS = [
    "/leak.txt",  # symlink to a file outside ROOT
    "/out/secret.txt",  # symlink to a folder outside ROOT
    "/out/www2/secret.txt",
    "/out/",
]


@pytest.mark.parametrize(
    "path,args",
    [(p, ()) for p in TRAVERSALS] + [(p, ("--no-follow-symlinks",)) for p in LEAVING_LINKS],
)
def test_no_file_outside_root(serve, site, path, args):
    """SPEC 4: `..`, %2e%2e, encoded slashes, NUL → 403 or 404; leaving symlinks too
    with --no-follow-symlinks."""
    srv = serve(site, *args)
    status, headers, body = request(srv.port, "GET", path)
    assert SECRET not in body
    assert b"root:" not in body
    assert status in (403, 404), (path, status, body[:200])
    assert one(headers, "content-length") == str(len(body))


def test_traversal_does_not_reveal_an_outside_listing(serve, site):
    """SPEC 4: a folder outside ROOT is not listed either."""
    srv = serve(site, "--no-follow-symlinks")
    for path in ("/out/", "/%2e%2e/", "/../", "/a/..%2f..%2f"):
        status, _, body = request(srv.port, "GET", path)
        assert b"www2" not in body and b"secret.txt" not in body, path
        assert status in (403, 404), (path, status)


# --- folders --------------------------------------------------------------------------


def test_folder_serves_its_index_file(serve, site):
    """SPEC 4: a folder with index.html serves it."""
    srv = serve(site)
    assert request(srv.port, "GET", "/a/")[::2] == (200, b"<p>index of a</p>\n")
    status, headers, _ = request(srv.port, "GET", "/a/")
    assert one(headers, "content-type").startswith("text/html")


def test_index_names_come_from_the_flag_in_order(serve, site):
    """SPEC 2/4: --index NAMES, tried in the order given."""
    (site / "b").mkdir()
    (site / "b" / "home.htm").write_bytes(b"home\n")
    (site / "b" / "index.html").write_bytes(b"index\n")
    srv = serve(site, "--index", "home.htm,index.html")
    assert request(srv.port, "GET", "/b/")[::2] == (200, b"home\n")
    assert request(srv.port, "GET", "/a/")[::2] == (200, b"<p>index of a</p>\n")


def test_index_script_runs(serve, site):
    """SPEC 4/5: index.py as a folder's index runs as a script, never served as text."""
    (site / "app").mkdir()
    script = site / "app" / "index.py"
    script.write_bytes(b'print("Content-Type: text/plain")\nprint()\nprint("ran " + "index.py")\n')
    script.chmod(0o755)
    srv = serve(site, "--cgi", ".py=" + sys.executable)
    status, _, body = request(srv.port, "GET", "/app/")
    assert (status, body) == (200, b"ran index.py\n")


def test_folder_without_slash_redirects(serve, site):
    """SPEC 4: a folder URL without its trailing slash → 301 to the slash form."""
    srv = serve(site)
    for path, target in (("/a", "/a/"), ("/plain", "/plain/"), ("/my%20dir", "/my dir/")):
        status, headers, body = request(srv.port, "GET", path)
        assert status == 301, path
        location = one(headers, "location")
        assert location and " " not in location, location
        loc_path = urllib.parse.urlsplit(location).path
        assert loc_path.endswith("/"), location
        assert urllib.parse.unquote(loc_path) == target, location
        assert one(headers, "content-length") == str(len(body))


def test_folder_redirect_with_a_query(serve, site):
    """SPEC 4: the 301 for "/a?x=1" points at the folder (query kept or dropped)."""
    srv = serve(site)
    status, headers, _ = request(srv.port, "GET", "/a?x=1")
    assert status == 301
    location = one(headers, "location")
    parts = urllib.parse.urlsplit(location)
    assert parts.path == "/a/", location
    assert parts.query in ("", "x=1"), location


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs += [value for name, value in attrs if name == "href" and value]


LISTED = ["plain.txt", "a b.txt", "<script>x.txt", "amp&amp.txt", 'q"uote.txt', "100%.txt"]
LISTED += ["hash#x.txt", "what?.txt", "caf\u00e9.txt"]


def test_listing_escapes_names_and_its_links_work(serve, site):
    """SPEC 4: a folder without index → an HTML listing; names escaped; every link works."""
    folder = site / "list"
    folder.mkdir()
    for name in LISTED:
        (folder / name).write_bytes(b"content of " + name.encode())
    (folder / "sub").mkdir()
    srv = serve(site)
    status, headers, body = request(srv.port, "GET", "/list/")
    assert status == 200
    assert one(headers, "content-type").startswith("text/html")
    text = body.decode("utf-8")
    assert "<script>" not in text
    assert "&lt;script&gt;x.txt" in text
    assert "amp&amp;amp.txt" in text
    parser = _Links()
    parser.feed(text)
    got = set()
    for href in parser.hrefs:
        # What a browser does with the href: resolve it, drop a fragment, encode what
        # cannot appear in a request line. A '#' or '?' in a name must be %-encoded.
        url = urllib.parse.urljoin("http://h/list/", href)
        parts = urllib.parse.urlsplit(url)
        target = urllib.parse.quote(parts.path, safe="/%")
        if parts.query:
            target += "?" + parts.query
        status, _, page = request(srv.port, "GET", target)
        if status == 200 and page.startswith(b"content of "):
            got.add(page[len(b"content of ") :].decode())
    assert got == set(LISTED), "links that did not lead to their file: %r" % (set(LISTED) - got)
    assert "sub/" in parser.hrefs or "/list/sub/" in parser.hrefs, parser.hrefs


def test_no_listing_flag_gives_403(serve, site):
    """SPEC 4: --no-listing → 403 for a folder without index; index files still work."""
    srv = serve(site, "--no-listing")
    status, headers, body = request(srv.port, "GET", "/plain/")
    assert status == 403
    assert b"x.txt" not in body
    assert one(headers, "content-length") == str(len(body))
    assert request(srv.port, "GET", "/a/")[::2] == (200, b"<p>index of a</p>\n")
    assert request(srv.port, "GET", "/plain/x.txt")[::2] == (200, b"x\n")


# --- conditional requests -------------------------------------------------------------


def test_last_modified_and_if_modified_since(serve, site):
    """SPEC 4: Last-Modified is the file's mtime; If-Modified-Since → 304 when not newer."""
    srv = serve(site)
    _, headers, _ = request(srv.port, "GET", "/hello.txt")
    last_modified = one(headers, "last-modified")
    assert last_modified and last_modified.endswith(" GMT"), last_modified
    assert email.utils.parsedate_to_datetime(last_modified).timestamp() == MTIME
    later = email.utils.formatdate(MTIME + 3600, usegmt=True)
    earlier = email.utils.formatdate(MTIME - 3600, usegmt=True)
    for since, expected in ((last_modified, 304), (later, 304), (earlier, 200), ("junk", 200)):
        status, headers, body = request(
            srv.port, "GET", "/hello.txt", headers={"If-Modified-Since": since}
        )
        assert status == expected, since
        assert body == (b"" if expected == 304 else b"hello, world\n")


def test_etag_and_if_none_match(serve, site):
    """SPEC 4: ETag / If-None-Match → 304 (weak comparison, lists and * per RFC 9110 13.1.2)."""
    srv = serve(site)
    _, headers, _ = request(srv.port, "GET", "/hello.txt")
    etag = one(headers, "etag")
    assert etag and etag.endswith('"'), etag
    opaque = etag[2:] if etag.startswith("W/") else etag
    cases = [
        (etag, 304),
        ("W/" + opaque, 304),
        ('"nope", ' + etag, 304),
        ("*", 304),
        ('"nope"', 200),
    ]
    for value, expected in cases:
        status, headers, body = request(
            srv.port, "GET", "/hello.txt", headers={"If-None-Match": value}
        )
        assert status == expected, value
        if expected == 304:
            assert body == b""
            assert one(headers, "etag") == etag
    status, _, _ = request(srv.port, "HEAD", "/hello.txt", headers={"If-None-Match": etag})
    assert status == 304


def test_if_none_match_wins_over_if_modified_since(serve, site):
    """RFC 9110 13.2.2: with If-None-Match present, If-Modified-Since is ignored."""
    srv = serve(site)
    _, headers, _ = request(srv.port, "GET", "/hello.txt")
    both = {"If-None-Match": '"other"', "If-Modified-Since": one(headers, "last-modified")}
    assert request(srv.port, "GET", "/hello.txt", headers=both)[0] == 200


def test_etag_changes_when_the_file_changes(serve, site):
    """SPEC 4: after the file changes, the old ETag no longer gives 304."""
    srv = serve(site)
    _, headers, _ = request(srv.port, "GET", "/hello.txt")
    old = one(headers, "etag")
    (site / "hello.txt").write_bytes(b"hello again, world\n")
    os.utime(site / "hello.txt", (MTIME + 10, MTIME + 10))
    status, headers, body = request(srv.port, "GET", "/hello.txt", headers={"If-None-Match": old})
    assert (status, body) == (200, b"hello again, world\n")
    assert one(headers, "etag") != old


# --- ranges ---------------------------------------------------------------------------

RANGES = [
    ("bytes=0-9", 0, 9),
    ("bytes=10-", 10, 99),
    ("bytes=-5", 95, 99),
    ("bytes=90-200", 90, 99),
    ("bytes=-200", 0, 99),
    ("bytes=99-99", 99, 99),
]


@pytest.mark.parametrize(("spec", "first", "last"), RANGES)
def test_single_range_is_206(serve, site, spec, first, last):
    """SPEC 4: one byte range → 206 with Content-Range; suffix ranges count from the end."""
    srv = serve(site)
    status, headers, body = request(srv.port, "GET", "/range.bin", headers={"Range": spec})
    assert status == 206
    assert one(headers, "content-range") == "bytes %d-%d/100" % (first, last)
    assert body == RANGE_FILE[first : last + 1]
    assert one(headers, "content-length") == str(last - first + 1)


@pytest.mark.parametrize("spec", ["bytes=100-", "bytes=200-300", "bytes=-0"])
def test_unsatisfiable_range_is_416(serve, site, spec):
    """SPEC 4: an unsatisfiable range → 416 with `Content-Range: bytes */size`."""
    srv = serve(site)
    status, headers, body = request(srv.port, "GET", "/range.bin", headers={"Range": spec})
    assert status == 416
    assert one(headers, "content-range") == "bytes */100"
    assert RANGE_FILE not in body


@pytest.mark.parametrize("spec", ["bytes=abc", "items=0-5", "bytes"])
def test_unparsable_range_is_ignored(serve, site, spec):
    """RFC 9110 14.2: a Range the server does not understand is ignored → 200, whole file."""
    srv = serve(site)
    status, _, body = request(srv.port, "GET", "/range.bin", headers={"Range": spec})
    assert (status, body) == (200, RANGE_FILE)


# --- big files ------------------------------------------------------------------------


def test_a_one_mebibyte_file_streams_intact(serve, site):
    """SPEC 4: files are streamed in chunks; every byte arrives, in order."""
    data = hashlib.sha256(b"seed").digest() * (1024 * 1024 // 32) + b"tail!!!"
    (site / "big.bin").write_bytes(data)
    srv = serve(site)
    status, headers, body = request(srv.port, "GET", "/big.bin", timeout=10)
    assert status == 200
    assert one(headers, "content-length") == str(len(data))
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()
    status, headers, body = request(
        srv.port, "GET", "/big.bin", headers={"Range": "bytes=500000-500099"}
    )
    assert (status, body) == (206, data[500000:500100])
    status, headers, body = request(srv.port, "HEAD", "/big.bin")
    assert (status, body, one(headers, "content-length")) == (200, b"", str(len(data)))
