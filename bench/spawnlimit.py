"""The spawn limit: how many times per second this machine runs a CGI script and reads its
output, with no HTTP at all.

    .venv/bin/python bench/spawnlimit.py --seconds 5 --parallel 1 -- /bin/sh hello.sh

Each worker loops for `--seconds`: os.posix_spawn(argv) with stdin on /dev/null and stdout
on a pipe, a CGI-sized environment, read the pipe to EOF, waitpid. `--parallel P` forks P
such workers that start together. Prints one JSON object: the summed rate and each worker's.

This is what any CGI server must do per request at the least, so a server's CGI rate divided
by it is "how close to the physical limit" it gets. Python's own loop (a few µs per spawn)
is included; a C loop would be slightly faster, a shell loop much slower.
"""

import argparse
import json
import os
import sys
import time

# About the size of a real CGI environment (RFC 3875 variables plus a few headers).
CGI_ENV = {
    "GATEWAY_INTERFACE": "CGI/1.1",
    "SERVER_SOFTWARE": "spawnlimit",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "SERVER_NAME": "127.0.0.1",
    "SERVER_ADDR": "127.0.0.1",
    "SERVER_PORT": "8080",
    "REMOTE_ADDR": "127.0.0.1",
    "REMOTE_PORT": "40000",
    "REQUEST_METHOD": "GET",
    "REQUEST_URI": "/cgi-bin/hello",
    "QUERY_STRING": "",
    "SCRIPT_NAME": "/cgi-bin/hello",
    "DOCUMENT_ROOT": "/",
    "REDIRECT_STATUS": "200",
    "HTTP_HOST": "127.0.0.1:8080",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
}


def run_once(argv, env, devnull):
    """Spawn argv once, read its stdout to EOF, reap it; returns (output, wait status)."""
    r, w = os.pipe()  # both close-on-exec; dup2 onto fd 1 clears the flag for the child
    try:
        actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, w, 1)]
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    finally:
        os.close(w)
    chunks = []
    try:
        while True:
            data = os.read(r, 65536)
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(r)
    _, status = os.waitpid(pid, 0)
    return b"".join(chunks), status


def worker(argv, start_at, seconds):
    """Loop from `start_at` (time.monotonic) for `seconds`; returns (count, elapsed)."""
    env = dict(CGI_ENV, SCRIPT_FILENAME=argv[-1])
    devnull = os.open(os.devnull, os.O_RDONLY)
    out, status = run_once(argv, env, devnull)  # not counted: checks the script works
    if status != 0 or not out.endswith(b"\nhello\n"):
        raise SystemExit(f"spawnlimit: {argv} gave status {status}, output {out[:80]!r}")
    time.sleep(max(0.0, start_at - time.monotonic()))
    start = time.monotonic()
    end = start + seconds
    count = 0
    while True:
        run_once(argv, env, devnull)
        count += 1
        now = time.monotonic()
        if now >= end:
            return count, now - start


def measure(argv, parallel, seconds):
    """Run `parallel` workers at once (forked); returns the JSON-ready result."""
    start_at = time.monotonic() + 0.05  # CLOCK_MONOTONIC is shared by parent and children
    pipes = []
    for _ in range(parallel):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: one worker, result on the pipe
            code = 1
            try:
                os.close(r)
                os.write(w, json.dumps(worker(argv, start_at, seconds)).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        pipes.append((pid, r))
    workers = []
    for pid, r in pipes:
        with os.fdopen(r, "rb") as f:
            data = f.read()
        _, status = os.waitpid(pid, 0)
        if status != 0 or not data:
            raise SystemExit(f"spawnlimit: a worker failed (status {status})")
        count, elapsed = json.loads(data)
        workers.append({"count": count, "elapsed_s": round(elapsed, 4)})
    rate = sum(w["count"] / w["elapsed_s"] for w in workers)
    return {
        "argv": argv,
        "parallel": parallel,
        "seconds": seconds,
        "rate": rate,
        "workers": workers,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("command", nargs="+", help="the script's argv (interpreter first)")
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 600 or not 1 <= args.parallel <= 64:
        parser.error("--seconds must be in (0, 600] and --parallel in [1, 64]")
    print(json.dumps(measure(args.command, args.parallel, args.seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
