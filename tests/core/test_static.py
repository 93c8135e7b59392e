# Static files, the pure half (SPEC section 4). Runs under pytest and MicroPython.
import io

from microcgi import conditional, listing, static, urlpath
from microcgi.errors import Forbidden, ProtocolError

# --- decode_path ----------------------------------------------------------------------

PATHS_OK = (
    (b"/", "/"),
    (b"/a/b", "/a/b"),
    (b"/a/b/", "/a/b/"),
    (b"//a///b//", "/a/b/"),
    (b"/./a/./b", "/a/b"),
    (b"/a/.", "/a/"),
    (b"/a/%2e", "/a/"),
    (b"/./", "/"),
    (b"//", "/"),
    (b"/%7Euser/x%20y", "/~user/x y"),
    (b"/caf%C3%A9", "/caf\u00e9"),
    (b"/caf%c3%a9", "/caf\u00e9"),
    (b"/caf\xc3\xa9", "/caf\u00e9"),
    (b"/%F0%9F%98%80", "/\U0001f600"),
    (b"/a+b", "/a+b"),  # no form decoding in paths
    (b"/...", "/..."),
    (b"/a..b/..c/c..", "/a..b/..c/c.."),
    (b"/%2e%2e%2e", "/..."),
    (b"/.hidden", "/.hidden"),
    # decoded exactly once: what was %2e%2e on the wire after the first decoding is a name
    (b"/%252e%252e/x", "/%2e%2e/x"),
    (b"/%252f", "/%2f"),
    (b"/%2525", "/%25"),
    (b"/a%3Fb%23c", "/a?b#c"),
)

PATHS_400 = (
    b"",
    b"a/b",
    b"*",
    b"%2Fa",
    b"/%",
    b"/%2",
    b"/a%2",
    b"/%zz",
    b"/%g0",
    b"/%0g",
    b"/% 2f",
    b"/%+f",
    b"/%-1",
    # invalid UTF-8, including overlong forms that lenient decoders turn into "/" or ".."
    b"/%ff",
    b"/%c3",
    b"/%c3%28",
    b"/\xff",
    b"/%c0%af",
    b"/%c0%ae%c0%ae/etc",
    b"/%e0%80%af",
    b"/%f0%80%80%af",
    b"/%ed%a0%80",
    b"/%f4%90%80%80",
    b"/%f8%88%80%80%80",
)

PATHS_403 = (
    b"/..",
    b"/../etc/passwd",
    b"/a/../b",
    b"/a/..",
    b"/a/../",
    b"/%2e%2e/x",
    b"/%2E%2E/x",
    b"/.%2e/x",
    b"/%2e./x",
    b"/a/%2e%2e",
    b"/a%2fb",
    b"/a%2Fb",
    b"/..%2f..%2fetc%2fpasswd",
    b"/..%2F",
    b"/a%5cb",
    b"/a%5C..",
    b"/%5c..%5c",
    b"/a\\b",
    b"/..\\x",
    b"/a%00b",
    b"/a%00",
    b"/a\x00b",
    b"/index.html%00.txt",
)


def _decode_status(raw):
    try:
        static.decode_path(raw)
    except Forbidden:
        return 403
    except ProtocolError:
        return 400
    return 200


def test_decode_path_normalises():
    for raw, want in PATHS_OK:
        got = static.decode_path(raw)
        assert got == want, (raw, got, want)


def test_decode_path_malformed_is_400():
    for raw in PATHS_400:
        assert _decode_status(raw) == 400, raw


def test_decode_path_traversal_is_403():
    for raw in PATHS_403:
        assert _decode_status(raw) == 403, raw


def test_decode_path_errors_carry_status():
    for raw, status in ((b"/%zz", 400), (b"/%2e%2e/", 403), (b"x", 400), (b"/a%2fb", 403)):
        try:
            static.decode_path(raw)
        except ProtocolError as e:
            assert e.status == status, raw
        except Forbidden as e:
            assert e.status == status, raw
        else:
            raise AssertionError("no error for %r" % raw)


