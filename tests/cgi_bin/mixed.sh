#!/bin/sh
# Mixed line ends: CRLF, LF, then a CRLF blank line.
printf 'Content-Type: text/plain\r\nX-Line-Ends: mixed\n\r\nmixed body\n'
