#!/bin/sh
# Proves the script ran even when its body is dropped (HEAD): appends to ran.txt.
echo "$REQUEST_METHOD" >> ran.txt
printf 'Content-Type: text/plain\r\nX-Marked: yes\r\n\r\nmarked\n'
