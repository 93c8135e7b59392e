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
<style>body{font:16px/1.5 system-ui,sans-serif;margin:1em auto;max-width:48em;padding:0 .5em}
h1{font-size:1.2em;overflow-wrap:anywhere}table{border-collapse:collapse;width:100%%}
th,td{padding:.3em .4em;text-align:left}td{border-top:1px solid #ddd}
td+td,th+th{white-space:nowrap;text-align:right;color:#555}a{text-decoration:none}
td a{display:block;overflow-wrap:anywhere}
@media(max-width:36em){table,tbody{display:block}
tr{display:grid;grid-template-columns:1fr auto;border-top:1px solid #ddd;padding:.3em 0}
tr:first-child{border:0}th,td{border:0;padding:0 .4em}tr>:first-child{grid-column:1/-1}
td+td,th+th{font-size:.85em}tr>:nth-child(2){text-align:left}}</style>
</head><body><h1>Index of %s</h1>
<table><tr><th>Name</th><th>Modified (UTC)</th><th>Size</th></tr>
"""
_LIST_ROW = '<tr><td><a href="%s">%s</a></td><td>%s</td><td%s>%s</td></tr>\n'
_LIST_FOOT = b"</table></body></html>\n"
_MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec"


def listing(url_path, entries, dots=False):
    """HTML5 index page of a folder, as a generator of small bytes chunks.

    Args:
        url_path: the folder's decoded URL path, ending in "/" (decode_path output).
        entries: list of (name str, is_dir bool, size int, mtime int or None).
        dots: list names starting with "." too (the server's serve_dotfiles).
    Yields:
        The page head, a "../" row (except at "/"), one row per entry (folders first,
        then files, each in natural order: case-insensitive, "file2" before "file10"; dot
        names left out unless dots), and the page foot. Names are HTML-escaped in text and
        %-encoded in the relative links; sizes are human (exact bytes in a title); dates
        are "YYYY-MM-DD HH:MM" UTC. A name that has no UTF-8 form cannot be requested by
        URL, so it is left out.
    """
    title = html_escape(url_path)
    yield (_LIST_HEAD % (title, title)).encode()
    title = None
    if url_path != "/":
        yield (_LIST_ROW % ("../", "../", "", "", "")).encode()
    entries = sorted(entries, key=_natural)
    yield from _listing_rows(entries, True, dots)
    yield from _listing_rows(entries, False, dots)
    yield _LIST_FOOT


def _natural(entry):
    """The sort key of an entry: its name in lower case with each run of digits padded
    to 20, then the name itself (so that names equal but for case keep one order)."""
    name = entry[0]
    key = []
    digits = ""
    for c in name.lower() + "/":  # "/": no name has it, it ends the last run
        if "0" <= c <= "9":
            digits += c
            continue
        if digits:
            key.append("0" * (20 - len(digits)) + digits)
            digits = ""
        key.append(c)
    return "".join(key) + name


def _size(n):
    """n bytes as people read it: "512 B", "4.8 KiB", "1.0 GiB"."""
    if n < 1024:
        return "%d B" % n
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024 or unit == "TiB":
            return "%.1f %s" % (n, unit)


def _date(mtime):
    # http_date: b"Sun, 06 Nov 1994 08:49:37 GMT" -> "1994-11-06 08:49"
    d = str(http_date(mtime), "utf-8").split()
    return "%s-%02d-%s %s" % (d[3], _MONTHS.find(d[2]) // 3 + 1, d[1], d[4][:5])


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
            date = "" if mtime is None else _date(mtime)
            if is_dir:
                row = _LIST_ROW % (href, text, date, "", "-")
            else:
                row = _LIST_ROW % (href, text, date, ' title="%d bytes"' % size, _size(size))
            row = row.encode()
        except UnicodeError:
            continue
        yield row
