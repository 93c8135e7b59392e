#!/bin/sh
# A complete header block and part of the page, then a sleep past any test timeout.
printf 'Content-Type: text/plain\r\n\r\nbefore sleep\n'
sleep 30
printf 'after sleep\n'
