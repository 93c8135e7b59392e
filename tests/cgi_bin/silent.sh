#!/bin/sh
# No output at all, then a sleep past the timeout: 504.
sleep 30
