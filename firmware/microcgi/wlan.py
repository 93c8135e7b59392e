# Wi-Fi for a board whose config.json says "network": "wlan": joining at boot
# (startup.py), and joining again while serving when the link is lost (watch.py calls
# rejoin() every few seconds while it is down). Loaded for one call each time, so that a
# board whose link is up keeps none of it.
#
# Both go through step(), which never waits: one attempt at a time, each given _JOIN_MS
# to succeed, then a back-off of 1, 2, 4 ... _MAX_WAIT seconds before the next, for
# ever: a board that boots before its router (after a power cut) joins when the router
# is up. A wrong password is named after two refusals in a row, then tried again only
# every _MAX_WAIT seconds.
import time

from microcgi.compat import const, ticks_add, ticks_diff, ticks_ms

_JOIN_MS = const(10000)  # how long one attempt may take
_MAX_WAIT = const(60)  # seconds: the longest wait between attempts
_WRONG = "wrong password"

# step()'s state, a list (it outlives this module while a link is down)
_JOINING = const(0)  # an attempt is under way
_AT = const(1)  # ticks_ms(): when it started, or when the next may start
_WAIT = const(2)  # the next back-off, in seconds
_ATTEMPT = const(3)  # attempts so far
_WHY = const(4)  # the refusal that ended the last attempt, or None
_BOOT = const(5)  # True while the board starts (a wrong password ends the start)


def new_state(now, boot=False):
    return [False, now, 1, 0, None, boot]


def step(sta, wifi, state, now):
    """One look at the station; starts an attempt when one is due. Returns the address
    once joined, else None. Prints each attempt and each failure."""
    if sta.isconnected():
        return sta.ifconfig()[0]
    ssid = wifi.get("ssid") or ""
    if state[_JOINING]:
        why = _refusal(sta.status())
        if why is None and ticks_diff(now, state[_AT]) < _JOIN_MS:
            return None  # still joining
        return _failed(state, ssid, why or "no answer", now)
    if ticks_diff(now, state[_AT]) < 0:
        return None
    state[_ATTEMPT] += 1
    print("wifi: connecting to %r (attempt %d)" % (ssid, state[_ATTEMPT]))
    try:
        if state[_ATTEMPT] > 1:
            sta.disconnect()  # what is left of the last attempt
        sta.connect(ssid, wifi.get("password") or "")
    except OSError as e:
        return _failed(state, ssid, "connect failed: %s" % e, now)
    state[_JOINING] = True
    state[_AT] = now
    return None


def _failed(state, ssid, why, now):
    """An attempt ended without joining: say why; the next waits its turn."""
    wait = state[_WAIT]
    if why == _WRONG and state[_WHY] == _WRONG:
        # twice in a row: that is the answer (tools/deploy.py shows the line at boot);
        # tried again only now and then
        wait = _MAX_WAIT
        print(
            "%swifi: could not join %r: wrong password (trying again every %d s)"
            % ("microcgi: cannot start: " if state[_BOOT] else "", ssid, wait)
        )
    else:
        print("wifi: %s; trying again in %d s" % (why, wait))
    state[_JOINING] = False
    state[_AT] = ticks_add(now, wait * 1000)
    state[_WAIT] = min(wait * 2, _MAX_WAIT)
    state[_WHY] = why
    return None


def _refusal(status):
    # the port's own codes (ESP32 202/201, Pico W -3/-2); absent where it has none
    import network

    if status == getattr(network, "STAT_WRONG_PASSWORD", None):
        return _WRONG
    if status == getattr(network, "STAT_NO_AP_FOUND", None):
        return "no network of that name answers"
    return None


def wlan_up(wifi):
    """Join the Wi-Fi network of config.json at boot; returns the address.

    Never gives up (Ctrl-C stops it: KeyboardInterrupt); raises OSError only when
    config.json names no network.
    """
    import network

    if not wifi.get("ssid"):
        raise OSError("wifi: config.json has no wifi.ssid")
    sta = network.WLAN(network.STA_IF)
    sta.active(True)
    state = new_state(ticks_ms(), True)
    while True:
        addr = step(sta, wifi, state, ticks_ms())
        if addr is not None:
            print("wifi: connected, address %s" % addr)
            return addr
        time.sleep(0.1)


def rejoin(watch, now):
    """watch.Watch found the link down (or is bringing it back): one step, no waiting."""
    state = watch.lost
    if state is None:
        print("wifi: the link to %r is down" % (watch.wifi.get("ssid") or ""))
        state = watch.lost = new_state(now)
    addr = step(watch.sta, watch.wifi, state, now)
    if addr is not None:
        watch.lost = None
        print("wifi: connected, address %s" % addr)
