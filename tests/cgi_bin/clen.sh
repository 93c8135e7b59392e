#!/bin/sh
# A wrong Content-Length (5 for a 12-byte body): the server replaces it.
printf 'Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello world\n'
