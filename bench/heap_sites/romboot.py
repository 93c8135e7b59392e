# bench/heap.py's ROMFS runs: a board whose firmware has a ROM partition, on the unix
# port. `micropython -X heapsize=N -m romboot MODULE ARGS...` in a folder holding rom.img
# (a ROMFS image, `mpremote romfs build`) maps the image (read into one bytes object: the
# board's memory-mapped flash) at /rom, puts /rom and /rom/lib on sys.path before what
# MICROPYPATH gave (as mp_init() does on a board), then runs MODULE with sys.argv[1:]
# = ARGS. VfsRom runs the image's bytecode in place. bench/heap.py adds what this module
# keeps, the image included, to N (measured with MODULE "-"), so that the server gets N:
# the image is counted as flash, as it is on a board.
import gc
import sys

import vfs

_f = open("rom.img", "rb")
_rom = _f.read()
_f.close()
vfs.mount(vfs.VfsRom(_rom), "/rom")
sys.path[1:1] = ["/rom", "/rom/lib"]
_name = sys.argv[1]
sys.argv[:] = sys.argv[1:]
gc.collect()
if _name == "-":
    print("heap-used", gc.mem_alloc(), "image", len(_rom))
else:
    __import__(_name)
