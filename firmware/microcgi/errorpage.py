# A site's own pages for error statuses (config error_pages, --error-page; issue 13), on
# Linux and on a board. A board loads it only while it answers an error and error_pages
# names any page (server.Connection.error), then drops it again.
from microcgi import compat, http11
from microcgi.errors import HTTPError


def send(conn, status, close):
    """Answer status with the site's page for it, sent from the file as a static file
    is (never held whole in memory), as text/html. The page is looked up under the
    request's document root (a virtual host's folder, else ROOT).

    Returns False, having sent nothing, when there is no such regular file or it cannot
    be opened: the caller then answers as it would without a page.
    """
    server = conn.server
    path = server.cfg.error_pages.get(str(status))
    if path is None:
        return False
    req = conn.req
    fs = ((req is not None and req.root) or server.root) + path
    try:
        mode, size, _ = compat.stat(fs)
    except OSError:
        return False
    if mode & compat.S_IFMT != compat.S_IFREG:
        return False  # a folder, a FIFO: never opened
    try:
        f = server.open_file(fs)
    except HTTPError:
        return False
    try:
        if close:
            conn.close_after = True
        # the head before the file is handed over: if it finds no room (MemoryError),
        # nothing is queued and the caller's plain answer is all that goes out
        more = conn.head(
            status,
            http11.reason_phrase(status),
            [(b"Content-Type", b"text/html; charset=utf-8")],
            size,
        )
    except MemoryError:
        f.close()
        raise
    if more and size:
        conn.file = f
        conn.file_left = size
    else:
        f.close()
    conn.finish()
    conn.flush()
    return True
