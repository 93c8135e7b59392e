# The in-process script of bench/heap.py: the same body as the Microdot app's "/".


def main(environ, stdin, stdout):
    stdout.write(b"Content-Type: text/plain\r\n\r\nHello, world!")
