#!/usr/bin/env bash
# The whole test suite, real components included: installs what is missing (as root on
# Debian 12; see tests/provision/install.sh), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/provision/install.sh
cargo test --workspace "$@"
