"""microcgi side by side with lighttpd, weborf, busybox httpd and python3 -m http.server --cgi
(issue 5). Everything runs on 127.0.0.1; see docs/performance.md for what is measured.

    make bench          .venv/bin/python bench/run.py           5 rounds × 5 s, updates the docs
    make bench-quick    .venv/bin/python bench/run.py --quick   2 rounds × 1 s, under 2 minutes

Prints a markdown table on stdout (progress goes to stderr), writes every round to
bench/results/latest.json, and with --write-docs (the default of a full run) replaces the
block between the bench markers in docs/performance.md.
"""

import argparse
import datetime
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import measure
import report
import servers as srv
from cases import CASE_NAMES, CASES, SPAWNS

RESULTS = srv.REPO / "bench" / "results"
DOCS = srv.REPO / "docs" / "performance.md"


WARNINGS = []  # what went wrong or was skipped; shown under the tables


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def warn(msg):
    """Log a problem and keep its first line for the report."""
    log(f"bench: {msg}")
    WARNINGS.append(msg.splitlines()[0])


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="bench/run.py", description=__doc__.split("\n\n")[0].replace("\n", " ")
    )
    parser.add_argument("--quick", action="store_true", help="2 rounds × 1 s, 3 start-ups")
    parser.add_argument("--rounds", type=int, help="rounds (full: 5, quick: 2)")
    parser.add_argument("--seconds", type=int, help="seconds per case and round (5; quick 1)")
    parser.add_argument("--starts", type=int, help="start-ups timed per server (7; quick 3)")
    parser.add_argument(
        "--write-docs",
        action=argparse.BooleanOptionalAction,
        help="update docs/performance.md (default: yes for a full run, no with --quick)",
    )
    parser.add_argument("--servers", help="comma-separated subset of servers to run")
    parser.add_argument("--cases", help="comma-separated subset of: " + ", ".join(CASE_NAMES))
    parser.add_argument("--no-install", action="store_true", help="never run apt-get")
    parser.add_argument(
        "--microcgi-cmd",
        help="how to run microcgi (default: this Python -m microcgi), e.g. '.venv/bin/microcgi'",
    )
    parser.add_argument("--json", type=Path, default=RESULTS / "latest.json")
    parser.add_argument(
        "--report-from",
        type=Path,
        metavar="JSON",
        help="measure nothing: print (and with --write-docs, write) the report of a saved run",
    )
    parser.add_argument("--pause", type=float, help="seconds between loads (0.1; quick 0.05)")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        metavar="S",
        help="before each load, wait up to S s for the CPUs to be <20%% busy (5; quick 0)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds or (2 if quick else 5)
    args.seconds = args.seconds or (1 if quick else 5)
    args.starts = args.starts or (3 if quick else 7)
    if args.pause is None:
        args.pause = 0.05 if quick else 0.1
    if args.wait_quiet is None:
        args.wait_quiet = 0.0 if quick else 5.0
    if args.write_docs is None:
        args.write_docs = not quick and not args.report_from
    if not (1 <= args.rounds <= 50 and 1 <= args.seconds <= 300 and 1 <= args.starts <= 50):
        parser.error("--rounds must be 1–50, --seconds 1–300, --starts 1–50")
    args.cases = _subset(parser, args.cases, CASE_NAMES, "case")
    return args


def _subset(parser, text, known, what):
    if not text:
        return frozenset(known)
    chosen = frozenset(name.strip() for name in text.split(",") if name.strip())
    unknown = chosen - known
    if unknown:
        parser.error(f"unknown {what}(s): {', '.join(sorted(unknown))}")
    return chosen


def command_line(argv):
    """The exact command, as typed from the repo root, and the make target that runs it."""
    exe = sys.executable
    if exe.startswith(str(srv.REPO) + os.sep):
        exe = os.path.relpath(exe, srv.REPO)
    cmd = shlex.join([exe, "bench/run.py", *argv])
    make = None
    if os.environ.get("MAKELEVEL") and argv in ([], ["--quick"]):
        make = "make bench-quick" if argv else "make bench"
    return cmd, make


def choose_servers(args, tools, root, confdir):
    prefix = shlex.split(args.microcgi_cmd) if args.microcgi_cmd else None
    chosen = srv.microcgi_servers(root, args.cases, prefix, warn)
    chosen += srv.peer_servers(root, confdir, tools, args.cases)
    if args.servers:
        wanted = {name.strip() for name in args.servers.split(",")}
        unknown = wanted - {s.name for s in chosen}
        if unknown:
            warn(f"not available or unknown: {', '.join(sorted(unknown))}")
        chosen = [s for s in chosen if s.name in wanted]
    return [s for s in chosen if s.cases & args.cases]


