#!/usr/bin/env python3
"""CGI script: 1 MiB of stderr (16,384 lines of 64 bytes), then a short page.

Nothing reads stderr for the script but the server: if the server does not drain it
while waiting for stdout, the script blocks on a full pipe and never answers.
"""

import sys

for i in range(16384):
    sys.stderr.write("flood line %05d %s\n" % (i, "e" * 46))
sys.stderr.flush()
sys.stdout.write("Content-Type: text/plain\r\n\r\nflood done\n")
