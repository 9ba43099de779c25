#!/usr/bin/env bash
# What an idle server costs the machine: `portcullis serve` (BIN, or this checkout's release
# build; CONFIG, or the built-in default set) answers one review, then is left alone for
# SECONDS; prints the CPU time it used meanwhile and how often each of its threads was woken.
#
#   tests/load/idle.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
source tests/load/serve.sh
curl -sk --cacert "$work/cache/portcullis/ca.pem" -H 'Content-Type: application/json' \
    --data-binary @tests/load/pod-review.json https://127.0.0.1:18443/validate >/dev/null
sleep 1
wakeups() {
    for task in /proc/"$pid"/task/*; do
        printf '%s %s %s\n' "${task##*/}" "$(tr -d ' ' < "$task/comm")" \
            "$(awk '/^voluntary_ctxt_switches/ {print $2}' "$task/status")"
    done | sort
}
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
before_ticks=$(ticks)
before=$(wakeups)
sleep "$seconds"
after=$(wakeups)
echo "idle for $seconds s: CPU $(awk -v t=$(( $(ticks) - before_ticks )) -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f s", t / hz}')"
echo "wakeups per thread:"
join <(echo "$before") <(echo "$after") \
    | awk '{ n[$2] += $5 - $3 } END { for (name in n) printf "  %-16s %d\n", name, n[name] }' | sort