def time_startups(servers, data, starts, logdir):
    """Start each server `starts` times (interleaved) and time exec → port accepts.

    Returns the servers that started every time.
    """
    ok = list(servers)
    for _ in range(starts):
        for server in list(ok):
            try:
                running, took = srv.start(server, logdir)
            except (OSError, RuntimeError) as exc:
                warn(f"{server.name} does not start, skipping it: {exc}")
                data["servers"][server.name]["skipped"]["all"] = "does not start"
                ok.remove(server)
                continue
            running.stop()
            data["servers"][server.name]["startup_ms"].append(round(took * 1000, 2))
    return ok


def start_and_check(servers, data, args, logdir):
    """Start the servers for the rounds; check every case's response; warm up; idle RSS.

    Returns {name: (Running, [cases it passed])}.
    """
    started = []
    for server in servers:
        try:
            started.append((server, srv.start(server, logdir)[0]))
        except (OSError, RuntimeError) as exc:
            warn(f"{server.name} does not start, skipping it: {exc}")
    time.sleep(0.3)
    live = {}
    for server, running in started:
        info = data["servers"][server.name]
        info["rss_start_kib"] = measure.tree_rss_kib(running.pid)
        live[server.name] = (running, _check_cases(server, running, info, args))
    time.sleep(0.5)
    for server, running in started:
        data["servers"][server.name]["rss_idle_kib"] = measure.tree_rss_kib(running.pid)
    return live


def _check_cases(server, running, info, args):
    """The cases whose URL answers right; each URL then gets 10 warm-up requests."""
    passed, warmed = [], set()
    for case in CASES:
        if case.name not in server.cases or case.name not in args.cases:
            continue
        problem = measure.check_response(running.port, case.path, case.expected)
        if problem:
            warn(f"{server.name} fails {case.name} ({problem}); skipping that case")
            info["skipped"][case.name] = f"wrong response: {problem}"
            continue
        passed.append(case)
        if case.path not in warmed:  # caches, lazy imports, first spawns
            warmed.add(case.path)
            for _ in range(10):
                measure.check_response(running.port, case.path, case.expected)
    return passed


def run_round(rnd, live, data, args, tools, spawn_argv, lua):
    """One round: for each case, the spawn limit it needs, then every server in turn."""
    entry = {"round": rnd, "runs": [], "spawns": []}
    data["rounds"].append(entry)
    tag = f"[{rnd}/{args.rounds}]"
    for case in CASES:
        if case.name not in args.cases:
            continue
        if case.spawn:
            script, workers = SPAWNS[case.spawn]
            quiet = _wait_quiet(args)
            try:
                result = measure.spawn_limit(spawn_argv[script], workers, args.seconds)
            except (RuntimeError, subprocess.SubprocessError, ValueError) as exc:
                warn(f"{tag} spawn limit {case.spawn} failed: {exc}")
            else:
                entry["spawns"].append(dict(result, key=case.spawn, **quiet))
                log(f"{tag} {case.name:14} {'spawn ' + case.spawn:16} {result['rate']:9.1f}/s")
        if not tools.get("wrk"):
            continue
        for name, (running, passed) in live.items():
            if case in passed:
                _load(tag, case, name, running, data, entry, args, tools["wrk"], lua)


def _wait_quiet(args):
    if args.wait_quiet <= 0:
        return {}
    waited, quiet = measure.wait_quiet(args.wait_quiet)
    return {"quiet_wait_s": waited, "quiet": quiet}


def _load(tag, case, name, running, data, entry, args, wrk, lua):
    if running.proc.poll() is not None:
        info = data["servers"][name]
        if not info.get("died"):
            info["died"] = f"exit status {running.proc.returncode} in round {entry['round']}"
            warn(f"{name} died: {running.log_tail()}")
        return
    quiet = _wait_quiet(args)
    with measure.RssSampler(running.pid) as sampler:
        try:
            result = measure.run_wrk(wrk, lua, running.port, case.path, case.conns, args.seconds)
        except (RuntimeError, subprocess.SubprocessError, ValueError) as exc:
            warn(f"{tag} {case.name} {name}: wrk failed: {exc}")
            return
    result.update(case=case.name, server=name, rss_peak_kib=sampler.peak_kib, **quiet)
    entry["runs"].append(result)
    errs = result["errors"]
    bad = errs["status"] + errs["timeout"] + errs["connect"]
    note = f"  ({bad} failed)" if bad else ""
    log(
        f"{tag} {case.name:14} {name:16} {result['rps']:9.1f}/s  p99 {result['p99_ms']:.2f} ms"
        f"{note}"
    )
    time.sleep(args.pause)


