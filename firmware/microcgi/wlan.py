# Wi-Fi for a board whose config.json says "network": "wlan" (board.start()). Apart
# from board.py so that a board without Wi-Fi (or once it is up) keeps none of it.
import time

from microcgi.compat import const

_WIFI_TRIES = const(5)


def wlan_up(wifi):
    """Join the Wi-Fi network of config.json; returns the address or raises OSError.

    Up to _WIFI_TRIES attempts with a doubling wait; but when the access point says
    "wrong password" (or none of that name answers) twice in a row, that is the
    answer: the board says so at once instead of waiting out every attempt.
    """
    import network

    ssid = wifi.get("ssid") or ""
    if not ssid:
        raise OSError("wifi: config.json has no wifi.ssid")
    # the port's own codes (ESP32 202/201, Pico W -3/-2); None where it has none
    refusals = (
        (getattr(network, "STAT_WRONG_PASSWORD", None), "wrong password"),
        (getattr(network, "STAT_NO_AP_FOUND", None), "no network of that name answers"),
    )
    sta = network.WLAN(network.STA_IF)
    sta.active(True)
    delay = 1
    why = None  # the refusal that ended the last attempt
    for attempt in range(1, _WIFI_TRIES + 1):
        if not sta.isconnected():
            print("wifi: connecting to %r (attempt %d of %d)" % (ssid, attempt, _WIFI_TRIES))
            try:
                sta.connect(ssid, wifi.get("password") or "")
            except OSError as e:
                print("wifi: connect failed: %s" % e)
        now = None
        for _ in range(delay * 10):
            if sta.isconnected():
                break
            now = _refusal(sta.status(), refusals)
            if now is not None:
                break
            time.sleep(0.1)
        if sta.isconnected():
            addr = sta.ifconfig()[0]
            print("wifi: connected, address %s" % addr)
            return addr
        if now is not None:
            print("wifi: %s" % now)
            if now == why:  # the same refusal twice in a row: that is the answer
                raise OSError("wifi: could not join %r: %s" % (ssid, now))
        why = now
        sta.disconnect()
        delay *= 2
    raise OSError(
        "wifi: could not join %r after %d attempts (wrong password?)" % (ssid, _WIFI_TRIES)
    )


def _refusal(status, refusals):
    for code, text in refusals:
        if code is not None and status == code:
            return text
    return None
