#!/bin/sh
# A header block and no body: 200 with an empty body.
printf 'Content-Type: text/plain\r\n\r\n'
