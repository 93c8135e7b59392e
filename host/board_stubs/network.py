# A stand-in for the `network` module of an ESP32 MicroPython build, for the
# emulated board only (`microcgi board`, host/board_emulator.py). It is put on the
# emulator's module path and never copied to a board, where `network` is built in.
#
# There is one access point: the one the emulator was started with
# (`--wifi SSID:PASSWORD`, given to this module through the environment). A
# station joins it when the SSID and the password both match, after a short delay
# as on hardware; otherwise status() reports what an ESP32 reports (no AP found,
# wrong password) and isconnected() stays False. A joined station's address is the
# emulator's --http-host (127.0.0.1 by default; 127.0.0.1 too for 0.0.0.0), so the
# board's server is reachable from the machine running it.
#
# The access point can be switched off and on while the board runs: it is off while
# the file MICROCGI_EMU_AP_FILE (a path of the host, `--ap-file`) starts with "off".
# A joined station then loses the link (status STAT_BEACON_TIMEOUT, as an ESP32
# reports it) and stays off it until connect() is called again, as a Pico W does (an
# ESP32 may also try again by itself).
#
# Status values are the ESP32 port's (ports/esp32/network_wlan.c).
import os
import time

import vfs

STA_IF = 0
AP_IF = 1

STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_BEACON_TIMEOUT = 200
STAT_ASSOC_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204

_JOIN_MS = 300  # how long joining takes
# the emulator's --http-host, where the board's server listens (127.0.0.1 unless told)
_HOST = os.getenv("MICROCGI_EMU_HTTP_HOST") or "127.0.0.1"
if _HOST == "0.0.0.0":
    _HOST = "127.0.0.1"
_ADDRESS = (_HOST, "255.0.0.0", _HOST, _HOST)
_NO_ADDRESS = ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")


_SWITCH = os.getenv("MICROCGI_EMU_AP_FILE")
# the host's files, through which the switch is read: once the board runs, "/" is its
# flash (host/board_stubs/_emulator_boot.py), and this module is loaded before that
_FILES = vfs.VfsPosix() if _SWITCH else None


def _ap():
    """The emulated access point: (ssid, password), or None when there is none."""
    ssid = os.getenv("MICROCGI_EMU_SSID")
    if not ssid:
        return None
    if _FILES is not None:
        try:
            with _FILES.open(_SWITCH, "r") as f:
                if f.read(3) == "off":
                    return None
        except OSError:
            pass  # no switch file: on
    return ssid, os.getenv("MICROCGI_EMU_PASSWORD") or ""


class _Interface:
    """An interface's state: every WLAN(STA_IF) is the same station, as on a board."""

    def __init__(self):
        self.active = False
        self.ssid = None
        self.key = None
        self.since = 0
        self.status = STAT_IDLE


_INTERFACES = {}


class WLAN:
    def __init__(self, interface=STA_IF):
        if interface not in (STA_IF, AP_IF):
            raise ValueError("invalid WLAN interface identifier")
        self._if = interface
        if interface not in _INTERFACES:
            _INTERFACES[interface] = _Interface()
        self._s = _INTERFACES[interface]

    def active(self, *flag):
        if flag:
            self._s.active = bool(flag[0])
            if not self._s.active:
                self.disconnect()
        return self._s.active

    def connect(self, ssid=None, key=None, bssid=None):
        if not self._s.active:
            raise OSError("Wifi Not Started")
        if self._if != STA_IF:
            raise OSError("AP mode has no connect()")
        self._s.ssid = ssid
        self._s.key = key or ""
        self._s.since = time.ticks_ms()
        self._s.status = STAT_CONNECTING

    def disconnect(self):
        self._s.ssid = None
        self._s.status = STAT_IDLE

    def status(self, *param):
        if param:
            if param[0] == "rssi":
                return -42 if self.isconnected() else 0
            raise ValueError("unknown status param")
        if self._s.status == STAT_GOT_IP and _ap() is None:
            self._s.status = STAT_BEACON_TIMEOUT  # the access point went away
        elif self._s.status == STAT_CONNECTING:
            if time.ticks_diff(time.ticks_ms(), self._s.since) >= _JOIN_MS:
                ap = _ap()
                if ap is None or ap[0] != self._s.ssid:
                    self._s.status = STAT_NO_AP_FOUND
                elif ap[1] != self._s.key:
                    self._s.status = STAT_WRONG_PASSWORD
                else:
                    self._s.status = STAT_GOT_IP
        return self._s.status

    def isconnected(self):
        if self._if == AP_IF:
            return self._s.active
        return self.status() == STAT_GOT_IP

    def ifconfig(self, *config):
        if config:
            raise OSError("the emulated board's address is fixed")
        return _ADDRESS if self.isconnected() else _NO_ADDRESS

    def ipconfig(self, name):
        if name == "addr4":
            addr = self.ifconfig()
            return addr[0], addr[1]
        if name == "dhcp4":
            return True
        raise ValueError("unknown config param")

    def scan(self):
        ap = _ap()
        if not self._s.active:
            raise OSError("Wifi Not Started")
        if ap is None:
            return []
        # (ssid, bssid, channel, RSSI, security: 3 = WPA2-PSK, hidden)
        return [(ap[0].encode(), b"\x02\x00\x00\x00\x00\x01", 6, -42, 3, False)]

    def config(self, *name, **values):
        if values:
            return None
        if not name:
            raise TypeError("can query only one param")
        key = name[0]
        if key == "mac":
            return b"\x02\x00\x00\x00\x00\x02"
        if key in ("ssid", "essid"):
            return self._s.ssid or ""
        if key == "hostname":
            return "mpy-emulated"
        raise ValueError("unknown config param")


def hostname(*name):
    return "mpy-emulated"
