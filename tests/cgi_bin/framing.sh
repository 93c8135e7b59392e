#!/bin/sh
# Framing headers the server owns: all four must be dropped (SPEC section 7.4).
printf 'Content-Type: text/plain\r\nConnection: close\r\nKeep-Alive: timeout=99\r\n'
printf 'Transfer-Encoding: chunked\r\nContent-Length: 3\r\nX-Kept: yes\r\n\r\nframed body\n'
