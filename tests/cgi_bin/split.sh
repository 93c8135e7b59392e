#!/bin/sh
# The header block arrives in three writes, with pauses between them.
printf 'Content-Type: text/plain\r\n'
sleep 0.4
printf 'X-Late: yes\r\n'
sleep 0.4
printf '\r\nsplit body\n'