def test_decode_path_never_yields_a_dot_dot_segment():
    # whatever is accepted has no ".." segment and no backslash or NUL left in it
    for raw, _ in PATHS_OK:
        path = static.decode_path(raw)
        assert path[:1] == "/"
        assert ".." not in path.split("/"), raw
        assert "\\" not in path and "\x00" not in path and "//" not in path, raw


# --- quote_path / html_escape -----------------------------------------------------------

QUOTES = (
    ("", ""),
    ("plain-name_1.0~x", "plain-name_1.0~x"),
    ("a/b", "a/b"),
    ("a b", "a%20b"),
    ("100%", "100%25"),
    ("a?b#c", "a%3Fb%23c"),
    ("x:y", "x%3Ay"),  # a relative link "x:y" would be read as a URL scheme
    ("a\"b'c<d>", "a%22b%27c%3Cd%3E"),
    ("a&b=c;d+e", "a%26b%3Dc%3Bd%2Be"),
    ("back\\slash", "back%5Cslash"),
    ("caf\u00e9", "caf%C3%A9"),
    ("\U0001f600", "%F0%9F%98%80"),
)


def test_quote_path():
    for name, want in QUOTES:
        got = urlpath.quote_path(name)
        assert got == want, (name, got, want)


def test_quote_path_round_trips_through_decode_path():
    for name, _ in QUOTES:
        if "\\" in name or name == "a/b":
            continue  # decode_path refuses those by design (403 / encoded "/")
        assert static.decode_path(("/" + urlpath.quote_path(name)).encode()) == "/" + name, name


def test_html_escape():
    for s, want in (
        ("", ""),
        ("plain", "plain"),
        ("a&b", "a&amp;b"),
        ("<script>", "&lt;script&gt;"),
        ("\"q\" 'a'", "&quot;q&quot; &#39;a&#39;"),
        ("&lt;", "&amp;lt;"),  # & first, so nothing is escaped twice or left half done
        ("caf\u00e9", "caf\u00e9"),
    ):
        assert listing.html_escape(s) == want, s


# --- mime_type ------------------------------------------------------------------------


def test_mime_type():
    html = b"text/html; charset=utf-8"
    for name, want in (
        ("index.html", html),
        ("INDEX.HTM", html),
        ("/a/b/page.Html", html),
        ("notes.txt", b"text/plain; charset=utf-8"),
        ("style.css", b"text/css"),
        ("app.js", b"text/javascript"),
        ("data.json", b"application/json"),
        ("feed.xml", b"application/xml"),
        ("logo.svg", b"image/svg+xml"),
        ("a.png", b"image/png"),
        ("a.jpg", b"image/jpeg"),
        ("a.JPEG", b"image/jpeg"),
        ("a.gif", b"image/gif"),
        ("favicon.ico", b"image/x-icon"),
        ("a.webp", b"image/webp"),
        ("m.wasm", b"application/wasm"),
        ("doc.pdf", b"application/pdf"),
        ("a.zip", b"application/zip"),
        ("site.tar.gz", b"application/gzip"),
        ("song.mp3", b"audio/mpeg"),
        ("clip.mp4", b"video/mp4"),
        ("f.woff", b"font/woff"),
        ("f.woff2", b"font/woff2"),
        ("t.csv", b"text/csv; charset=utf-8"),
        ("README.md", b"text/markdown; charset=utf-8"),
        ("noext", b"application/octet-stream"),
        ("firmware.bin", b"application/octet-stream"),
        ("x.unknownext", b"application/octet-stream"),
        ("trailing.", b"application/octet-stream"),
        (".html", b"application/octet-stream"),  # a hidden name, not an extension
        ("/dir.html/file", b"application/octet-stream"),  # the dot is in a folder name
        (b"a.png", b"image/png"),
    ):
        got = static.mime_type(name)
        assert got == want, (name, got, want)


# --- etag -------------------------------------------------------------------------------


