# What a board's loop does besides serving, when there is something to do: startup.py
# sets server.Server.hook to Watch.tick (through start()) only then (a `watchdog`
# setting on a port with machine.WDT, or Wi-Fi).
# Every turn of the loop feeds the watchdog (machine.WDT): a script that never returns
# stops the turns, and the board resets. Every few seconds it looks at the Wi-Fi link;
# while the link is down, microcgi.wlan (loaded for that call) brings it back one step
# at a time, without holding up the loop.
from microcgi.compat import const, lazy_call, ticks_add, ticks_diff, ticks_ms

_LOOK_MS = const(3000)  # how often the Wi-Fi link is looked at
_MIN_WATCHDOG = const(2)  # seconds: an idle loop comes round once a second


def start(WDT, seconds, wifi):
    """Server.hook for a board (startup.py): machine.WDT or None, the `watchdog`
    setting, config.json's "wifi" or None. Says so when the watchdog reset the board.
    The watchdog starts only now: joining Wi-Fi at boot may take any time, and a
    board's watchdog cannot be stopped once started."""
    wdt = sta = None
    if WDT is not None:
        import machine

        if machine.reset_cause() == machine.WDT_RESET:
            print("microcgi: the last reset was the watchdog's (the server was stuck)")
        try:
            if seconds < _MIN_WATCHDOG:
                raise ValueError("watchdog must be %d s or more" % _MIN_WATCHDOG)
            wdt = WDT(timeout=seconds * 1000)
            print("microcgi: watchdog %d s" % seconds)
        except Exception as e:  # noqa: BLE001 - a port's limit (RP2040: 8.3 s)
            print("microcgi: no watchdog:", e)
    if wifi is not None:
        import network

        sta = network.WLAN(network.STA_IF)
    if wdt is None and sta is None:
        return None
    return Watch(wdt, sta, wifi, ticks_ms()).tick


class Watch:
    def __init__(self, wdt, sta, wifi, now):
        self.feed = wdt.feed if wdt is not None else None
        self.sta = sta  # network.WLAN, or None (no Wi-Fi)
        self.wifi = wifi  # config.json's "wifi": ssid, password
        self.at = ticks_add(now, _LOOK_MS)  # the next look
        self.lost = None  # while the link is down: microcgi.wlan's state

    def tick(self, now):
        if self.feed is not None:
            self.feed()
        if self.sta is None or ticks_diff(now, self.at) < 0:
            return
        self.at = ticks_add(now, _LOOK_MS)
        if self.lost is not None or not self.sta.isconnected():
            try:
                lazy_call("wlan", "rejoin", self, now)
            except Exception as e:  # noqa: BLE001 - serving goes on; the next look retries
                print("wifi:", e)  # (no string made: the heap may be what failed)
