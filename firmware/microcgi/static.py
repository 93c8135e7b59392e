# Static files, the pure half (SPEC section 4): request path decoding that cannot
# escape ROOT, the MIME table, validators, conditional and range evaluation
# (RFC 9110 sections 13 and 14). server.py does all the I/O.
#
# A board keeps this module in RAM, so it holds what every static request needs;
# the odd cases (paths to %-decode, conditional and range requests, URL encoding)
# are in microcgi.urlpath and microcgi.conditional, loaded when needed and dropped.
from microcgi.compat import lazy_call

# --- request path -----------------------------------------------------------------


def decode_path(raw_path):
    """Decode and normalise the path of a request target.

    Args:
        raw_path: the path part of the request target as bytes (no query).
    Returns:
        The %-decoded (once), normalised path as str: "//" and "/./" collapsed,
        a trailing slash kept, e.g. "/a/b/".
    Raises:
        ProtocolError (400): no leading "/", a malformed %-escape, invalid UTF-8.
        Forbidden (403): NUL (raw or %00), "%2F" or "%5C" (an encoded slash would
            let one segment name a file in another folder), a raw backslash, or a
            ".." segment after decoding. ".." is refused even when it would stay
            inside ROOT: no legitimate link needs it.
    """
    # the common case, a plain ASCII path with nothing to decode or collapse
    if (
        raw_path[:1] == b"/"
        and b"%" not in raw_path
        and b"/." not in raw_path
        and b"//" not in raw_path
        and b"\\" not in raw_path
        and b"\x00" not in raw_path
        and max(raw_path) < 0x80
    ):
        return raw_path.decode()
    return lazy_call("urlpath", "decode_path", raw_path)


# --- MIME types ---------------------------------------------------------------------

_OCTET = b"application/octet-stream"
# One string instead of a dict: a board keeps one constant instead of ~30 objects.
# Each entry is " ext type;" ; the types with parameters use "|" for "; ". The
# common types only: microcgi.tables has the others, loaded for the odd file.
_MIME = (
    " html text/html|charset=utf-8; htm text/html|charset=utf-8;"
    " txt text/plain|charset=utf-8; css text/css; js text/javascript; json application/json;"
    " svg image/svg+xml; png image/png; jpg image/jpeg; jpeg image/jpeg; gif image/gif;"
    " ico image/x-icon;"
)  # js: RFC 9239


def mime_type(name):
    """Content-Type (bytes) for a file name or path, from its lower-cased extension."""
    if not isinstance(name, str):
        name = str(name, "utf-8")
    dot = name.rfind(".")
    # no dot, or only the leading dot of a hidden name (".profile")
    if dot <= name.rfind("/") + 1:
        return _OCTET
    ext = name[dot + 1 :].lower()
    if " " in ext or ";" in ext:
        return _OCTET
    i = _MIME.find(" " + ext + " ")
    if i < 0:
        return lazy_call("tables", "mime_type", ext) or _OCTET
    i += len(ext) + 2
    return _MIME[i : _MIME.find(";", i)].replace("|", "; ").encode()


# --- validators, conditionals, ranges -----------------------------------------------

# Request headers that make a static answer depend on more than the file.
CONDITIONAL = (b"if-none-match", b"if-modified-since", b"range")


def etag(size, mtime):
    """Strong entity-tag for a file: b'"<mtime hex>-<size hex>"' (RFC 9110 section 8.8.3)."""
    return b'"%x-%x"' % (int(mtime), int(size))
