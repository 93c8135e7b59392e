# MicroPython runs main.py from flash after boot.py. Kept tiny: the board
# compiles this file from source at every boot; the rest is precompiled .mpy.
from microcgi.board import run

run()
