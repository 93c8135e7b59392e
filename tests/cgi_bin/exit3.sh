#!/bin/sh
# A valid page, then a non-zero exit status: still 200; the status is logged.
printf 'Content-Type: text/plain\r\n\r\nexit three\n'
exit 3
