# Reference tables a board keeps on flash until asked for (compat.lazy_call() loads
# this module for one lookup): every reason phrase of RFC 9110 section 15 and the
# less common MIME types (http11.py and static.py hold the common entries), and the
# checks of a script's Status header (gateway.py).

# RFC 9110 section 15, one "\nNNN phrase" per status
_REASONS = (
    "\n100 Continue\n200 OK\n201 Created\n202 Accepted\n204 No Content\n206 Partial Content"
    "\n301 Moved Permanently\n302 Found\n303 See Other\n304 Not Modified"
    "\n307 Temporary Redirect\n308 Permanent Redirect\n400 Bad Request\n401 Unauthorized"
    "\n403 Forbidden\n404 Not Found\n405 Method Not Allowed\n408 Request Timeout"
    "\n409 Conflict\n410 Gone\n411 Length Required\n412 Precondition Failed"
    "\n413 Content Too Large\n414 URI Too Long\n415 Unsupported Media Type"
    "\n416 Range Not Satisfiable\n418 I'm a teapot\n422 Unprocessable Content"
    "\n429 Too Many Requests\n431 Request Header Fields Too Large"
    "\n500 Internal Server Error\n501 Not Implemented\n502 Bad Gateway"
    "\n503 Service Unavailable\n504 Gateway Timeout\n505 HTTP Version Not Supported\n"
)

# " ext type;" entries as in static.py
_MIME = (
    " mjs text/javascript; map application/json; xml application/xml;"
    " csv text/csv|charset=utf-8; md text/markdown|charset=utf-8; webp image/webp;"
    " avif image/avif; wasm application/wasm; pdf application/pdf; zip application/zip;"
    " gz application/gzip; tar application/x-tar; mp3 audio/mpeg; ogg audio/ogg;"
    " wav audio/wav; mp4 video/mp4; webm video/webm; woff font/woff; woff2 font/woff2;"
    " ttf font/ttf; otf font/otf;"
)


def reason_phrase(status):
    """http11.reason_phrase() for any status."""
    i = _REASONS.find("\n%d " % status)
    if i < 0:
        return "Unknown" if status < 400 else "Error"
    return _REASONS[i + 5 : _REASONS.find("\n", i + 5)]


def reasons():
    """{status: phrase} of every status in the table (http11.REASONS)."""
    table = {}
    for line in _REASONS.split("\n"):
        if line:
            table[int(line[:3])] = line[4:]
    return table


def mime_type(ext):
    """The type (bytes) of a lower-case extension (str), or None when it is unknown."""
    i = _MIME.find(" " + ext + " ")
    if i < 0:
        return None
    i += len(ext) + 2
    return _MIME[i : _MIME.find(";", i)].replace("|", "; ").encode()


def script_status(value):
    """(status, reason) of a script's Status header value (gateway.parse_script_headers()):
    reason is None when the script gave none. Raises ScriptError when it is bogus."""
    from microcgi.errors import ScriptError
    from microcgi.gateway import _text

    # RFC 3875 6.3.3: Status = "Status:" status-code SP reason-phrase; the reason
    # is optional here, the code exactly three digits, 200-599 (Go host.go also
    # reads three digits, but does not check what follows them). A 1xx is an
    # interim response: alone it would leave the client waiting for the final
    # one (curl: "Received HTTP/0.9"), so it is refused like any bogus status.
    code = value[:3]
    rest = value[3:]
    if (
        len(code) != 3
        or not code.isdigit()
        or (rest and rest[0] not in b" \t")
        or not 200 <= int(code) <= 599
    ):
        raise ScriptError("cgi: bogus status %r" % value)
    rest = rest.strip(b" \t")
    return int(code), (_text(rest) if rest else None)
