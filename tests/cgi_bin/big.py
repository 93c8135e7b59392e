#!/usr/bin/env python3
"""CGI script: ?N writes a body of N bytes, the 16-byte pattern `PAGE-DATA-0123.\n` repeated."""

import os
import sys

size = int(os.environ.get("QUERY_STRING") or "0")
out = sys.stdout.buffer
out.write(b"Content-Type: text/plain\r\n\r\n")
pattern = b"PAGE-DATA-0123.\n" * 4096
while size > 0:
    piece = pattern[:size]
    out.write(piece)
    size -= len(piece)
out.flush()
