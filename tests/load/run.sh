#!/usr/bin/env bash
# Load run of the webhook from a second process: wrk over HTTPS with keep-alive, posting a
# realistic Pod review (4.5 KB, two containers and an init container) to /validate with the
# default policy set. Needs wrk (apt-get install wrk) and, for a fixed rate, oha (cargo install
# oha). Figures go to docs/performance.md.
#
#   tests/load/run.sh [DURATION] [CONNECTIONS] [RATE]
#
# CONFIG=tests/load/five-policies.yaml runs another policy set than the built-in default;
# BIN=path runs another build of the engine (a before/after comparison) instead of building
# this checkout.
#
# Without RATE, wrk sends as fast as the server answers (throughput); with RATE, oha holds
# that many requests per second (latency at a fixed load). RSS is read before and after.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-20s}
connections=${2:-16}
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }

source tests/load/serve.sh
echo "after start-up: RSS $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
# The server's own CPU time (user + system, in clock ticks), so a run can be judged by what
# each admission cost the server, which a busy or shared machine disturbs less than the rate.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
ticks_before=$(cpu_ticks)
audit_before=$(wc -l < "$work/audit.log")
if [ -n "${3:-}" ]; then
    # Fixed rate, latency corrected for coordinated omission: oha (cargo install oha).
    command -v oha >/dev/null || { echo "oha is not installed: cargo install oha" >&2; exit 1; }
    oha --no-tui -z "$duration" -c "$connections" -q "$3" --latency-correction -m POST \
        -T application/json -D tests/load/pod-review.json --cacert "$work/cache/portcullis/ca.pem" \
        https://localhost:18443/validate | sed -n '/Summary/,/Requests\/sec/p;/Response time distribution/,/^$/p;/Status code distribution/,/^$/p;/Error distribution/,/^$/p'
else
    wrk -t2 -c"$connections" -d"$duration" -s tests/load/review.lua https://127.0.0.1:18443/validate
fi
echo "after the run: RSS $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
# Where the resident pages are: what the engine allocated (anonymous), the binary's own pages
# (code and data, mapped from the page cache), the precompiled built-ins beside it, the rest.
awk -v exe="$(readlink -f "/proc/$pid/exe")" '
    /^[0-9a-f]+-[0-9a-f]+ / { path = $6; kind = path == exe ? "binary" \
        : path ~ /\/precompiled\// ? "precompiled" : path == "" || path ~ /^\[/ ? "anonymous" : "other files" }
    /^Rss:/ { kb[kind] += $2 }
    END { printf "  resident:"; for (k in kb) printf " %s %.1f MiB;", k, kb[k] / 1024; print "" }' \
    "/proc/$pid/smaps"
echo "audit lines: $(wc -l < "$work/audit.log")"
ticks=$(( $(cpu_ticks) - ticks_before ))
answered=$(( $(wc -l < "$work/audit.log") - audit_before ))
echo "server CPU: $(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$answered" \
    'BEGIN {printf "%.2f s, %.0f us per admission", t / hz, n ? t / hz / n * 1e6 : 0}')"
