#!/usr/bin/env bash
# Builds the container image: the static engine binary, then the image from Dockerfile.
#   deploy/image/build.sh [TAG]          (default portcullis:<version>; DOCKER_HOST is honoured)
# Needs the musl target (rust-toolchain.toml lists it) and musl-tools (apt-get install musl-tools).
# PROFILE=image-check builds the same image unoptimised, in a third of the time: what the test
# suite uses to check this recipe. Images to ship use the default, release.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
tag="${1:-portcullis:$version}"
target_dir="${CARGO_TARGET_DIR:-target}"
profile="${PROFILE:-release}"
# Symbols stripped (45 MB down to 36 MB): of no use in a production image.
CARGO_PROFILE_RELEASE_STRIP=symbols \
    cargo build --profile "$profile" --locked --target x86_64-unknown-linux-musl -p portcullis \
    --target-dir "$target_dir"
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
binary="$target_dir/x86_64-unknown-linux-musl/$profile/portcullis"
cp "$binary" deploy/image/Dockerfile "$context/"
# The built-ins compiled ahead of time, beside the binary: a pod starting with an empty cache
# answers at once. The binary is static, so it runs here; the code it writes uses no CPU
# extensions of this machine.
"$binary" precompile "$context/precompiled"
DOCKER_BUILDKIT=0 docker build --quiet -t "$tag" "$context"
