#!/bin/sh
# A body with no header block at all: the server must answer 500.
printf 'just a body, no headers\n'
