"""The servers under test: the bench document root, each server's command and config file,
installing the Debian peers, and starting/stopping them (each in its own process group).

Every server listens on 127.0.0.1 on a port the OS picked (free_port) and serves the same
document root, written at run time by make_docroot():

    1k.txt, 1m.txt            static files (1 KiB, 1 MiB)
    cgi-bin/hello.sh          #!/bin/sh CGI script: "Content-Type: text/plain" + "hello\n"
    cgi-bin/hello.py          the same from python3
    app/hello.py              the same as an in-process main(environ, stdin, stdout) (SPEC §8)
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
HELLO_BODY = b"hello\n"
SIZES = {"/1k.txt": 1024, "/1m.txt": 1024 * 1024}
# The python3 every server runs hello.py with (the one a user's CGI scripts would get).
PYTHON3 = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable

HELLO_SH = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nhello\\n'\n"
HELLO_PY = (
    f"#!{PYTHON3}\n"
    "import sys\n\n"
    'sys.stdout.buffer.write(b"Content-Type: text/plain\\r\\n\\r\\nhello\\n")\n'
)
HELLO_MAIN = (
    '"""The in-process twin of cgi-bin/hello.py (microcgi --runner inprocess, SPEC §8)."""\n\n\n'
    "def main(environ, stdin, stdout):\n"
    '    stdout.write(b"Content-Type: text/plain\\r\\n\\r\\nhello\\n")\n'
)

# tool -> Debian package that provides it
PACKAGES = {"wrk": "wrk", "lighttpd": "lighttpd", "weborf": "weborf", "busybox": "busybox"}


def free_port():
    """A port the OS considers free on 127.0.0.1 (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def make_docroot(base):
    """Write the bench document root under `base`; returns its path."""
    # http.server drops to `nobody` before running a script when started as root: the
    # whole path must be readable by others (mkdtemp makes 0700 folders).
    Path(base).chmod(0o755)
    root = Path(base) / "www"
    (root / "cgi-bin").mkdir(parents=True)
    (root / "app").mkdir()
    line = b"0123456789abcdef" * 3 + b"0123456789abcde\n"  # 64 bytes
    (root / "1k.txt").write_bytes(line * 16)
    (root / "1m.txt").write_bytes(line * 16 * 1024)
    for name, text in (("hello.sh", HELLO_SH), ("hello.py", HELLO_PY)):
        path = root / "cgi-bin" / name
        path.write_text(text)
        path.chmod(0o755)
    (root / "app" / "hello.py").write_text(HELLO_MAIN)
    for path, size in SIZES.items():
        assert (root / path.lstrip("/")).stat().st_size == size
    return root


def find_tool(name):
    """Path of an installed tool, also looking in the sbin folders (lighttpd lives there)."""
    return shutil.which(name) or shutil.which(name, path="/usr/local/sbin:/usr/sbin:/sbin")


def ensure_tools(install, log):
    """Find wrk, lighttpd, weborf, busybox; apt-get the missing ones when root and allowed.

    Returns {tool: path or None}. Never raises: a tool that stays missing is reported
    through `log(message)` and its peer is skipped by the caller.
    """
    found = {tool: find_tool(tool) for tool in PACKAGES}
    missing = [tool for tool, path in found.items() if path is None]
    if not install:
        how = "--no-install was given; Debian package {pkg}"
    elif os.geteuid() != 0:
        how = "not root, so not installed: `sudo apt-get install -y {pkg}`"
    elif not shutil.which("apt-get"):
        how = "no apt-get here to install Debian package {pkg}"
    else:
        how = "`apt-get install -y {pkg}` did not install it"
    if missing and install and os.geteuid() == 0 and shutil.which("apt-get"):
        pkgs = [PACKAGES[tool] for tool in missing]
        log(f"installing {' '.join(pkgs)} with apt-get")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        cmd = ["apt-get", "install", "-y", "--no-install-recommends", *pkgs]
        try:
            if subprocess.run(cmd, env=env, timeout=900, check=False).returncode != 0:
                subprocess.run(["apt-get", "update"], env=env, timeout=900, check=False)
                subprocess.run(cmd, env=env, timeout=900, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            log(f"apt-get failed: {exc}")
        found = {tool: find_tool(tool) for tool in PACKAGES}
    for tool, path in found.items():
        if path is None:
            log(f"{tool} not found ({how.format(pkg=PACKAGES[tool])}); skipping it")
    if found["busybox"] and not _busybox_has_httpd(found["busybox"]):
        log("this busybox has no httpd applet; skipping busybox httpd")
        found["busybox"] = None
    return found


def _busybox_has_httpd(busybox):
    try:
        out = subprocess.run([busybox, "--list"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return "httpd" in out.stdout.split()


def tool_version(argv):
    """First line a tool prints about its version ('' when it cannot say)."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0].strip() if text else ""


@dataclass
class Server:
    """How to run one server: command(port) -> argv; `cases` it takes part in."""

    name: str
    command: object  # callable: port -> argv
    cases: frozenset
    version: str = ""
    cwd: str = "/"
    env: dict = field(default_factory=dict)


def with_port(argv, template):
    """command(port): argv plus `template` with {port} filled in (one argv per Server)."""
    argv = list(argv)
    return lambda port: [*argv, *(part.format(port=port) for part in template)]


def microcgi_servers(root, cases, cmd_prefix, log):
    """microcgi with the subprocess runner, and again with --runner inprocess."""
    if cmd_prefix is None:
        cmd_prefix = [sys.executable, "-m", "microcgi"]
    try:
        probe = subprocess.run(
            [*cmd_prefix, "serve", "--help"], capture_output=True, text=True, timeout=30, cwd=REPO
        )
    except (OSError, subprocess.SubprocessError) as exc:
        probe = subprocess.CompletedProcess(cmd_prefix, 1, "", str(exc))
    if probe.returncode != 0:
        why = (probe.stderr or probe.stdout).strip().splitlines()[-1:] or ["no output"]
        log(f"`{' '.join(cmd_prefix)} serve` does not run ({why[0]}); skipping microcgi")
        return []
    common = ["serve", str(root), "--host", HOST, "--script-timeout", "30"]
    common += ["--max-output", str(1024 * 1024), "--cgi", ".sh=/bin/sh"]
    sub = [*cmd_prefix, *common, "--cgi", f".py={PYTHON3}"]
    inproc = [*cmd_prefix, *common, "--runner", "inprocess"]
    version = tool_version(
        [*cmd_prefix[:-2], "-c", "import microcgi; print(microcgi.__version__)"]
    )
    version = f"microcgi {version} on Python {sys.version.split()[0]}"
    port = ("--port", "{port}")
    return [
        Server("microcgi", with_port(sub, port), cases - {"inproc-c16"}, version, str(REPO)),
        Server(
            "microcgi-inproc",
            with_port(inproc, port),
            frozenset({"inproc-c16"}),
            version,
            str(REPO),
        ),
    ]


def peer_servers(root, confdir, tools, cases):
    """lighttpd, weborf, busybox httpd and python3 -m http.server --cgi, when present."""
    root, confdir = str(root), Path(confdir)
    others = cases - {"inproc-c16"}
    servers = []
    if tools.get("lighttpd"):
        lighttpd = tools["lighttpd"]
        servers.append(
            Server(
                "lighttpd",
                lambda port: [lighttpd, "-D", "-f", _lighttpd_conf(confdir, root, port)],
                others,
                tool_version([lighttpd, "-v"]).split(" - ")[0],
            )
        )
    if tools.get("weborf"):
        weborf = tools["weborf"]
        argv = [weborf, "-i", HOST, "-b", root, "-Y", "-c", f".sh,/bin/sh,.py,{PYTHON3}"]
        version = tool_version([weborf, "-v"])
        servers.append(Server("weborf", with_port(argv, ("-p", "{port}")), others, version))
    if tools.get("busybox"):
        busybox = tools["busybox"]
        argv = [busybox, "httpd", "-f", "-h", root, "-c", _busybox_conf(confdir)]
        version = tool_version([busybox]).split(" multi-call")[0] + " httpd"
        command = with_port(argv, ("-p", HOST + ":{port}"))
        servers.append(Server("busybox", command, others, version))
    argv = [PYTHON3, "-m", "http.server", "--cgi", "--bind", HOST, "--directory", root]
    version = "http.server --cgi, " + tool_version([PYTHON3, "--version"])
    servers.append(Server("http.server", with_port(argv, ("{port}",)), others, version))
    return servers


def _lighttpd_conf(confdir, root, port):
    """lighttpd.conf for one port: mod_cgi, .sh and .py assigned to their interpreters.

    Everything else is lighttpd's default (one process, keep-alive on, no access log).
    """
    path = confdir / f"lighttpd-{port}.conf"
    path.write_text(
        f'server.document-root = "{root}"\n'
        f'server.bind = "{HOST}"\n'
        f"server.port = {port}\n"
        f'server.errorlog = "{confdir}/lighttpd-{port}.error.log"\n'
        'server.modules += ("mod_cgi")\n'
        f'cgi.assign = (".sh" => "/bin/sh", ".py" => "{PYTHON3}")\n'
        'index-file.names = ("index.html")\n'
    )
    return str(path)


def _busybox_conf(confdir):
    """busybox httpd.conf: it runs /cgi-bin/* itself; these lines name the interpreters."""
    path = confdir / "busybox-httpd.conf"
    path.write_text(f"# written by bench/run.py\n*.sh:/bin/sh\n*.py:{PYTHON3}\n")
    return str(path)


class Running:
    """A started server: its process (leader of its own process group) and port."""

    live = set()  # every server still running, for the emergency stop

    def __init__(self, server, port, proc, log_path, started):
        self.server, self.port, self.proc, self.log_path = server, port, proc, log_path
        self.started = started  # time.perf_counter() just before exec
        Running.live.add(self)

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        """SIGTERM the whole process group, SIGKILL after 3 s, always reap."""
        Running.live.discard(self)
        for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # CGI children may outlive the leader for a moment: clear the group.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def log_tail(self, lines=5):
        try:
            text = Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])


def stop_all():
    for running in list(Running.live):
        running.stop()


def start(server, logdir, timeout=20.0):
    """Start `server` on a fresh port and wait until the port accepts a connection.

    Returns (Running, seconds from exec to the first accepted connection); raises
    RuntimeError (with the server's last log lines) when it does not come up.
    """
    port = free_port()
    log_path = Path(logdir) / f"{server.name}-{port}.log"
    env = dict(os.environ, **server.env)
    with open(log_path, "wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(
            server.command(port),
            cwd=server.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Running(server, port, proc, log_path, started)
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if _accepts(port):
            return running, time.perf_counter() - started
        if proc.poll() is not None:
            break
        time.sleep(0.001)
    running.stop()
    raise RuntimeError(f"{server.name} did not start on port {port}:\n{running.log_tail()}")


def _accepts(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect((HOST, port))
        except OSError:
            return False
        return True
