#!/bin/sh
# A header block with bare LF line ends (`\n\n` separator) is valid.
printf 'Content-Type: text/plain\nX-Line-Ends: lf\n\nlf body\n'
