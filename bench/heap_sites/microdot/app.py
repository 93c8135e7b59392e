# The Microdot 2.7 side of bench/heap.py: a hello-world route and the same 1 KiB static file
# as the microcgi site. Run as `MICROPYPATH=.frozen:lib micropython app.py PORT` in a folder
# holding lib/microdot/*.mpy and static/small.txt (MICROPYPATH replaces sys.path, so it must
# keep .frozen, where the unix port's asyncio lives).
import gc
import sys

from microdot import Microdot, send_file

app = Microdot()


@app.route("/")
def index(request):
    return "Hello, world!"


@app.route("/static/small.txt")
def small(request):
    return send_file("static/small.txt")


port = int(sys.argv[1])
gc.collect()
print("microdot listening on port %d" % port)
app.run(host="127.0.0.1", port=port)
