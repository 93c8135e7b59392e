#!/bin/sh
# An absolute Location with no Status: the client gets a 302.
printf 'Location: http://example.invalid/elsewhere\r\n\r\n'