def test_etag():
    assert static.etag(0x1C, 0x5F3A) == b'"5f3a-1c"'
    assert static.etag(0, 0) == b'"0-0"'
    # a change of size or of mtime changes the tag
    tags = set()
    for size, mtime in ((1, 1), (2, 1), (1, 2), (0x10, 0x1), (0x1, 0x10)):
        tags.add(static.etag(size, mtime))
    assert len(tags) == 5


# --- evaluate ---------------------------------------------------------------------------

MTIME = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT
DATE = b"Sun, 06 Nov 1994 08:49:37 GMT"
LATER = b"Sun, 06 Nov 1994 08:49:38 GMT"
EARLIER = b"Sun, 06 Nov 1994 08:49:36 GMT"
SIZE = 100
TAG = static.etag(SIZE, MTIME)
OTHER = b'"0-0"'
WHOLE = (200, 0, SIZE)
NOT_MODIFIED = (304, 0, 0)
UNSATISFIABLE = (416, 0, 0)

EVALUATE = (
    # (method, headers, want)
    (b"GET", {}, WHOLE),
    (b"HEAD", {}, WHOLE),
    # If-None-Match: weak comparison, lists, "*"
    (b"GET", {b"if-none-match": TAG}, NOT_MODIFIED),
    (b"HEAD", {b"if-none-match": TAG}, NOT_MODIFIED),
    (b"GET", {b"if-none-match": b"W/" + TAG}, NOT_MODIFIED),
    (b"GET", {b"if-none-match": b" " + TAG + b" "}, NOT_MODIFIED),
    (b"GET", {b"if-none-match": OTHER}, WHOLE),
    (b"GET", {b"if-none-match": TAG[:-1]}, WHOLE),
    (b"GET", {b"if-none-match": OTHER + b", " + TAG}, NOT_MODIFIED),
    (b"GET", {b"if-none-match": OTHER + b"," + b"W/" + TAG}, NOT_MODIFIED),
    (b"GET", {b"if-none-match": b'"a", "b"'}, WHOLE),
    (b"GET", {b"if-none-match": b"*"}, NOT_MODIFIED),
    # If-Modified-Since
    (b"GET", {b"if-modified-since": DATE}, NOT_MODIFIED),
    (b"HEAD", {b"if-modified-since": DATE}, NOT_MODIFIED),
    (b"GET", {b"if-modified-since": LATER}, NOT_MODIFIED),
    (b"GET", {b"if-modified-since": EARLIER}, WHOLE),
    (b"GET", {b"if-modified-since": b"yesterday"}, WHOLE),
    (b"GET", {b"if-modified-since": b""}, WHOLE),
    (b"GET", {b"if-modified-since": LATER + b", " + LATER}, WHOLE),
    (b"GET", {b"if-modified-since": b"Sun, 06 Nov 1994 08:49:38 UTC"}, WHOLE),
    # If-None-Match present: If-Modified-Since is not looked at (RFC 9110 section 13.1.3)
    (b"GET", {b"if-none-match": OTHER, b"if-modified-since": LATER}, WHOLE),
    (b"GET", {b"if-none-match": TAG, b"if-modified-since": EARLIER}, NOT_MODIFIED),
    # Range forms
    (b"GET", {b"range": b"bytes=0-9"}, (206, 0, 10)),
    (b"GET", {b"range": b"bytes=0-0"}, (206, 0, 1)),
    (b"GET", {b"range": b"bytes=10-"}, (206, 10, SIZE)),
    (b"GET", {b"range": b"bytes=0-"}, (206, 0, SIZE)),
    (b"GET", {b"range": b"bytes=99-99"}, (206, 99, SIZE)),
    (b"GET", {b"range": b"bytes=99-"}, (206, 99, SIZE)),
    (b"GET", {b"range": b"bytes=90-200"}, (206, 90, SIZE)),  # last-pos clamped
    (b"GET", {b"range": b"bytes=0-99999999999999999999"}, (206, 0, SIZE)),
    (b"GET", {b"range": b"bytes=-10"}, (206, 90, SIZE)),  # suffix: the last 10 bytes
    (b"GET", {b"range": b"bytes=-1"}, (206, 99, SIZE)),
    (b"GET", {b"range": b"bytes=-100"}, (206, 0, SIZE)),
    (b"GET", {b"range": b"bytes=-500"}, (206, 0, SIZE)),  # longer than the file: all of it
    (b"GET", {b"range": b"Bytes=0-9"}, (206, 0, 10)),  # range units are case-insensitive
    (b"GET", {b"range": b"bytes=0-9,"}, (206, 0, 10)),  # empty list elements are allowed
    (b"GET", {b"range": b"bytes= 5-9 "}, (206, 5, 10)),
    # unsatisfiable
    (b"GET", {b"range": b"bytes=100-"}, UNSATISFIABLE),
    (b"GET", {b"range": b"bytes=100-200"}, UNSATISFIABLE),
    (b"GET", {b"range": b"bytes=500-"}, UNSATISFIABLE),
    (b"GET", {b"range": b"bytes=-0"}, UNSATISFIABLE),
    # several ranges: see test_evaluate_several_ranges
    (b"GET", {b"range": b"bytes=0-1,5-6"}, (206, None, [(0, 2), (5, 7)])),
    (b"GET", {b"range": b"bytes=0-1, 200-300"}, (206, 0, 2)),  # the unsatisfiable one left out
    # ignored: bad syntax, other units -> the whole file
    (b"GET", {b"range": b"bytes=5-1"}, WHOLE),
    (b"GET", {b"range": b"bytes="}, WHOLE),
    (b"GET", {b"range": b"bytes=-"}, WHOLE),
    (b"GET", {b"range": b"bytes=,"}, WHOLE),
    (b"GET", {b"range": b"bytes=a-b"}, WHOLE),
    (b"GET", {b"range": b"bytes=5"}, WHOLE),
    (b"GET", {b"range": b"bytes=+1-2"}, WHOLE),
    (b"GET", {b"range": b"bytes=-+5"}, WHOLE),
    (b"GET", {b"range": b"bytes=--5"}, WHOLE),
    (b"GET", {b"range": b"bytes=1-2-3"}, WHOLE),
    (b"GET", {b"range": b"bytes=1_0-20"}, WHOLE),
    (b"GET", {b"range": b"items=0-5"}, WHOLE),
    (b"GET", {b"range": b"0-5"}, WHOLE),
    (b"GET", {b"range": b""}, WHOLE),
    # Range is for GET only
    (b"HEAD", {b"range": b"bytes=0-9"}, WHOLE),
    (b"HEAD", {b"range": b"bytes=500-"}, WHOLE),
    # preconditions come before Range
    (b"GET", {b"range": b"bytes=0-9", b"if-none-match": TAG}, NOT_MODIFIED),
    (b"GET", {b"range": b"bytes=500-", b"if-modified-since": DATE}, NOT_MODIFIED),
    (b"GET", {b"range": b"bytes=0-9", b"if-none-match": OTHER}, (206, 0, 10)),
    (b"GET", {b"range": b"bytes=0-9", b"if-modified-since": EARLIER}, (206, 0, 10)),
    # If-Range: strong ETag match or the exact Last-Modified date, else the whole file
    (b"GET", {b"range": b"bytes=0-9", b"if-range": TAG}, (206, 0, 10)),
    (b"GET", {b"range": b"bytes=0-9", b"if-range": OTHER}, WHOLE),
    (b"GET", {b"range": b"bytes=0-9", b"if-range": b"W/" + TAG}, WHOLE),
    (b"GET", {b"range": b"bytes=0-9", b"if-range": DATE}, (206, 0, 10)),
    (b"GET", {b"range": b"bytes=0-9", b"if-range": LATER}, WHOLE),
    (b"GET", {b"range": b"bytes=0-9", b"if-range": EARLIER}, WHOLE),
    (b"GET", {b"range": b"bytes=0-9", b"if-range": b"garbage"}, WHOLE),
    (b"GET", {b"range": b"bytes=500-", b"if-range": OTHER}, WHOLE),
    (b"GET", {b"range": b"bytes=500-", b"if-range": TAG}, UNSATISFIABLE),
    (b"GET", {b"if-range": TAG}, WHOLE),
    # other methods: not a static GET/HEAD, so no conditionals and no ranges
    (b"POST", {b"if-none-match": TAG, b"range": b"bytes=0-9"}, WHOLE),
    ("GET", {b"range": b"bytes=0-9"}, (206, 0, 10)),
)


