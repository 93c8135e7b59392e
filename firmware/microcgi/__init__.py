# microcgi: a tiny HTTP/1.1 server with CGI/1.1 (RFC 3875).
# Nothing is imported here on purpose: every import costs RAM on a board.
__version__ = "0.1"
