"""`microcgi tls-selfsigned DIR --name HOST`: a key and a self-signed certificate for a
device on a LAN (docs/security.md, "HTTPS").

An ECDSA P-256 key (a board's handshake costs far less with it than with RSA) and a
certificate for HOST, with a subjectAltName that browsers and curl check: DNS:HOST, or
IP:HOST when HOST is an IP address. Made with the `openssl` command when it is on PATH,
else with the `cryptography` package (`pip install 'microcgi[tls]'`).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
import tempfile

CERT = "cert.pem"
KEY = "key.pem"


class SelfSignedError(Exception):
    """One line for the user (cli.py prints it, exit 2)."""


def _which(name: str) -> str | None:
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(folder or ".", name)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    return None


def _ip(name: str):
    try:
        return ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return None


def make(folder: str, name: str, days: int = 825) -> tuple[str, str, str]:
    """Write folder/cert.pem and folder/key.pem (mode 0600) for name.

    Returns (cert path, key path, what made them). Raises SelfSignedError when a file is
    there already, name is not a host name or address, or neither openssl nor
    cryptography is at hand.
    """
    ip = _ip(name)
    if ip is None and (
        not name
        or len(name) > 253
        or not all(c.isalnum() or c in "-." for c in name)
        or name.startswith(("-", "."))
    ):
        raise SelfSignedError(f"--name {name!r}: not a host name or an IP address")
    cert = os.path.join(folder, CERT)
    key = os.path.join(folder, KEY)
    for path in (cert, key):
        if os.path.exists(path):
            raise SelfSignedError(f"{path} exists: remove it first, or choose another DIR")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise SelfSignedError(f"cannot create {folder}: {e.strerror}") from None
    openssl = _which("openssl")
    if openssl is not None:
        _with_openssl(openssl, cert, key, name, ip, days)
        return cert, key, "openssl"
    try:
        import cryptography  # noqa: F401
    except ImportError:
        raise SelfSignedError(
            "tls-selfsigned needs the openssl command or the cryptography package "
            "(pip install 'microcgi[tls]')"
        ) from None
    _with_cryptography(cert, key, name, ip, days)
    return cert, key, "cryptography"


def _with_openssl(openssl, cert, key, name, ip, days):
    san = f"IP:{ip}" if ip is not None else f"DNS:{name}"
    with tempfile.TemporaryDirectory() as tmp:
        tmp_key = os.path.join(tmp, "key.pem")
        argv = [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-sha256", "-days", str(days), "-subj", f"/CN={name}",
            "-addext", f"subjectAltName={san}",
            "-keyout", tmp_key, "-out", os.path.join(tmp, "cert.pem"),
        ]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
            raise SelfSignedError(f"openssl failed: {lines[-1] if lines else done.returncode}")
        _place(tmp_key, key)
        _place(os.path.join(tmp, "cert.pem"), cert)


def _place(src, dest):
    with open(src, "rb") as f:
        data = f.read()
    mode = 0o600 if dest.endswith(KEY) else 0o644
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _with_cryptography(cert, key, name, ip, days):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    alt = x509.IPAddress(ip) if ip is not None else x509.DNSName(name)
    built = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    key_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem)
    fd = os.open(cert, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(built.public_bytes(serialization.Encoding.PEM))
