#!/bin/sh
# Location with a Status: passed through as given (no local redirect).
printf 'Status: 303 See Over There\r\nLocation: /cgi-bin/hello.sh\r\nContent-Type: text/plain\r\n\r\ngo\n'
