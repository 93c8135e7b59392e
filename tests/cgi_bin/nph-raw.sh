#!/bin/sh
# NPH: the script writes the whole response; the server passes the bytes through.
printf 'HTTP/1.1 299 Raw Thing\r\nX-Nph: yes\r\nContent-Type: text/plain\r\n'
printf 'Content-Length: 9\r\nConnection: close\r\n\r\nraw bytes'
