#!/bin/sh
# uptime.sh: the machine's uptime and load averages as JSON, in plain POSIX sh.
#
# It reads /proc/uptime ("seconds-up seconds-idle") and /proc/loadavg
# ("1min 5min 15min running/total last-pid") with the shell's own `read`, so it
# needs no external command at all: the CGI environment's PATH is only
# /usr/local/bin:/usr/bin:/bin, and on a machine without /proc the script must
# still answer. Without /proc (not Linux, or not mounted) it answers 503 with a
# JSON error message.
#
# PROC_ROOT (default /proc) exists for the tests; the server never sets it.

proc=${PROC_ROOT:-/proc}

unavailable() {
    printf 'Status: 503 Service Unavailable\r\n'
    printf 'Content-Type: application/json\r\n'
    printf 'Cache-Control: no-store\r\n\r\n'
    printf '{"error": "%s"}\n' "$1"
    exit 0
}

# A JSON number as /proc writes it: digits, at most one dot, digits after it.
is_number() {
    case $1 in
        '' | .* | *. | *[!0-9.]* | *.*.*) return 1 ;;
    esac
    return 0
}

missing="uptime and load are unknown here: /proc/uptime or /proc/loadavg is missing"
[ -r "$proc/uptime" ] && [ -r "$proc/loadavg" ] || unavailable "$missing"

read -r up _ < "$proc/uptime" || unavailable "$missing"
read -r load1 load5 load15 tasks _ < "$proc/loadavg" || unavailable "$missing"
for n in "$up" "$load1" "$load5" "$load15"; do
    is_number "$n" || unavailable "/proc/uptime or /proc/loadavg has an unexpected format"
done

running=${tasks%%/*}
total=${tasks#*/}
is_number "$running" && is_number "$total" || { running=null; total=null; }

printf 'Content-Type: application/json\r\n'
printf 'Cache-Control: no-store\r\n\r\n'
printf '{"uptime_seconds": %s, ' "$up"
printf '"load_average": {"1min": %s, "5min": %s, "15min": %s}, ' "$load1" "$load5" "$load15"
printf '"tasks": {"running": %s, "total": %s}}\n' "$running" "$total"
