#!/usr/bin/env python3
"""CGI script: print the exact environment it was started with (SPEC section 6).

Lines: env-KEY=value for every variable (sorted), then cwd=, argv= and stdin= (the
hex of exactly CONTENT_LENGTH bytes read from stdin, as RFC 3875 section 4.2 asks).
The environment is read from /proc/self/environ, which is what execve() got: CPython
adds LC_CTYPE to os.environ on start-up, /proc does not show it.
"""

import os
import sys


def exec_environ():
    try:
        with open("/proc/self/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return {os.fsencode(k): os.fsencode(v) for k, v in os.environ.items()}
    env = {}
    for item in raw.split(b"\0"):
        if item:
            key, _, value = item.partition(b"=")
            env[key] = value
    return env


def main():
    env = exec_environ()
    length = int(os.environ.get("CONTENT_LENGTH") or "0")
    body = sys.stdin.buffer.read(length) if length else b""
    lines = [b"Content-Type: text/plain", b""]
    lines += [b"env-" + key + b"=" + env[key] for key in sorted(env)]
    lines.append(b"cwd=" + os.fsencode(os.getcwd()))
    lines.append(b"argv=" + repr(sys.argv).encode())
    lines.append(b"stdin=" + body.hex().encode())
    sys.stdout.buffer.write(b"\n".join(lines) + b"\n")


main()
