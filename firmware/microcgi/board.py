# A board's entry point (firmware/main.py calls run()): start up (microcgi.startup:
# config.json, Wi-Fi when asked to, listen) and serve the site with in-process
# scripts. Under the unix port, `micropython main.py` in a folder holding microcgi/,
# config.json and the site runs this same code.
#
# This module is compiled (.mpy) so that main.py, which a board compiles from
# source at every boot, stays a few lines long.
import gc

from microcgi.compat import lazy_call


def run():
    """Start the server; print why not and return (the REPL stays usable)."""
    server = None
    try:
        server = lazy_call("startup", "start")  # config.json, Wi-Fi, listen
        gc.collect()
        server.serve_forever()
    except KeyboardInterrupt:
        print("microcgi: stopped")
    except Exception as e:  # noqa: BLE001 - print and leave the REPL usable
        print("microcgi: cannot start:", e)
    finally:
        if server is not None:
            server.close()