def git_commit():
    """The commit the measured code is at, marked when firmware/ or host/ differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=srv.REPO,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "firmware", "host"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=srv.REPO,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    commit = head.stdout.strip()
    return commit + " + uncommitted changes" if dirty.stdout.strip() else commit


def new_data(args, argv, servers):
    return {
        "commit": git_commit(),
        "command": command_line(argv)[0],
        "make": command_line(argv)[1],
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": report.machine(),
        "cgi_python": f"{srv.PYTHON3} ({srv.tool_version([srv.PYTHON3, '--version'])})",
        "settings": {"rounds": args.rounds, "seconds": args.seconds, "quick": args.quick},
        "server_order": [s.name for s in servers],
        "servers": {
            s.name: {"version": s.version, "startup_ms": [], "skipped": {}} for s in servers
        },
        "rounds": [],
        "loadavg_start": list(os.getloadavg()),
    }


def run_all(args, argv, tools, tmp):
    """Everything that needs servers running; returns the JSON data."""
    root = srv.make_docroot(tmp)
    confdir, logdir = tmp / "conf", tmp / "logs"
    confdir.mkdir()
    logdir.mkdir()
    servers = choose_servers(args, tools, root, confdir)
    data = new_data(args, argv, servers)
    if data["loadavg_start"][0] > 0.5:
        load = data["loadavg_start"][0]
        warn(f"the machine is busy (load average {load:.2f}): expect noisy numbers")
    log(f"bench: servers: {', '.join(s.name for s in servers) or 'none'}")
    t0 = time.monotonic()
    servers = time_startups(servers, data, args.starts, logdir)
    log(f"bench: start-up times taken ({time.monotonic() - t0:.1f} s)")
    t0 = time.monotonic()
    live = start_and_check(servers, data, args, logdir)
    log(f"bench: servers started, responses checked ({time.monotonic() - t0:.1f} s)")
    spawn_argv = {
        "sh": ["/bin/sh", str(root / "cgi-bin" / "hello.sh")],
        "py": [srv.PYTHON3, str(root / "cgi-bin" / "hello.py")],
    }
    lua = measure.write_wrk_script(tmp)
    for rnd in range(1, args.rounds + 1):
        t0 = time.monotonic()
        run_round(rnd, live, data, args, tools, spawn_argv, lua)
        log(f"bench: round {rnd} took {time.monotonic() - t0:.1f} s")
    time.sleep(0.5)
    for name, (running, _) in live.items():
        if running.proc.poll() is None:
            data["servers"][name]["rss_end_kib"] = measure.tree_rss_kib(running.pid)
        running.stop()
    return data


def output(data, args):
    data["medians"] = report.medians(data)
    data["targets"] = [
        {"target": name, "value": value, "threshold": limit, "kind": kind}
        for name, value, limit, kind, _ in report.targets(data)
    ]
    block = report.render(data)
    print(block)
    try:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=1) + "\n")
        log(f"bench: every round is in {args.json}")
    except OSError as exc:
        log(f"bench: cannot write {args.json}: {exc}")
    if args.write_docs:
        problem = report.update_docs(DOCS, block)
        log(f"bench: {problem}" if problem else f"bench: updated {DOCS}")


def report_only(args):
    try:
        data = json.loads(args.report_from.read_text())
    except (OSError, ValueError) as exc:
        log(f"bench: cannot read {args.report_from}: {exc}")
        return 2
    args.json = args.report_from
    output(data, args)
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    WARNINGS.clear()
    if args.report_from:
        return report_only(args)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    started = time.monotonic()
    try:
        tools = srv.ensure_tools(not args.no_install, warn)
        if not tools.get("wrk"):
            warn("without wrk only the spawn limits and start-up times are measured")
        with tempfile.TemporaryDirectory(prefix="microcgi-bench-") as tmp:
            try:
                data = run_all(args, argv, tools, Path(tmp))
            finally:
                srv.stop_all()  # before the folder is removed, even on Ctrl-C or an error
    except KeyboardInterrupt:
        log("bench: interrupted; every server it started is stopped")
        return 130
    finally:
        srv.stop_all()
    data["wall_s"] = round(time.monotonic() - started, 1)
    data["loadavg_end"] = list(os.getloadavg())
    data["warnings"] = WARNINGS
    output(data, args)
    log(f"bench: done in {data['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
