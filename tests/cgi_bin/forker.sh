#!/bin/sh
# Starts a background child that would outlive the script, writes its pid to
# child.pid, prints a page start and sleeps: on timeout the whole group must die.
sleep 60 </dev/null >/dev/null 2>&1 &
echo $! > child.pid
printf 'Content-Type: text/plain\r\n\r\nforked\n'
sleep 30
