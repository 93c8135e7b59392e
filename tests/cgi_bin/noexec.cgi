#!/bin/sh
# Valid, but the tests install it without the exec bit: it cannot start → 500.
printf 'Content-Type: text/plain\r\n\r\nshould not run\n'
