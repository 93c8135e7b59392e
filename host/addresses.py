"""The addresses of this machine's interfaces, for the start-up line of a server bound to
every address (0.0.0.0 or ::): the URLs someone can open. Linux only (SIOCGIFADDR and
/proc/net/if_inet6); elsewhere, and when nothing is found, the lists are empty."""

from __future__ import annotations

import socket

_SIOCGIFADDR = 0x8915  # linux/sockios.h: an interface's (first) IPv4 address


def ipv4_addresses() -> list[str]:
    """Each interface's IPv4 address, in interface order, loopback last."""
    try:
        import fcntl
        import struct

        names = [name for _, name in socket.if_nameindex()]
    except (ImportError, OSError, AttributeError):
        return []
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for name in names:
            try:
                req = struct.pack("256s", name.encode()[:15])
                addr = socket.inet_ntoa(fcntl.ioctl(s.fileno(), _SIOCGIFADDR, req)[20:24])
            except OSError:  # an interface without an IPv4 address
                continue
            if addr not in found:
                found.append(addr)
    return _loopback_last(found, "127.")


def ipv6_addresses() -> list[str]:
    """This machine's IPv6 addresses but link-local ones (a URL would need the zone),
    loopback last."""
    try:
        with open("/proc/net/if_inet6") as f:
            lines = f.read().split("\n")
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split()
        if len(fields) < 6 or len(fields[0]) != 32:
            continue
        scope = int(fields[3], 16)
        if scope == 0x20:  # link-local
            continue
        packed = bytes.fromhex(fields[0])
        addr = socket.inet_ntop(socket.AF_INET6, packed)
        if addr not in found:
            found.append(addr)
    return _loopback_last(found, "::1")


def _loopback_last(addrs: list[str], loopback: str) -> list[str]:
    return [a for a in addrs if not a.startswith(loopback)] + [
        a for a in addrs if a.startswith(loopback)
    ]


def reachable(host: str, sock) -> list[str]:
    """The addresses a server bound to host on sock can be reached at: host itself unless
    it is a wildcard (0.0.0.0: every IPv4 address; ::: every IPv6 address, and every IPv4
    one too when the socket is dual-stack). Loopback addresses come last."""
    if host == "0.0.0.0":
        return ipv4_addresses() or [host]
    if host != "::":
        return [host]
    addrs = ipv6_addresses()
    try:
        dual = not sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
    except (OSError, AttributeError):
        dual = False
    if dual:
        v4 = ipv4_addresses()
        addrs = [a for a in addrs if a != "::1"] + [a for a in v4 if not a.startswith("127.")]
        addrs += [a for a in v4 if a.startswith("127.")] + ["::1"]
    return addrs or [host]
