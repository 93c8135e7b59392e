# Name-based virtual hosts (issue 14): the document root comes from the request's Host.
#
# Loaded only where it is used: on CPython by every server (hostserver: a Host that is
# not a host name is a 400 there whatever the settings), on a board only when config.json
# names virtual hosts (it then stays loaded: every request needs it; what only start-up
# needs, checking the names and folders, is in config.py and startup.py).
from microcgi.errors import ProtocolError

_NAME_MAX = 253  # RFC 1035 2.3.4: a name of at most 255 octets on the wire
_LABEL_MAX = 63


def _bad():
    return ProtocolError("bad Host header")


def _name_ok(name):
    # RFC 1123 2.1 host names (letters, digits, "-" inside a label), with "_" let through
    # as browsers do; the trailing dot of a fully qualified name is gone already
    if not name or len(name) > _NAME_MAX:
        return False
    for label in name.split(b"."):
        if not label or len(label) > _LABEL_MAX or label[0] == 0x2D or label[-1] == 0x2D:
            return False
        for c in label:
            if not (0x61 <= c <= 0x7A or 0x30 <= c <= 0x39 or c == 0x2D or c == 0x5F):
                return False
    return True


def _ipv6_ok(text):
    # between the brackets: hex digits and colons, maybe a dotted IPv4 tail (RFC 4291
    # 2.2); no zone (RFC 6874's "%25" is for URIs a browser never sends in Host)
    if text.count(b":") < 2 or len(text) > 45:
        return False
    for c in text:
        if not (0x30 <= c <= 0x3A or 0x61 <= c <= 0x66 or c == 0x2E):
            return False
    return True


def parse_host(value):
    """(name, port) of a Host field value (RFC 9110 7.2: uri-host [":" port]).

    name is a str in lower case without a trailing dot ("[...]" for an IPv6 literal),
    port an int or None. An empty value gives ("", None). Raises ProtocolError (400) for
    anything that is not a host name, an IPv4 address or a bracketed IPv6 address, with
    an optional port of at most 65535.
    """
    value = value.lower()
    port = None
    if value[:1] == b"[":
        end = value.find(b"]")
        if end < 0 or not _ipv6_ok(value[1:end]):
            raise _bad()
        name = value[: end + 1]
        rest = value[end + 1 :]
        if rest:
            if rest[0] != 0x3A:
                raise _bad()
            port = rest[1:]
    else:
        colon = value.find(b":")
        name = value if colon < 0 else value[:colon]
        if colon >= 0:
            port = value[colon + 1 :]
        if name[-1:] == b".":
            name = name[:-1]
        if value and not _name_ok(name):
            raise _bad()
    if port is not None:
        # RFC 3986 3.2.3: port = *DIGIT, so "name:" is a name without one
        if not port:
            port = None
        elif not port.isdigit() or len(port) > 5 or int(port) > 65535:
            raise _bad()
        else:
            port = int(port)
    return name.decode(), port


class Hosts:
    """The roots of the virtual hosts, and the choice among them per request.

    Args:
        roots: {"name" or "name:port": folder}, config.py's normalized vhosts (lower
            case, no trailing dot, folders without a trailing "/").
        root: the server's ROOT, for names that are not among them.
    """

    def __init__(self, roots, root):
        self.roots = roots
        self.root = root

    def pick(self, req):
        """The document root of req (also left in req.root): the folder of the virtual
        host its Host names (NAME:PORT before NAME), else ROOT. Raises ProtocolError
        (400) for a Host that is not a host name."""
        value = req.header(b"host")
        root = None
        if value:
            name, port = parse_host(value)
            roots = self.roots
            if roots:
                if port is not None:
                    root = roots.get("%s:%d" % (name, port))
                if root is None:
                    root = roots.get(name)
        if root is None:
            root = self.root
        req.root = root
        return root
