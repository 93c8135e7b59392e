#!/bin/sh
# Repeated headers pass through, in order.
printf 'Set-Cookie: a=1; Path=/\r\nX-Between: b\r\nSet-Cookie: c=2; Path=/\r\n'
printf 'Content-Type: text/plain\r\n\r\ncookies\n'
