#!/bin/sh
# A local redirect to itself, forever: the server must stop after 5 hops with a 500.
printf 'Location: /cgi-bin/loop.sh\r\n\r\n'
