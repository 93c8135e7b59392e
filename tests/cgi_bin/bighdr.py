#!/usr/bin/env python3
"""CGI script: ?N writes a header block of about N bytes (lines of 100 bytes), then `ok`."""

import os
import sys

size = int(os.environ.get("QUERY_STRING") or "9000")
lines = ["Content-Type: text/plain"]
total = len(lines[0]) + 2
i = 0
while total + 100 + 2 <= size:
    line = "X-Filler-%04d: " % i
    line += "f" * (98 - len(line))
    lines.append(line)
    total += len(line) + 2
    i += 1
sys.stdout.write("\r\n".join(lines) + "\r\n\r\nok\n")
