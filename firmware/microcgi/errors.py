# One exception hierarchy in which every error knows its HTTP status.
# Parsers raise; only server.py turns an exception into a response.


class HTTPError(Exception):
    status = 500

    def __init__(self, msg, status=None):
        super().__init__(msg)
        if status is not None:
            self.status = status


class ProtocolError(HTTPError):
    """The client broke HTTP; the connection is closed after the answer."""

    status = 400


class Forbidden(HTTPError):
    status = 403


class ScriptError(HTTPError):
    """A script's output broke RFC 3875 section 6, or it could not run."""

    status = 500