def test_evaluate():
    for method, headers, want in EVALUATE:
        got = conditional.evaluate(method, headers.get, SIZE, MTIME, TAG)
        assert got == want, (method, headers, got, want)


def test_evaluate_several_ranges():
    # RFC 9110 14.1.2, 15.3.7.2 (issue 10): multipart/byteranges, in the order asked for;
    # overlapping or touching ranges joined (one left: a plain 206); too many, or more
    # bytes than the file, or one invalid spec -> the whole file
    def several(*ranges):
        return (206, None, list(ranges))

    table = (
        (b"bytes=0-9,20-29", several((0, 10), (20, 30))),
        (b"bytes=20-29,0-9", several((20, 30), (0, 10))),  # the client's order
        (b"bytes=0-9,-10", several((0, 10), (90, 100))),
        (b"bytes=-10,0-0", several((90, 100), (0, 1))),
        (b"bytes=90-,0-0", several((90, 100), (0, 1))),
        (b" bytes = 0-0 , 2-2 ,, 4-4 ", several((0, 1), (2, 3), (4, 5))),
        (b"bytes=0-9,5-19", (206, 0, 20)),  # overlapping
        (b"bytes=0-9,10-19", (206, 0, 20)),  # adjacent
        (b"bytes=10-19,0-9", (206, 0, 20)),
        (b"bytes=0-0,0-0", (206, 0, 1)),
        (b"bytes=0-9,-95", WHOLE),  # 105 bytes of a 100-byte file, though they join
        # joined ones: the rest in ascending order
        (b"bytes=50-59,0-9,5-14", several((0, 15), (50, 60))),
        (b"bytes=0-9,200-,30-39", several((0, 10), (30, 40))),  # unsatisfiable left out
        (b"bytes=200-,300-", UNSATISFIABLE),
        (b"bytes=-0,100-", UNSATISFIABLE),
        (b"bytes=0-9,x", WHOLE),  # one invalid spec: the header is ignored
        (b"bytes=0-9,5-1", WHOLE),
        (b"bytes=0-59,40-99", WHOLE),  # 120 bytes of a 100-byte file
        (b"bytes=0-,0-", WHOLE),
        (
            b"bytes=" + b",".join([b"%d-%d" % (i * 2, i * 2) for i in range(16)]),
            several(*[(i * 2, i * 2 + 1) for i in range(16)]),
        ),
        (b"bytes=" + b",".join([b"%d-%d" % (i * 2, i * 2) for i in range(17)]), WHOLE),
    )
    for spec, want in table:
        got = conditional.evaluate(b"GET", {b"range": spec}.get, SIZE, MTIME, TAG)
        assert got == want, (spec, got, want)
    # HEAD ignores Range (RFC 9110 14.2); an empty file has no bytes to split
    got = conditional.evaluate(b"HEAD", {b"range": b"bytes=0-1,5-6"}.get, SIZE, MTIME, TAG)
    assert got == WHOLE
    for spec, want in ((b"bytes=0-1,5-6", UNSATISFIABLE), (b"bytes=-1,-2", (200, 0, 0))):
        got = conditional.evaluate(b"GET", {b"range": spec}.get, 0, MTIME, TAG)
        assert got == want, (spec, got)


