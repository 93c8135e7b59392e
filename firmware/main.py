# The board's entry point: MicroPython runs main.py from flash after boot.py.
# It reads config.json, brings up Wi-Fi when asked to, and serves the site with
# in-process scripts. Under the unix port, `micropython main.py` in a folder
# holding microcgi/, config.json and the site runs this same code.
import gc
import json
import time

from microcgi import __version__
from microcgi.config import Config, ConfigError

# keys of config.json that are not server settings
_BOARD_KEYS = ("board", "network", "wifi", "interpreter", "heap_bytes", "mpy_cross", "runner")
_WIFI_TRIES = 5


def read_config(path="config.json"):
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("%s: must hold a JSON object" % path)
    return data


def wlan_up(wifi):
    """Join the Wi-Fi network of config.json; returns the address or raises OSError."""
    import network

    ssid = wifi.get("ssid") or ""
    if not ssid:
        raise OSError("wifi: config.json has no wifi.ssid")
    sta = network.WLAN(network.STA_IF)
    sta.active(True)
    delay = 1
    for attempt in range(1, _WIFI_TRIES + 1):
        if not sta.isconnected():
            print("wifi: connecting to %r (attempt %d of %d)" % (ssid, attempt, _WIFI_TRIES))
            try:
                sta.connect(ssid, wifi.get("password") or "")
            except OSError as e:
                print("wifi: connect failed: %s" % e)
        for _ in range(delay * 10):
            if sta.isconnected():
                break
            time.sleep(0.1)
        if sta.isconnected():
            addr = sta.ifconfig()[0]
            print("wifi: connected, address %s" % addr)
            return addr
        sta.disconnect()
        delay *= 2
    raise OSError("wifi: could not join %r after %d attempts (wrong password?)" % (ssid, _WIFI_TRIES))


def main():
    from microcgi.inprocess import CallableRunner
    from microcgi.server import Server

    data = read_config()
    cfg = Config(host="0.0.0.0", port=80, root="www", cgi={".py": ""})
    cfg.max_connections = 6  # lwIP: 10 sockets, the listener included
    cfg.buffer_size = 1024
    cfg.max_body = 16 * 1024
    cfg.max_output = 16 * 1024
    cfg.backlog = 4
    cfg.apply(data, "config.json", _BOARD_KEYS)
    addr = cfg.host
    if data.get("network") == "wlan":
        addr = wlan_up(data.get("wifi") or {})
    gc.collect()
    server = Server(cfg, CallableRunner())
    host, port = server.listen()
    if host in ("0.0.0.0", ""):
        host = addr if addr not in ("0.0.0.0", "") else "127.0.0.1"
    print("microcgi %s listening on http://%s:%d/" % (__version__, host, port))
    try:
        server.serve_forever()
    finally:
        server.close()


try:
    main()
except KeyboardInterrupt:
    print("microcgi: stopped")
except Exception as e:  # noqa: BLE001 - print and leave the REPL usable
    print("microcgi: cannot start:", e)
