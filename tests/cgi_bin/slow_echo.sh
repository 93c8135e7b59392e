#!/bin/sh
# Sleeps a little, then prints its query: many of these overlap in the concurrency test.
sleep 0.3
printf 'Content-Type: text/plain\r\n\r\necho:%s\n' "$QUERY_STRING"