def test_multipart_parts_read_in_any_split():
    # byteranges.Parts: the part heads and the file's ranges as one stream, read by the
    # server's file pump in buffer-sized pieces, stepping back what a socket did not take
    from microcgi.byteranges import Parts

    data = bytes(range(100))
    pieces = [b"--b\r\nA\r\n\r\n", (10, 20), b"\r\n--b\r\nB\r\n\r\n", (95, 100), b"\r\n--b--\r\n"]
    want = pieces[0] + data[10:20] + pieces[2] + data[95:100] + pieces[4]
    for size in (1, 3, 7, 16, len(want), len(want) + 5):
        parts = Parts(io.BytesIO(data), pieces)
        got = bytearray()
        buf = memoryview(bytearray(size))
        while True:
            n = parts.readinto(buf)
            if not n:
                break
            got += buf[: n - 1 if n > 1 else n]  # one byte "not sent": read again
            if n > 1:
                parts.seek(-1, 1)
        assert bytes(got) == want, (size, bytes(got))
    # a file shorter than its ranges: the stream stops short, never runs on
    parts = Parts(io.BytesIO(data[:15]), pieces)
    buf = memoryview(bytearray(200))
    assert parts.readinto(buf) == len(pieces[0]) + 5
    assert parts.readinto(buf) == 0


