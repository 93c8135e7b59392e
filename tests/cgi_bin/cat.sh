#!/bin/sh
# Echo the request body. `cat` ends only when stdin reaches EOF (SPEC section 5).
printf 'Content-Type: application/octet-stream\r\n\r\n'
exec cat
