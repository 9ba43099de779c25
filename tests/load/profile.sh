#!/usr/bin/env bash
# Where an admission's CPU goes at saturation: the webhook under wrk (as tests/load/run.sh
# drives it), sampled with perf (DWARF call graphs, so release builds without frame pointers
# unwind), folded and drawn as a flame graph with inferno. Needs perf (Debian's linux-perf),
# wrk, and inferno (cargo install inferno).
#
#   tests/load/profile.sh OUT.svg [SECONDS]
#
# CONFIG=file profiles another policy set than the built-in default; BIN=path another build;
# FOLDED=file keeps the folded stacks.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:?usage: $0 OUT.svg [SECONDS]}"
seconds="${2:-10}"
for tool in perf wrk inferno-collapse-perf inferno-flamegraph; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed (see the header of $0)" >&2; exit 1; }
done
source tests/load/serve.sh
# Warm up, then sample the middle of a saturating run.
wrk -t2 -c16 -d3s -s tests/load/review.lua https://127.0.0.1:18443/validate >/dev/null
wrk -t2 -c16 -d"$((seconds + 4))s" -s tests/load/review.lua https://127.0.0.1:18443/validate \
    >"$work/wrk.txt" &
wrk_pid=$!
sleep 2
perf record -q -F 299 --call-graph dwarf,16384 -p "$pid" -o "$work/perf.data" -- sleep "$seconds" \
    2>"$work/perf.err"
wait "$wrk_pid"
grep -E "requests:|Requests/sec|p99" "$work/wrk.txt" || true
# Without inlined frames: resolving them through DWARF takes perf script tens of minutes for a
# few seconds of samples, and the functions they were inlined into still show.
perf script --no-inline -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf >"$work/folded"
[ -n "${FOLDED:-}" ] && cp "$work/folded" "$FOLDED"
inferno-flamegraph --minwidth 0.5 --title "portcullis serve at saturation ($(basename "${CONFIG:-default set}"))" \
    <"$work/folded" >"$out"
# Self time by object: the engine, each policy's compiled code (`<sha256>.cwasm`), libc, the
# kernel. Without inlined frames, so it is quick where the call graphs below take minutes.
perf report -i "$work/perf.data" --no-children --no-inline -g none --sort dso --stdio 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | head -8
# The heaviest frames by self time, for the record.
perf report -i "$work/perf.data" --no-children --no-inline --sort symbol --stdio 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//' | head -25
echo "flame graph: $out"