def test_evaluate_empty_file():
    tag = static.etag(0, MTIME)
    for headers, want in (
        ({}, (200, 0, 0)),
        ({b"range": b"bytes=0-"}, UNSATISFIABLE),  # no first byte to start from
        ({b"range": b"bytes=0-0"}, UNSATISFIABLE),
        ({b"range": b"bytes=-0"}, UNSATISFIABLE),
        # satisfiable for RFC 9110, but a 206 cannot describe zero bytes: the empty file
        ({b"range": b"bytes=-5"}, (200, 0, 0)),
        ({b"if-none-match": tag}, NOT_MODIFIED),
    ):
        got = conditional.evaluate(b"GET", headers.get, 0, MTIME, tag)
        assert got == want, (headers, got, want)


def test_evaluate_asks_for_lower_case_names():
    asked = []

    def get_header(name):
        asked.append(name)

    assert conditional.evaluate(b"GET", get_header, SIZE, MTIME, TAG) == WHOLE
    assert asked, "evaluate() asked for no header"
    for name in asked:
        assert name == name.lower() and isinstance(name, bytes), name
    for name in (b"if-none-match", b"if-modified-since", b"range"):
        assert name in asked, name


def test_evaluate_ranges_stay_inside_the_file():
    for size in (1, 2, 10, 1000):
        for spec in (b"0-", b"-1", b"-9999", b"0-9999", b"5-", b"5-7"):
            status, start, end = conditional.evaluate(
                b"GET", {b"range": b"bytes=" + spec}.get, size, MTIME, TAG
            )
            if status == 206:
                assert 0 <= start < end <= size, (size, spec, start, end)
            else:
                assert (status, start, end) == UNSATISFIABLE, (size, spec, status)


# --- listing ----------------------------------------------------------------------------


def _page(url_path, entries):
    chunks = list(listing.listing(url_path, entries))
    for chunk in chunks:
        assert isinstance(chunk, bytes), chunk
    return chunks, b"".join(chunks).decode()


ENTRIES = [
    ("zeta.txt", False, 12, MTIME),
    ("beta", True, 0, MTIME),
    ("alpha.html", False, 3456, MTIME),
    (".git", True, 0, MTIME),
    (".env", False, 5, MTIME),
    ("Alpha", True, 0, None),
    ("<img src=x onerror=alert(1)>", False, 1, MTIME),
    ("a\"b'c&d", False, 2, MTIME),
    ("caf\u00e9 & co.txt", False, 7, MTIME),
    ("x:y", False, 8, MTIME),
]


def test_listing_shows_dot_names_when_asked():
    # the server's serve_dotfiles: dot names are listed like the others
    page = b"".join(listing.listing("/docs/", ENTRIES, True)).decode()
    assert 'href=".git/">.git/</a>' in page and 'href=".env">.env</a>' in page
    assert page.index(".git/") < page.index("beta/")  # folders first, by name
    page = b"".join(listing.listing("/docs/", ENTRIES, False)).decode()
    assert ".git" not in page and ".env" not in page


