# The chunked transfer coding of request bodies (RFC 9112 section 7.1), for
# http11.RequestParser. Apart from http11.py so that a board loads this code only
# while it reads a chunked body (the parser drops it again at the end).
from microcgi.compat import const
from microcgi.errors import ProtocolError
from microcgi.http11 import END, NEED_DATA, Data

# parser states, shared with http11.py
_CHUNK_SIZE = const(2)
_CHUNK_DATA = const(3)
_CHUNK_CRLF = const(4)
_TRAILERS = const(5)
_DONE = const(6)

_MAX_CHUNK_LINE = const(1024)
_HEXDIG = b"0123456789abcdefABCDEF"


def framing(req, value):
    """http11: a Transfer-Encoding header of request req: chunked once, on HTTP/1.1 only
    (RFC 9112 6.1: on HTTP/1.0 the framing is faulty, 400); anything else is 501."""
    if req.version == "HTTP/1.0" or req.chunked or value.lower() != b"chunked":
        raise ProtocolError(
            "unsupported Transfer-Encoding", 400 if req.version == "HTTP/1.0" else 501
        )
    req.chunked = True


def read_chunked(p):
    """The next event of parser p in a chunked body: Data, END or NEED_DATA."""
    while True:
        st = p.state
        if st == _CHUNK_DATA:
            have = len(p.buf) - p.pos
            if not have:
                return NEED_DATA
            n = have if have < p.remaining else p.remaining
            p.remaining -= n
            if not p.remaining:
                p.state = _CHUNK_CRLF
            return Data(p.take(n))
        eol = p.buf.find(b"\n", p.pos)
        if eol < 0:
            if len(p.buf) - p.pos > _MAX_CHUNK_LINE:
                raise ProtocolError("chunk line too long")
            return NEED_DATA
        line = p.take(eol + 1 - p.pos)[:-1]
        if line[-1:] == b"\r":
            line = line[:-1]
        if st == _CHUNK_CRLF:
            if line:
                raise ProtocolError("missing CRLF after chunk")
            p.state = _CHUNK_SIZE
        elif st == _CHUNK_SIZE:
            size = line.split(b";")[0].strip(b" \t")
            # chunk-size = 1*HEXDIG (RFC 9112 7.1); int(s, 16) alone also takes
            # "0x", "_", signs and whitespace
            if not size or [c for c in size if c not in _HEXDIG]:
                raise ProtocolError("bad chunk size")
            n = int(size, 16)
            req = p.request
            req.body_length += n
            if req.body_length > p.max_body:
                raise ProtocolError("body over %d bytes" % p.max_body, 413)
            p.remaining = n
            p.state = _CHUNK_DATA if n else _TRAILERS
        else:  # trailers are read and dropped (RFC 9112 7.1.2)
            if not line:
                p.state = _DONE
                return END
            p.remaining += len(line)
            if p.remaining > p.max_header_bytes:
                raise ProtocolError("trailer block too large", 431)
