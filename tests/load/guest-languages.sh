#!/usr/bin/env bash
# One policy in two languages: the projects `portcullis new` makes in Rust and in JavaScript
# (componentize-js), the same check, decide the same Pod side by side under wrk; the
# engine's own histogram gives the mean cost of one evaluation of each (a fresh instance,
# the call, the decision back), and the server's resident memory is read after the load.
#
#   tests/load/guest-languages.sh [DURATION] [CONNECTIONS]
#
# Needs wrk, cargo (wasm32-wasip2), node and npm (the npm registry). BIN as tests/load/run.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-15s}
connections=${2:-1}
for tool in wrk npm curl; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done
bin=${BIN:-./target/release/portcullis}
[ -n "${BIN:-}" ] || cargo build --release -q -p portcullis

projects=$(mktemp -d)
"$bin" new demo-rust --dir "$projects/rust" --sdk "path:$PWD/policies-wasm/sdk" >/dev/null
(cd "$projects/rust" && cargo build --release --target wasm32-wasip2 -q)
"$bin" new demo-js --lang js --dir "$projects/js" >/dev/null
(cd "$projects/js" && npm install --no-audit --no-fund --loglevel=error >/dev/null && npm run -s build)
rust="$projects/rust/target/wasm32-wasip2/release/demo_rust.wasm"
js="$projects/js/dist/demo_js.wasm"
printf 'component sizes: rust %s bytes, javascript %s bytes\n' "$(stat -c %s "$rust")" "$(stat -c %s "$js")"

# One server per language, one after the other, so neither shares the cores with the other.
measure() { # NAME MODULE
    printf 'policies:\n  - name: %s\n    module: %s\n' "$1" "$2" > "$projects/$1.yaml"
    started=$(date +%s.%N)
    # A JavaScript component takes seconds to compile: wait up to a minute for the server.
    WAIT_TENTHS=600 CONFIG="$projects/$1.yaml" BIN="$bin" source tests/load/serve.sh
    trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work" "$projects"' EXIT
    printf '%s: start-up with an empty cache %.1f s\n' "$1" "$(echo "$(date +%s.%N) - $started" | bc)"
    REVIEW=tests/load/pod-review.json wrk -t1 -c"$connections" -d"$duration" -s tests/load/review.lua \
        https://127.0.0.1:18443/validate | grep -E 'Requests/sec|Latency' | sed "s/^/$1: /"
    curl -sk https://127.0.0.1:18443/metrics | awk -v p="policy=\"$1\"" -v name="$1" '
        index($0, "portcullis_policy_evaluation_duration_seconds_sum{" p) == 1 { sum = $2 }
        index($0, "portcullis_policy_evaluation_duration_seconds_count{" p) == 1 { n = $2 }
        END { printf "%s: %d evaluations, mean %.1f µs\n", name, n, sum / n * 1e6 }'
    echo "$1: resident memory after the load $(awk '/VmRSS/ {print $2, $3}' "/proc/$pid/status")"
    kill "$pid"; wait "$pid" 2>/dev/null || true; rm -rf "$work"
}
measure demo-rust "$rust"
measure demo-js "$js"
