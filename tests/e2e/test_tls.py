"""HTTPS (issue 14): `--tls-cert/--tls-key`, `--redirect-http`, `microcgi tls-selfsigned`.

Real `microcgi serve` processes, real clients: curl and Python's ssl module, trusting the
self-signed certificate that `microcgi tls-selfsigned` made (module fixture).
"""

import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time

import pytest
from helpers import REPO

CGI_BIN = REPO / "tests" / "cgi_bin"
CURL = shutil.which("curl")
REDIRECT_RE = re.compile(r"redirecting http://[^\s/]+:(\d+)/ to https")
SMALL = bytes((i * 7 + 13) % 95 + 32 for i in range(1023)) + b"\n"


def microcgi(*args, env=None, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "microcgi", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    """(cert.pem, key.pem) for localhost, made by `microcgi tls-selfsigned`."""
    folder = tmp_path_factory.mktemp("tls") / "certs"
    done = microcgi("tls-selfsigned", str(folder), "--name", "localhost")
    assert done.returncode == 0, done.stderr
    return str(folder / "cert.pem"), str(folder / "key.pem")


def site(root):
    (root / "cgi-bin").mkdir(parents=True)
    for name in ("cat.sh", "dump_env.py", "big.py"):
        shutil.copy(CGI_BIN / name, root / "cgi-bin" / name)
        os.chmod(root / "cgi-bin" / name, 0o755)
    (root / "small.txt").write_bytes(SMALL)
    # larger than the file cache (64 KiB): sent from the file, not from memory
    (root / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    return root


def client(server, cafile, timeout=10.0):
    ctx = ssl.create_default_context(cafile=cafile)
    raw = socket.create_connection((server.host, server.port), timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def read_all(sock):
    data = b""
    while True:
        try:
            piece = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLEOFError):
            break
        if not piece:
            break
        data += piece
    return data


def responses(data):
    """The responses in data, in order: [(status, body)] (Content-Length or chunked)."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, data[:200]
        status = int(head.split(b" ", 2)[1])
        if re.search(rb"(?im)^transfer-encoding: *chunked", head):
            body = bytearray()
            while True:
                line, rest = rest.split(b"\r\n", 1)
                n = int(line, 16)
                if n == 0:
                    rest = rest[2:]
                    break
                body += rest[:n]
                rest = rest[n + 2 :]
            out.append((status, bytes(body)))
            data = rest
            continue
        m = re.search(rb"(?im)^content-length: *(\d+)", head)
        n = int(m.group(1)) if m else 0
        out.append((status, rest[:n]))
        data = rest[n:]
    return out


def get(server, cafile, target, headers=b""):
    with client(server, cafile) as s:
        s.sendall(
            b"GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s\r\n"
            % (target.encode(), headers)
        )
        return read_all(s)


def still_serves(server, cafile):
    assert responses(get(server, cafile, "/small.txt")) == [(200, SMALL)]


@pytest.fixture
def tls_server(serve, tmp_path, cert):
    def start(*args):
        return serve(site(tmp_path / "www"), "--tls-cert", cert[0], "--tls-key", cert[1], *args)

    return start


def test_selfsigned_certificate_names_the_host(cert, tmp_path):
    text = subprocess.run(
        ["openssl", "x509", "-in", cert[0], "-noout", "-text"], capture_output=True, text=True
    ).stdout
    assert "DNS:localhost" in text
    assert os.stat(cert[1]).st_mode & 0o077 == 0  # the key is the owner's only
    done = microcgi("tls-selfsigned", str(tmp_path / "ip"), "--name", "192.168.4.1")
    assert done.returncode == 0, done.stderr
    text = subprocess.run(
        ["openssl", "x509", "-in", str(tmp_path / "ip" / "cert.pem"), "-noout", "-text"],
        capture_output=True,
        text=True,
    ).stdout
    assert "IP Address:192.168.4.1" in text
    # never over an existing key
    again = microcgi("tls-selfsigned", str(tmp_path / "ip"), "--name", "192.168.4.1")
    assert again.returncode == 2
    assert again.stderr.count("\n") == 1 and "exists" in again.stderr


def test_selfsigned_without_openssl_uses_cryptography(serve, tmp_path):
    pytest.importorskip("cryptography", reason="the microcgi[tls] extra is not installed")
    env = dict(os.environ, PATH=str(tmp_path))  # no openssl command
    done = microcgi("tls-selfsigned", str(tmp_path / "ip"), "--name", "10.0.0.7", env=env)
    assert done.returncode == 0, done.stderr
    assert "(cryptography)" in done.stdout
    text = subprocess.run(
        ["openssl", "x509", "-in", str(tmp_path / "ip" / "cert.pem"), "-noout", "-text"],
        capture_output=True,
        text=True,
    ).stdout
    assert "IP Address:10.0.0.7" in text
    # one for localhost serves, to a client that verifies it against that certificate
    folder = tmp_path / "c"
    done = microcgi("tls-selfsigned", str(folder), "--name", "localhost", env=env)
    assert done.returncode == 0, done.stderr
    assert os.stat(folder / "key.pem").st_mode & 0o077 == 0
    cafile = str(folder / "cert.pem")
    root = site(tmp_path / "www")
    server = serve(root, "--tls-cert", cafile, "--tls-key", str(folder / "key.pem"))
    assert responses(get(server, cafile, "/small.txt")) == [(200, SMALL)]


def test_selfsigned_with_neither_says_why(tmp_path):
    # no openssl on PATH, and the cryptography package made unimportable
    code = (
        "import sys; sys.modules['cryptography'] = None; "
        "from microcgi_host.cli import main; sys.exit(main())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "tls-selfsigned", str(tmp_path / "c"), "--name", "x"],
        capture_output=True,
        text=True,
        env=dict(os.environ, PATH=str(tmp_path)),
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert "openssl" in done.stderr and "cryptography" in done.stderr
    assert not (tmp_path / "c" / "key.pem").exists()


@pytest.mark.skipif(CURL is None, reason="needs curl")
def test_curl_keep_alive_over_tls(tls_server, cert):
    server = tls_server()
    url = "https://localhost:%d/small.txt" % server.port
    done = subprocess.run(
        [CURL, "-sS", "-v", "--cacert", cert[0], url, url, url],
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == SMALL * 3
    assert b"Re-using existing connection" in done.stderr or b"Reusing" in done.stderr
    # without the certificate, curl refuses the server (it is not trusted by default)
    done = subprocess.run([CURL, "-sS", url], capture_output=True, timeout=30)
    assert done.returncode == 60


def test_python_client_pipelines_over_tls(tls_server, cert):
    # a receive buffer smaller than a TLS record: the rest waits inside the SSL object,
    # with nothing more to read on the socket
    server = tls_server("--buffer-size", "1024")
    with client(server, cert[0]) as s:
        assert s.version() in ("TLSv1.2", "TLSv1.3")
        s.sendall(  # one write: one TLS record
            b"GET /small.txt HTTP/1.1\r\nHost: localhost\r\n\r\n" * 40
            + b"GET /small.txt?last HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        got = responses(read_all(s))
    assert got == [(200, SMALL)] * 41


def test_post_body_to_a_script_and_its_environment(tls_server, cert):
    server = tls_server("--buffer-size", "1024", "--body-buffer", "4096")
    body = os.urandom(300 * 1024)
    with client(server, cert[0]) as s:
        s.sendall(
            b"POST /cgi-bin/cat.sh HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n"
            % len(body)
        )
        s.sendall(body)
        s.sendall(b"GET /cgi-bin/dump_env.py HTTP/1.1\r\nHost: localhost\r\n")
        s.sendall(b"Connection: close\r\n\r\n")
        got = responses(read_all(s))
    assert got[0] == (200, body)
    status, env = got[1]
    assert b"env-HTTPS=on\n" in env
    assert b"env-REQUEST_SCHEME=https\n" in env


def test_plain_server_says_request_scheme_http(serve, tmp_path):
    from helpers import request

    server = serve(site(tmp_path / "www"))
    status, _, body = request(server.port, "GET", "/cgi-bin/dump_env.py")
    assert status == 200
    assert b"env-REQUEST_SCHEME=http\n" in body
    assert b"env-HTTPS=" not in body


def test_in_process_script_sees_https(serve, tmp_path, cert):
    root = tmp_path / "www"
    root.mkdir()
    (root / "small.txt").write_bytes(SMALL)
    (root / "scheme.py").write_text(
        "def main(environ, stdin, stdout):\n"
        "    stdout.write(b'Content-Type: text/plain\\r\\n\\r\\n')\n"
        "    seen = (environ.get('HTTPS'), environ['REQUEST_SCHEME'])\n"
        "    stdout.write(('%s %s' % seen).encode())\n"
    )
    server = serve(root, "--runner", "inprocess", "--tls-cert", cert[0], "--tls-key", cert[1])
    assert responses(get(server, cert[0], "/scheme.py")) == [(200, b"on https")]


def test_streamed_script_and_large_file(tls_server, cert):
    server = tls_server("--stream-output", "/cgi-bin/big.py", "--buffer-size", "4096")
    size = 5 * 1024 * 1024 + 3
    with client(server, cert[0], timeout=60) as s:
        s.sendall(b"GET /cgi-bin/big.py?%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % size)
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\nRange: bytes=10-19\r\n")
        s.sendall(b"Connection: close\r\n\r\n")
        got = responses(read_all(s))
        assert s.version() in ("TLSv1.2", "TLSv1.3")
    assert got[0] == (200, (b"PAGE-DATA-0123.\n" * (size // 16 + 1))[:size])
    big = (server.root and open(os.path.join(server.root, "big.bin"), "rb")).read()
    assert got[1] == (200, big)
    assert got[2] == (206, big[10:20])


def test_silent_tls_client_is_closed_while_others_are_served(tls_server, cert):
    server = tls_server("--header-timeout", "1")
    silent = client(server, cert[0], timeout=15)  # handshake done, no request
    partial = client(server, cert[0], timeout=15)
    partial.sendall(b"GET /small.txt HTTP/1.1\r\nHost: loc")  # part of a request
    stalled = socket.create_connection((server.host, server.port), timeout=15)  # no handshake
    half = socket.create_connection((server.host, server.port), timeout=15)
    half.sendall(b"\x16\x03\x01\x00\xa0\x01\x00")  # a ClientHello's first bytes, no more
    try:
        started = time.monotonic()
        still_serves(server, cert[0])  # while the four wait
        assert read_all(silent) == b""
        assert read_all(partial).startswith(b"HTTP/1.1 408")
        for sock in (stalled, half):
            try:
                assert sock.recv(100) == b""
            except ConnectionResetError:
                pass
        assert time.monotonic() - started < 14  # closed by the server, not the client
        still_serves(server, cert[0])
    finally:
        for sock in (silent, partial, stalled, half):
            sock.close()


def test_plain_http_to_the_tls_port_is_closed(tls_server, cert):
    server = tls_server()
    with socket.create_connection((server.host, server.port), timeout=10) as s:
        s.sendall(b"GET /small.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
        try:
            got = s.recv(1000)
        except ConnectionResetError:
            got = b""
        assert b"200 OK" not in got and SMALL not in got
    still_serves(server, cert[0])
    if CURL is not None:
        done = subprocess.run(
            [CURL, "-sS", "http://localhost:%d/small.txt" % server.port],
            capture_output=True,
            timeout=30,
        )
        assert done.returncode != 0
        still_serves(server, cert[0])


def test_redirect_http(tls_server, cert):
    server = tls_server("--redirect-http", "0")
    port = int(REDIRECT_RE.search(server.stdout_text()).group(1))

    def ask(raw):
        with socket.create_connection((server.host, port), timeout=10) as s:
            s.sendall(raw)
            return read_all(s)

    got = ask(b"GET /a/b.txt?x=1&y HTTP/1.1\r\nHost: device.local:%d\r\n\r\n" % port)
    assert got.startswith(b"HTTP/1.1 301 ")
    assert b"\r\nLocation: https://device.local:%d/a/b.txt?x=1&y\r\n" % server.port in got
    got = ask(b"HEAD / HTTP/1.1\r\nHost: [::1]:%d\r\n\r\n" % port)
    assert b"\r\nLocation: https://[::1]:%d/\r\n" % server.port in got
    got = ask(b"GET /x HTTP/1.0\r\n\r\n")  # no Host: the address the server is bound to
    assert b"\r\nLocation: https://127.0.0.1:%d/x\r\n" % server.port in got
    if CURL is not None:
        done = subprocess.run(
            [CURL, "-sS", "-L", "--cacert", cert[0], "http://localhost:%d/small.txt" % port],
            capture_output=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == SMALL
    still_serves(server, cert[0])


@pytest.mark.parametrize(
    "case", ["missing cert", "missing key", "bad cert", "key of another", "only cert", "redirect"]
)
def test_bad_tls_files_fail_at_start(tmp_path, cert, case):
    root = tmp_path / "www"
    root.mkdir()
    other = tmp_path / "other"
    microcgi("tls-selfsigned", str(other), "--name", "localhost")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text(
        "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"
    )
    args = {
        "missing cert": ["--tls-cert", str(tmp_path / "nope.pem"), "--tls-key", cert[1]],
        "missing key": ["--tls-cert", cert[0], "--tls-key", str(tmp_path / "nope.pem")],
        "bad cert": ["--tls-cert", str(garbage), "--tls-key", cert[1]],
        "key of another": ["--tls-cert", cert[0], "--tls-key", str(other / "key.pem")],
        "only cert": ["--tls-cert", cert[0]],
        "redirect": ["--redirect-http", "0"],
    }[case]
    done = microcgi("serve", str(root), "--port", "0", *args, timeout=30)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("microcgi: ")
    assert "listening" not in done.stdout
