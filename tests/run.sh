#!/usr/bin/env bash
# The whole test suite, real components included: installs what is missing (as root on
# Debian 12; see tests/provision/install.sh), then runs every test. Arguments go to the test
# binaries (a name filter, say).
set -euo pipefail
cd "$(dirname "$0")/.."
tests/provision/install.sh
# The tests that drive real components are ignored by a plain `cargo test` (which says what
# each needs); here they run.
mkdir -p target
log=target/test-run.log
status=0
cargo test --workspace -- --include-ignored "$@" 2>&1 | tee "$log" || status=$?
if [ "$status" -ne 0 ]; then
    # A failing run on a fresh machine is read from its last lines: repeat there why each
    # test failed (the first lines of its panic) and what the machine had left.
    echo
    echo "== why each test failed (whole output: $log) =="
    awk '/^---- .* stdout ----$/ { name = $2; n = 0; next }
         /^(failures:|test result:)/ { name = "" }
         name != "" && n < 6 && length($0) > 0 { print name ": " substr($0, 1, 400); n++ }' "$log"
    echo "== the machine =="
    df -h . /tmp 2>&1 | sed 's/^/  /'
    free -m 2>&1 | sed 's/^/  /'
fi
exit "$status"
