# `python3 -m microcgi ...` on CPython: the host command line (host/cli.py).
# CPython only: tools/deploy.py skips this file, it never goes to a board (there is no
# microcgi_host there), and tests/host/test_firmware_subset.py exempts it from the
# MicroPython import allowlist.
from microcgi_host.cli import main

raise SystemExit(main())
