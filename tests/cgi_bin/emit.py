#!/usr/bin/env python3
"""CGI script: write the %-decoded QUERY_STRING to stdout, byte for byte.

Lets a test state a whole script output (header block and body) in its URL, so the
section 7 header rules can be checked from a table.
"""

import os
import sys
from urllib.parse import unquote_to_bytes

sys.stdout.buffer.write(unquote_to_bytes(os.environ.get("QUERY_STRING", "")))
