# Wi-Fi for a board whose config.json says "network": "wlan" (board.start()). Apart
# from board.py so that a board without Wi-Fi (or once it is up) keeps none of it.
import time

from microcgi.compat import const

_WIFI_TRIES = const(5)


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
    raise OSError(
        "wifi: could not join %r after %d attempts (wrong password?)" % (ssid, _WIFI_TRIES)
    )
