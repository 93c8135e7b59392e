#!/bin/sh
# A local Location with no Status: the server serves that path itself (local redirect).
printf 'Location: /cgi-bin/hello.sh\r\n\r\n'
