#!/usr/bin/env bash
# The whole test suite, real components included: installs what is missing (as root on
# Debian 12; see tests/provision/install.sh), then runs every test. Arguments go to the test
# binaries (a name filter, say).
set -euo pipefail
cd "$(dirname "$0")/.."
tests/provision/install.sh
# The tests that drive real components are ignored by a plain `cargo test` (which says what
# each needs); here they run.
cargo test --workspace -- --include-ignored "$@"
