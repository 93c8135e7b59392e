#!/bin/sh
# Half a header block (no blank line yet), then a sleep past the timeout: 504.
printf 'Content-Type: text/plain\r\n'
sleep 30
printf '\r\ntoo late\n'
