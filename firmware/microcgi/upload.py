# A request body read by an in-process script as it arrives (inprocess.py): a body
# longer than the runner's stream_over (a board: body_buffer) does not wait whole in
# RAM for the script. The script starts at once; its stdin hands over the pieces the
# connection has received, and when there are none, reads the connection's socket
# itself, so an upload of any size (up to max_body) costs a few pieces of RAM
# (multipart.py writes a file part to flash as it comes).
#
# While the script waits for the body, the loop waits with it (a board runs one script
# at a time, as it does while any main() runs): each wait lasts at most what is left of
# script_timeout, and bytes taken count as progress. Pieces that arrive while the
# script is elsewhere (a generator between steps) are held up to stream_over bytes;
# past that the connection stops reading (conn.held) until the script takes them.
import select

from microcgi.compat import ticks_add, ticks_diff, ticks_ms
from microcgi.inprocess import ScriptStopped

_GONE = select.POLLHUP | select.POLLERR


class Stdin:
    """The script's stdin: read(n), readinto(buf), readline()."""

    def __init__(self, task, conn, length, limit):
        self.task = task
        self.conn = conn
        self.left = length  # body bytes not yet given to the script
        self.limit = limit  # bytes held for the script before the socket is left unread
        self.held = 0  # bytes in task.body
        self.piece = b""
        self.at = 0  # what of piece is given
        self.poller = None

    def fed(self, n):
        """The connection queued n more bytes in task.body."""
        self.held += n
        if self.held > self.limit:
            self.conn.held = True  # process() stops; its end turns POLLIN off

    def _fill(self):
        """True once piece has bytes to give; False at the end of the body."""
        while self.at >= len(self.piece):
            if self.left <= 0:
                return False
            body = self.task.body
            if body:
                self.piece = body.pop(0)
                self.at = 0
                self.held -= len(self.piece)
            else:
                self._wait()
        return True

    def _wait(self):
        task = self.task
        conn = self.conn
        task.check()  # cancelled (the client went away), or out of time
        if conn.held:
            conn.held = False
            conn.process()  # what the parser has buffered
            if task.body:
                return
        if self.poller is None:
            self.poller = select.poll()
            self.poller.register(conn.sock, select.POLLIN)
        wait = ticks_diff(task.deadline, ticks_ms())
        if task.end is not None:
            wait = min(wait, ticks_diff(task.end, ticks_ms()))
        events = self.poller.poll(max(wait, 0))
        if not events:
            raise ScriptStopped("timeout")
        ev = events[0][1]
        conn.on_poll(conn.sock, ev)
        if ev & _GONE or not task.body:
            task.check()  # conn.abort() cancelled the task
        if task.body:
            task.deadline = ticks_add(ticks_ms(), task.job.timeout_ms)  # progress

    def _take(self, n):
        """Up to n bytes (n < 0: all of piece) of piece as a memoryview."""
        piece = self.piece
        at = self.at
        end = len(piece) if n < 0 or at + n > len(piece) else at + n
        self.at = end
        self.left -= end - at
        return memoryview(piece)[at:end]

    def read(self, n=-1):
        if n is None:
            n = -1
        out = []
        while n != 0 and self._fill():
            got = self._take(n)
            out.append(bytes(got))
            if n > 0:
                n -= len(got)
        return b"".join(out) if len(out) != 1 else out[0]

    def readinto(self, buf):
        if not self._fill():
            return 0
        got = self._take(len(buf))
        buf[: len(got)] = got
        return len(got)

    def readline(self, n=-1):
        out = []
        while n != 0 and self._fill():
            nl = self.piece.find(b"\n", self.at)
            want = n if nl < 0 else nl + 1 - self.at
            if n > 0 and want > n:
                want = n
            got = self._take(want)
            out.append(bytes(got))
            if n > 0:
                n -= len(got)
            if nl >= 0 and self.at == nl + 1:
                break
        return b"".join(out)

    def close(self):
        pass

    def finish(self):
        """The script ended: the connection reads on (the rest of the body is dropped)."""
        self.piece = b""
        conn = self.conn
        if conn.held:
            conn.held = False
            conn.process()
