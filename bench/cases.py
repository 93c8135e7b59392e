"""The benchmark cases (issue 5) and the spawn-limit measurements they are compared with."""

from dataclasses import dataclass

from servers import HELLO_BODY, SIZES


@dataclass(frozen=True)
class Case:
    """One wrk load: GET `path` on `conns` keep-alive connections.

    `baseline`: the (server, case) pairs whose rate, in the same round, this case's rate is
    divided by for the "× lighttpd" column (the best of them when several).
    `spawn`: the spawn-limit measurement a CGI case is a fraction of.
    """

    name: str
    title: str
    path: str
    conns: int
    expected: object  # exact body (bytes) or body length (int)
    baseline: tuple = ()
    spawn: str = ""

    def baselines(self):
        return self.baseline or (("lighttpd", self.name),)


CASES = (
    Case("static-1k-c1", "static 1 KiB, c=1", "/1k.txt", 1, SIZES["/1k.txt"]),
    Case("static-1k-c16", "static 1 KiB, c=16", "/1k.txt", 16, SIZES["/1k.txt"]),
    Case("static-1m-c16", "static 1 MiB, c=16", "/1m.txt", 16, SIZES["/1m.txt"]),
    Case("cgi-sh-c1", "CGI sh hello, c=1", "/cgi-bin/hello.sh", 1, HELLO_BODY, spawn="sh-1"),
    Case("cgi-sh-c8", "CGI sh hello, c=8", "/cgi-bin/hello.sh", 8, HELLO_BODY, spawn="sh-2"),
    Case("cgi-py-c1", "CGI python3 hello, c=1", "/cgi-bin/hello.py", 1, HELLO_BODY, spawn="py-1"),
    Case("cgi-py-c8", "CGI python3 hello, c=8", "/cgi-bin/hello.py", 8, HELLO_BODY, spawn="py-2"),
    # SPEC §8 in-process main(); compared with lighttpd's best /bin/sh CGI rate (issue 5).
    Case(
        "inproc-c16",
        "in-process main(), c=16",
        "/app/hello.py",
        16,
        HELLO_BODY,
        baseline=(("lighttpd", "cgi-sh-c1"), ("lighttpd", "cgi-sh-c8")),
    ),
)
CASE_NAMES = frozenset(case.name for case in CASES)

# key -> (script, workers). c=1 cases compare with one spawn at a time; c=8 cases with two
# in parallel (this is a 2-core machine: two spawners is what the hardware can overlap).
SPAWNS = {
    "sh-1": ("sh", 1),
    "sh-2": ("sh", 2),
    "py-1": ("py", 1),
    "py-2": ("py", 2),
}
SPAWN_TITLES = {
    "sh-1": "spawn limit, sh, 1 at a time",
    "sh-2": "spawn limit, sh, 2 in parallel",
    "py-1": "spawn limit, python3, 1 at a time",
    "py-2": "spawn limit, python3, 2 in parallel",
}
