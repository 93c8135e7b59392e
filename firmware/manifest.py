# A MicroPython firmware with microcgi frozen in: its bytecode runs from flash, as from a
# ROMFS partition (docs/boards.md, "Firmware of your own"). Not part of the firmware: the
# build reads it, as in
#
#   make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/microcgi/firmware/manifest.py
#
# It keeps the board's own frozen modules (asyncio, _boot.py, ntptime, ...) and adds the
# package microcgi, less the modules only CPython loads (tools/deploy.py's HOST_ONLY),
# compiled with -O3 as deploy compiles them. main.py is not frozen: a frozen main.py
# would run before the board's own, so deploy keeps copying it (and config.json, and the
# site) to the filesystem. tests/host/test_manifest.py checks the list against firmware/.
# The board's own manifest where it has one (RPI_PICO_W: the port's and the networking
# bundle, ntptime among it), else the port's (ESP32_GENERIC: its networking is there).
try:
    include("$(BOARD_DIR)/manifest.py")  # noqa: F821 - makemanifest.py's functions
except Exception:  # noqa: BLE001 - ManifestFileError: no such file
    include("$(PORT_DIR)/boards/manifest.py")  # noqa: F821

package(  # noqa: F821
    "microcgi",
    files=(
        "__init__.py",
        "board.py",
        "byteranges.py",
        "chunked.py",
        "compat.py",
        "conditional.py",
        "config.py",
        "errorpage.py",
        "errors.py",
        "failed.py",
        "gateway.py",
        "http11.py",
        "inprocess.py",
        "listing.py",
        "multipart.py",
        "rare.py",
        "routing.py",
        "runner.py",
        "script.py",
        "server.py",
        "startup.py",
        "static.py",
        "stream.py",
        "tables.py",
        "tls.py",
        "upload.py",
        "urlpath.py",
        "vhost.py",
        "watch.py",
        "wlan.py",
    ),
    opt=3,
)
