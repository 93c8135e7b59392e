#!/bin/sh
# Status with its own reason phrase: the reason is kept, Status is not forwarded.
printf 'Status: 404 Not Found Here\r\nContent-Type: text/plain\r\n\r\nnope\n'
