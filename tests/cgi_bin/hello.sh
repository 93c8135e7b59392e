#!/bin/sh
# The smallest valid CGI script: one header, a blank line, a body, in one write.
printf 'Content-Type: text/plain\r\n\r\nhello\n'
