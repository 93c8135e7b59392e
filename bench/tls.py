"""HTTPS keep-alive requests/s of a 1 KiB file: microcgi against lighttpd with mod_openssl,
in the same run, on 127.0.0.1 (issue 14; docs/performance.md, "HTTPS").

    .venv/bin/python bench/tls.py [--seconds 5] [--rounds 3] [--conns 8]

Both servers get the same certificate (an ECDSA P-256 one made by `microcgi
tls-selfsigned`) and the same file; wrk keeps its connections alive, so this measures
TLS record work and the server loop, not handshakes. The rounds alternate the servers
and the best round of each counts. Prints one line per round and a summary line with the
ratio. Needs wrk and lighttpd with mod_openssl (Debian: lighttpd-mod-openssl).
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import measure  # noqa: E402
import servers as srv  # noqa: E402

MOD_OPENSSL = ("/usr/lib/lighttpd/mod_openssl.so", "/usr/lib64/lighttpd/mod_openssl.so")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    import socket

    with socket.socket() as s:
        s.bind((srv.HOST, 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10.0):
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection((srv.HOST, port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def check(port, cafile, body):
    """One request over TLS, verifying the certificate: the 1 KiB file, byte for byte."""
    import http.client
    import ssl

    ctx = ssl.create_default_context(cafile=cafile)
    conn = http.client.HTTPSConnection(srv.HOST, port, context=ctx, timeout=10)
    ctx.check_hostname = False  # the certificate names localhost, the URL an address
    conn.request("GET", "/1k.txt")
    resp = conn.getresponse()
    got = resp.read()
    conn.close()
    return resp.status == 200 and got == body


def start(argv, log_path):
    out = open(log_path, "wb")
    return subprocess.Popen(
        argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--conns", type=int, default=8)
    args = p.parse_args(argv)
    wrk = srv.find_tool("wrk")
    lighttpd = srv.find_tool("lighttpd")
    mod = next((m for m in MOD_OPENSSL if os.path.exists(m)), None)
    if wrk is None:
        log("bench/tls.py: no wrk: skipped")
        return 0
    with tempfile.TemporaryDirectory(prefix="microcgi-tls-bench-") as tmp:
        tmp = Path(tmp)
        root = tmp / "www"
        root.mkdir()
        body = (b"0123456789abcdef" * 3 + b"0123456789abcde\n") * 16
        (root / "1k.txt").write_bytes(body)
        done = subprocess.run(
            [sys.executable, "-m", "microcgi", "tls-selfsigned", str(tmp / "certs"),
             "--name", "localhost"],
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            log("bench/tls.py: " + done.stderr.strip())
            return 1
        cert, key = tmp / "certs" / "cert.pem", tmp / "certs" / "key.pem"
        pem = tmp / "lighttpd.pem"  # lighttpd 1.4.69 wants both in one file
        pem.write_bytes(cert.read_bytes() + key.read_bytes())
        targets = {}
        port = free_port()
        targets["microcgi"] = (
            port,
            [sys.executable, "-m", "microcgi", "serve", str(root), "--port", str(port),
             "--tls-cert", str(cert), "--tls-key", str(key)],
        )  # fmt: skip
        if lighttpd is None or mod is None:
            log("bench/tls.py: lighttpd or its mod_openssl missing (apt-get install "
                "lighttpd lighttpd-mod-openssl): microcgi only")  # fmt: skip
        else:
            port = free_port()
            conf = tmp / "lighttpd.conf"
            conf.write_text(
                f'server.document-root = "{root}"\n'
                f'server.bind = "{srv.HOST}"\n'
                f"server.port = {port}\n"
                f'server.errorlog = "{tmp}/lighttpd.error.log"\n'
                'server.modules += ("mod_openssl")\n'
                'ssl.engine = "enable"\n'
                f'ssl.pemfile = "{pem}"\n'
            )
            targets["lighttpd"] = (port, [lighttpd, "-D", "-f", str(conf)])
        lua = measure.write_wrk_script(tmp)
        best = {}
        for rnd in range(args.rounds):
            for name, (port, cmd) in targets.items():
                proc = start(cmd, tmp / f"{name}.log")
                try:
                    if not wait_port(port, proc) or not check(port, str(cert), body):
                        log(f"bench/tls.py: {name} did not serve the file over TLS; see its log:")
                        log((tmp / f"{name}.log").read_text(errors="replace")[-800:])
                        return 1
                    r = measure.run_wrk(
                        wrk, lua, port, "/1k.txt", args.conns, args.seconds, scheme="https"
                    )
                finally:
                    stop(proc)
                bad = r["errors"]["status"] + r["errors"]["timeout"] + r["errors"]["connect"]
                log(f"round {rnd + 1} {name}: {r['rps']:.0f} requests/s, errors {r['errors']}")
                if bad:
                    log(f"bench/tls.py: {name} had failures")
                best[name] = max(best.get(name, 0.0), r["rps"])
        line = "TLS keep-alive, 1 KiB file, %d connections: microcgi %.0f/s" % (
            args.conns,
            best["microcgi"],
        )
        if "lighttpd" in best:
            ratio = best["microcgi"] / best["lighttpd"]
            line += f", lighttpd+mod_openssl {best['lighttpd']:.0f}/s, ratio {ratio:.2f}"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
