#!/usr/bin/env python3
"""CGI script: a stderr line between two stdout lines. stderr goes to the log only."""

import sys

sys.stdout.write("Content-Type: text/plain\r\n\r\nstdout line 1\n")
sys.stdout.flush()
print("THIS-WENT-TO-STDERR", file=sys.stderr, flush=True)
sys.stdout.write("stdout line 2\n")
