#!/bin/sh
# ?N: a local redirect to hop.sh?N-1, until N is 0 (counts local-redirect hops).
n=${QUERY_STRING:-0}
if [ "$n" -gt 0 ]; then
    printf 'Location: /cgi-bin/hop.sh?%d\r\n\r\n' $((n - 1))
else
    printf 'Content-Type: text/plain\r\n\r\narrived\n'
fi
