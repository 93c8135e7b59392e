"""Helpers for end-to-end tests: a real `python -m microcgi serve` process, real sockets.

Fixtures built on these live in tests/conftest.py (`serve`, `php_cgi`). The functions here
can be imported by test modules directly: `from helpers import http, request`.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from http.client import HTTPResponse
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"

# SPEC §2: "microcgi X.Y listening on http://HOST:PORT/ (root ...)"
LISTENING_RE = re.compile(
    r"microcgi (?P<version>\S+) listening on https?://(?P<host>[^\s/]+):(?P<port>\d+)/ "
    r"\(root (?P<root>.*)\)"
)
START_TIMEOUT = 10.0  # seconds to wait for the listening line
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL at teardown


class ServerProcess:
    """A `python -m microcgi serve ROOT --host 127.0.0.1 --port 0 ...` child process.

    stdout and stderr go to files (so a chatty server can never block on a full pipe);
    read them with stdout_text() / stderr_text(), or wait for a line with wait_for().
    """

    def __init__(self, root, args, workdir, name="server", env=None, cwd=None, bound=False):
        self.root = str(root)
        self.argv = [
            sys.executable,
            "-m",
            "microcgi",
            "serve",
            self.root,
            "--host",
            HOST,
            "--port",
            "0",
            *[str(a) for a in args],
        ]
        workdir = Path(workdir)
        self.stdout_path = workdir / (name + ".stdout")
        self.stderr_path = workdir / (name + ".stderr")
        child_env = dict(os.environ)
        # The listening line must reach the file now, not when a buffer fills up.
        child_env["PYTHONUNBUFFERED"] = "1"
        child_env.update(env or {})
        # bound: file permissions bind the server even when the tests run as root
        preexec = drop_read_override if bound and os.geteuid() == 0 else None
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=child_env,
                cwd=cwd,
                preexec_fn=preexec,
            )
        self.port = None
        self.host = HOST
        self.version = None

    def wait_listening(self, timeout=START_TIMEOUT):
        """Wait for the listening line and learn the port from it; fail with the logs if not."""
        deadline = time.monotonic() + timeout
        while True:
            m = LISTENING_RE.search(self.stdout_text())
            if m:
                self.port = int(m.group("port"))
                self.host = m.group("host")
                self.version = m.group("version")
                return self
            if self.proc.poll() is not None:
                raise AssertionError(
                    "microcgi exited with status %s before listening\n%s"
                    % (self.proc.returncode, self._logs())
                )
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(
                    "no 'microcgi X.Y listening on http://HOST:PORT/ (root ...)' line on stdout"
                    " within %gs\n%s" % (timeout, self._logs())
                )
            time.sleep(0.02)

    def url(self, path="/"):
        return "http://%s:%d%s" % (HOST, self.port, path)

    def stdout_text(self):
        return self.stdout_path.read_text(errors="replace")

    def stderr_text(self):
        return self.stderr_path.read_text(errors="replace")

    def wait_for(self, text, stream="stderr", timeout=5.0):
        """Wait until `text` appears in the server's stderr (or stdout); returns True/False.

        Logs are written after the response is sent, so a test that checks the log right
        after a request must wait for it.
        """
        read = self.stderr_text if stream == "stderr" else self.stdout_text
        deadline = time.monotonic() + timeout
        while text not in read():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                return text in read()
            time.sleep(0.02)
        return True

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, then SIGKILL if it has not exited within `timeout`; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def _logs(self):
        return "command: %s\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
            " ".join(self.argv),
            self.stdout_text(),
            self.stderr_text(),
        )


_PR_CAPBSET_DROP = 24  # linux/prctl.h
_CAP_DAC_OVERRIDE = 1  # linux/capability.h: root reads and writes whatever the mode
_CAP_DAC_READ_SEARCH = 2  # ... and reads any file, lists and enters any folder


def drop_read_override():
    """In a child of root, before exec: give up root's right to ignore file permissions
    (the two capabilities leave the bounding set, so the exec'd program never gets
    them), so that a mode-000 file is unreadable to it as to anyone. Raises OSError
    where the kernel refuses (no CAP_SETPCAP)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "prctl(PR_CAPBSET_DROP): " + os.strerror(err))


def http(port, raw, timeout=5):
    """Send raw bytes to 127.0.0.1:port and return everything received until the server closes.

    A connection reset by the server ends the read too (what was received until then is
    returned). Raises TimeoutError if the server neither sends nor closes for `timeout` s,
    e.g. because an HTTP/1.1 request without `Connection: close` was kept alive.
    """
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(raw)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            except TimeoutError:
                got = b"".join(chunks)
                raise TimeoutError(
                    "server did not close within %gs; received %d bytes: %r"
                    % (timeout, len(got), got[:300])
                ) from None
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


def request(port, method, path, headers=None, body=b"", version="HTTP/1.1", timeout=5):
    """One request on a fresh connection; returns (status, headers, body).

    headers: a dict or a list of (name, value) pairs (repeats allowed). Host is added unless
    given, Content-Length when there is a body and neither it nor Transfer-Encoding is given.
    The request line is sent exactly as given (no quoting), so odd paths can be tested.
    The response is read by its framing (http.client); the result's headers are a dict of
    lower-case name -> list of values, in the order received.
    """
    pairs = list(headers.items() if isinstance(headers, dict) else headers or [])
    names = {name.lower() for name, _ in pairs}
    if "host" not in names:
        pairs.insert(0, ("Host", "%s:%d" % (HOST, port)))
    if body and "content-length" not in names and "transfer-encoding" not in names:
        pairs.append(("Content-Length", str(len(body))))
    head = "%s %s %s\r\n" % (method, path, version)
    head += "".join("%s: %s\r\n" % (name, value) for name, value in pairs)
    raw = head.encode("latin-1") + b"\r\n" + body
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(raw)
        resp = HTTPResponse(sock, method=method)
        try:
            resp.begin()
            data = resp.read()
            result = {}
            for name, value in resp.getheaders():
                result.setdefault(name.lower(), []).append(value)
            return resp.status, result, data
        finally:
            resp.close()
