"""Turning the rounds into numbers: per-case medians, same-round ratios, the markdown tables,
the issue-5 target check, the machine line, and the docs/performance.md update."""

import os
import platform
import re
import statistics
from pathlib import Path

from cases import CASES, SPAWN_TITLES

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
MIB = 1024.0  # KiB per MiB


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


class Summary:
    """Per-round lookups over the JSON data, and the medians the tables show."""

    def __init__(self, data):
        self.data = data
        self.runs = {}  # (server, case) -> {round: run dict}
        self.spawns = {}  # key -> {round: rate}
        for rnd in data["rounds"]:
            for run in rnd["runs"]:
                self.runs.setdefault((run["server"], run["case"]), {})[rnd["round"]] = run
            for spawn in rnd["spawns"]:
                self.spawns.setdefault(spawn["key"], {})[rnd["round"]] = spawn["rate"]

    def rates(self, server, case):
        return {r: run["rps"] for r, run in self.runs.get((server, case), {}).items()}

    def rps(self, server, case):
        return median(self.rates(server, case).values())

    def stat(self, server, case, key):
        return median(run.get(key) for run in self.runs.get((server, case), {}).values())

    def ratio(self, server, case, baselines):
        """Median over rounds of rate / (best baseline rate in the same round)."""
        mine = self.rates(server, case)
        bases = [self.rates(s, c) for s, c in baselines]
        ratios = []
        for rnd, rate in mine.items():
            base = max((b[rnd] for b in bases if rnd in b), default=0)
            if base > 0:
                ratios.append(rate / base)
        return median(ratios)

    def fraction(self, server, case, key):
        """Median over rounds of rate / spawn limit in the same round."""
        limit = self.spawns.get(key, {})
        mine = self.rates(server, case)
        return median(rate / limit[r] for r, rate in mine.items() if limit.get(r))

    def spawn_rate(self, key):
        return median(self.spawns.get(key, {}).values())

    def errors(self, server, case):
        """Failed requests over all rounds: non-2xx/3xx, timeouts, failed connects."""
        total = 0
        for run in self.runs.get((server, case), {}).values():
            errs = run.get("errors", {})
            total += errs.get("status", 0) + errs.get("timeout", 0) + errs.get("connect", 0)
        return total


def medians(data):
    """{server: {case: {rps, p99_ms, ratio, spawn_fraction}}} for the JSON file."""
    summary = Summary(data)
    out = {}
    for case in CASES:
        for server in data["server_order"]:
            if (server, case.name) not in summary.runs:
                continue
            out.setdefault(server, {})[case.name] = {
                "rps": summary.rps(server, case.name),
                "p99_ms": summary.stat(server, case.name, "p99_ms"),
                "ratio": summary.ratio(server, case.name, case.baselines()),
                "spawn_fraction": summary.fraction(server, case.name, case.spawn)
                if case.spawn
                else None,
            }
    return out


def fmt_rate(value):
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def fmt_ms(value):
    if value is None:
        return "–"
    return f"{value:.0f}" if value >= 100 else f"{value:.2g}" if value < 1 else f"{value:.3g}"


def fmt_ratio(value):
    return "–" if value is None else f"{value:.2f}×" if value < 10 else f"{value:.1f}×"


def fmt_pct(value):
    return "–" if value is None else f"{100 * value:.0f}%"


def fmt_mib(kib):
    return "–" if not kib else f"{kib / MIB:.1f}"


def throughput_table(data):
    """One row per case × server (and the spawn limits beside the CGI cases)."""
    summary = Summary(data)
    order = data["server_order"]
    rows = [
        "| case | server | req/s | p99 ms | × lighttpd | of spawn limit | peak RSS MiB | notes |",
        "|---|---|--:|--:|--:|--:|--:|---|",
    ]
    for case in CASES:
        if case.spawn and summary.spawn_rate(case.spawn) is not None:
            rate = fmt_rate(summary.spawn_rate(case.spawn))
            title = SPAWN_TITLES[case.spawn]
            rows.append(f"| {case.title} | *{title} (no HTTP)* | {rate} | | | 100% | | |")
        for server in order:
            rows.append(_case_row(data, summary, case, server))
    return "\n".join(row for row in rows if row)


def _case_row(data, summary, case, server):
    info = data["servers"][server]
    if (server, case.name) not in summary.runs:
        why = info.get("skipped", {}).get(case.name)
        return f"| {case.title} | {server} | – | – | – | – | – | {why} |" if why else ""
    ratio = summary.ratio(server, case.name, case.baselines())
    frac = summary.fraction(server, case.name, case.spawn) if case.spawn else None
    notes = []
    errors = summary.errors(server, case.name)
    if errors:
        notes.append(f"{errors} failed requests")
    if case.baseline:
        notes.append("× is vs lighttpd's best sh CGI rate")
    if info.get("died"):
        notes.append(f"died: {info['died']}")
    cells = [
        case.title,
        server,
        fmt_rate(summary.rps(server, case.name)),
        fmt_ms(summary.stat(server, case.name, "p99_ms")),
        fmt_ratio(ratio),
        fmt_pct(frac) if case.spawn else "",
        fmt_mib(summary.stat(server, case.name, "rss_peak_kib")),
        "; ".join(notes),
    ]
    return "| " + " | ".join(cells) + " |"