def test_listing_order_and_hidden_names():
    before = list(ENTRIES)
    chunks, page = _page("/docs/", ENTRIES)
    assert ENTRIES == before, "listing() must not reorder the caller's list"
    assert page.startswith("<!DOCTYPE html>")
    assert page.rstrip().endswith("</html>")
    assert ".git" not in page and ".env" not in page
    # head, "../", 8 visible entries, foot: one chunk per entry
    assert len(chunks) == 1 + 1 + 8 + 1, len(chunks)
    order = [
        'href="../"',
        'href="Alpha/"',
        'href="beta/"',
        'href="%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E"',
        'href="a%22b%27c%26d"',
        'href="alpha.html"',
        'href="caf%C3%A9%20%26%20co.txt"',
        'href="x%3Ay"',
        'href="zeta.txt"',
    ]
    positions = [page.find(h) for h in order]
    assert -1 not in positions, list(zip(order, positions))
    assert positions == sorted(positions), positions


def test_listing_escapes_names():
    _, page = _page("/docs/", ENTRIES)
    assert "<img" not in page
    assert ">&lt;img src=x onerror=alert(1)&gt;</a>" in page
    assert ">a&quot;b&#39;c&amp;d</a>" in page
    assert ">caf\u00e9 &amp; co.txt</a>" in page
    assert ">beta/</a>" in page


def test_listing_sizes_and_dates():
    _, page = _page("/", [("f.bin", False, 3456, MTIME), ("d", True, 4096, None)])
    row = page[page.find('href="f.bin"') :]
    row = row[: row.find("</tr>")]
    assert '<td title="3456 bytes">3.4 KiB<' in row and ">1994-11-06 08:49<" in row, row
    row = page[page.find('href="d/"') :]
    row = row[: row.find("</tr>")]
    assert "4096" not in row and ">-<" in row, row


def test_listing_human_sizes():
    for size, shown in [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (5000000, "4.8 MiB"),
        (3 * 1024**3, "3.0 GiB"),
        (5 * 1024**4, "5.0 TiB"),
        (2048 * 1024**4, "2048.0 TiB"),
    ]:
        _, page = _page("/", [("f", False, size, MTIME)])
        assert '<td title="%d bytes">%s</td>' % (size, shown) in page, (size, page[-200:])


def test_listing_natural_case_insensitive_order():
    names = ["file10", "Zdir", "file2", "adir", "File1", "b", "B", "a1b10", "a1b9", "Ω"]
    entries = [(n, n.endswith("dir"), 1, MTIME) for n in names]
    _, page = _page("/", entries)
    order = ["adir/", "Zdir/", "a1b9", "a1b10", "B", "b", "File1", "file2", "file10", "Ω"]
    positions = [page.find(">%s</a>" % n) for n in order]
    assert -1 not in positions, list(zip(order, positions))
    assert positions == sorted(positions), list(zip(order, positions))


def test_listing_title_and_parent_link():
    _, page = _page("/", [])
    assert "<title>Index of /</title>" in page
    assert 'href="../"' not in page
    _, page = _page('/a&<b>"/', [])
    assert "<title>Index of /a&amp;&lt;b&gt;&quot;/</title>" in page
    assert "<h1>Index of /a&amp;&lt;b&gt;&quot;/</h1>" in page
    assert 'href="../"' in page


def test_listing_skips_names_without_utf8_form():
    name = "bad\udcff"  # what CPython's os.listdir gives for a non-UTF-8 file name
    try:
        name.encode("utf-8")
    except UnicodeError:
        chunks, page = _page("/", [(name, False, 1, MTIME), ("ok", False, 1, MTIME)])
        assert 'href="ok"' in page and "bad" not in page
        assert len(chunks) == 3
    # MicroPython encodes lone surrogates without complaint: nothing to skip there
