# Directory listings (SPEC section 4), apart from static.py so that a board
# loads this code only while it lists a folder.
from microcgi.compat import http_date
from microcgi.urlpath import quote_path


def html_escape(s):
    """s with &, <, >, " and ' replaced by character references (text and attributes)."""
    return (
        s.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


_LIST_HEAD = """<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Index of %s</title>
<style>body{font-family:sans-serif}td{padding:0 1em 0 0}td+td+td{text-align:right}</style>
</head><body><h1>Index of %s</h1>
<table><tr><th>Name</th><th>Last modified</th><th>Size</th></tr>
"""
_LIST_ROW = '<tr><td><a href="%s">%s</a></td><td>%s</td><td>%s</td></tr>\n'
_LIST_FOOT = b"</table></body></html>\n"


def listing(url_path, entries, dots=False):
    """HTML5 index page of a folder, as a generator of small bytes chunks.

    Args:
        url_path: the folder's decoded URL path, ending in "/" (decode_path output).
        entries: list of (name str, is_dir bool, size int, mtime int or None).
        dots: list names starting with "." too (the server's serve_dotfiles).
    Yields:
        The page head, a "../" row (except at "/"), one row per entry (folders first,
        then files, each by name; dot names left out unless dots), and the page foot. Names are
        HTML-escaped in text and %-encoded in the relative links. A name that has no
        UTF-8 form cannot be requested by URL, so it is left out.
    """
    title = html_escape(url_path)
    yield (_LIST_HEAD % (title, title)).encode()
    title = None
    if url_path != "/":
        yield (_LIST_ROW % ("../", "../", "", "-")).encode()
    # Sorting the tuples sorts by name (names in a folder are unique, so the other
    # fields never get compared) without a key tuple per entry; then two passes put
    # folders first.
    entries = sorted(entries)
    yield from _listing_rows(entries, True, dots)
    yield from _listing_rows(entries, False, dots)
    yield _LIST_FOOT


def _listing_rows(entries, folders, dots):
    for name, is_dir, size, mtime in entries:
        if (name[:1] == "." and not dots) or bool(is_dir) != folders:
            continue
        try:
            href = quote_path(name)
            text = html_escape(name)
            if is_dir:
                href += "/"
                text += "/"
            date = "" if mtime is None else str(http_date(mtime), "utf-8")
            row = (_LIST_ROW % (href, text, date, "-" if is_dir else str(size))).encode()
        except UnicodeError:
            continue
        yield row