def servers_table(data):
    summary = Summary(data)
    rows = [
        "| server | version | start-up ms (median) | RSS idle MiB | RSS idle at end MiB "
        "| peak RSS under load MiB |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for server in data["server_order"]:
        info = data["servers"][server]
        peaks = [
            (summary.stat(server, case.name, "rss_peak_kib") or 0, case.name) for case in CASES
        ]
        peak, where = max(peaks)
        cells = [
            server,
            info.get("version", ""),
            fmt_ms(median(info.get("startup_ms", []))),
            fmt_mib(info.get("rss_idle_kib")),
            fmt_mib(info.get("rss_end_kib")),
            f"{fmt_mib(peak)} ({where})" if peak else "–",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def targets(data):
    """The issue-5 targets: [(target, value, threshold, "min" | "max", unit)]."""
    s = Summary(data)
    me = "microcgi"
    sh_c1 = (("lighttpd", "cgi-sh-c1"),)
    sh_any = (("lighttpd", "cgi-sh-c1"), ("lighttpd", "cgi-sh-c8"))
    out = [
        ("CGI sh hello, c=1: ≥ 1.0× lighttpd", s.ratio(me, "cgi-sh-c1", sh_c1), 1.0),
        ("CGI sh hello, c=1: ≥ 85% of spawn limit", s.fraction(me, "cgi-sh-c1", "sh-1"), 0.85),
        (
            "CGI python3 hello, c=1: ≥ 95% of spawn limit",
            s.fraction(me, "cgi-py-c1", "py-1"),
            0.95,
        ),
        (
            "CGI python3 hello, c=8: ≥ 95% of spawn limit",
            s.fraction(me, "cgi-py-c8", "py-2"),
            0.95,
        ),
        ("static 1 KiB, c=16: ≥ 0.25× lighttpd", _vs(s, "static-1k-c16", "lighttpd"), 0.25),
        ("static 1 KiB, c=16: ≥ 10× http.server", _vs(s, "static-1k-c16", "http.server"), 10.0),
        ("static 1 MiB, c=16: ≥ 0.8× lighttpd", _vs(s, "static-1m-c16", "lighttpd"), 0.8),
        (
            "in-process, c=16: ≥ 10× lighttpd's sh CGI rate",
            s.ratio("microcgi-inproc", "inproc-c16", sh_any),
            10.0,
        ),
    ]
    out = [(name, value, limit, "min", "%" if "%" in name else "×") for name, value, limit in out]
    info = data["servers"].get(me, {})
    rss = info.get("rss_idle_kib")
    out.append(("RSS idle ≤ 15 MiB", rss / MIB if rss else None, 15.0, "max", "MiB"))
    startup = median(info.get("startup_ms", []))
    out.append(("start-up until the port accepts ≤ 150 ms", startup, 150.0, "max", "ms"))
    return out


def _vs(summary, case, base_server):
    return summary.ratio("microcgi", case, ((base_server, case),))


def fmt_target_value(value, unit):
    if value is None:
        return "not measured"
    if unit == "%":
        return fmt_pct(value)
    if unit == "×":
        return fmt_ratio(value)
    return f"{value:.1f} MiB" if unit == "MiB" else f"{value:.0f} ms"


def targets_table(data):
    rows = ["| target | measured | verdict |", "|---|--:|---|"]
    for name, value, limit, kind, unit in targets(data):
        if value is None:
            verdict = "–"
        elif (value >= limit) if kind == "min" else (value <= limit):
            verdict = "met"
        else:
            short = (1 - value / limit) if kind == "min" else (value / limit - 1)
            verdict = f"missed by {100 * short:.0f}%"
        rows.append(f"| {name} | {fmt_target_value(value, unit)} | {verdict} |")
    return "\n".join(rows)


def machine():
    """Cores, CPU model, kernel, Python versions: the machine line's facts."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def machine_line(info, cgi_python):
    return (
        f"{info['cores']} cores, {info['cpu']}, {info['kernel']}, Python {info['python']} "
        f"(bench and microcgi); CGI scripts run by {cgi_python}"
    )


def render(data):
    """The markdown block: command, machine, and the three tables."""
    settings = data["settings"]
    return "\n".join(
        [
            f"Command: {_command(data)} — {data['date']}{_commit(data)}; "
            f"{settings['rounds']} round{'s' * (settings['rounds'] != 1)} × "
            f"{settings['seconds']} s per case, servers "
            "interleaved round by round.",
            "",
            f"Machine: {machine_line(data['machine'], data['cgi_python'])}; load average "
            f"{data['loadavg_start'][0]:.2f} before the run, {data['loadavg_end'][0]:.2f} after.",
            "",
            "#### Throughput (medians over rounds; ratios are medians of same-round ratios)",
            "",
            throughput_table(data),
            "",
            "#### Servers",
            "",
            servers_table(data),
            "",
            "#### Issue-5 targets (microcgi)",
            "",
            targets_table(data),
            *_warnings(data),
        ]
    )


def _warnings(data):
    notes = list(data.get("warnings", []))
    loads = [x for rnd in data["rounds"] for x in rnd["runs"] + rnd["spawns"] if "quiet" in x]
    busy = sum(1 for x in loads if not x["quiet"])
    if busy:
        notes.append(
            f"{busy} of {len(loads)} measurements started while other work kept the CPUs "
            "more than 20% busy (after waiting up to "
            f"{max(x['quiet_wait_s'] for x in loads):.0f} s for a quiet moment)"
        )
    if not notes:
        return []
    return ["", "Notes from the run:", "", *(f"- {note}" for note in notes)]


def _commit(data):
    return f", microcgi at commit {data['commit']}" if data.get("commit") else ""


def _command(data):
    if data.get("make"):
        return f"`{data['make']}` (runs `{data['command']}`)"
    return f"`{data['command']}`"


def update_docs(path, block):
    """Replace what lies between the bench markers in `path`; returns an error or None."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        return f"cannot read {path}: {exc}"
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        return f"{path} has no {BEGIN} … {END} markers"
    new = pattern.sub(lambda _: f"{BEGIN}\n{block}\n{END}", text, count=1)
    path.write_text(new)
    return None
