# The emulated board's `socket` module, for the emulated board only (`microcgi board`,
# host/board_emulator.py): the interpreter's own, except that the address "0.0.0.0" (on
# a board: its Wi-Fi interface) means the emulator's --http-host, 127.0.0.1 unless told
# otherwise, so that a board's server is not reachable from every network this machine
# is on. host/board_stubs/_emulator_boot.py installs it as sys.modules["socket"].
import os
import socket as _socket
from socket import *  # noqa: F403 - everything else is the real module's

_HOST = os.getenv("MICROCGI_EMU_HTTP_HOST") or "127.0.0.1"


def getaddrinfo(host, port, *rest):
    if host in ("0.0.0.0", ""):
        host = _HOST
    return _socket.getaddrinfo(host, port, *rest)
