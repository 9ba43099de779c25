#!/usr/bin/env bash
# Builds the managed (v2) plugin package and creates it in the local dockerd:
#   deploy/docker/managed-plugin/build.sh [NAME]
# The rootfs holds only the static binary; the config must give server.dockerSocket as
# /run/docker/plugins/portcullis.sock (the socket named in config.json), and docker.hostRoot
# as /host and docker.daemon as unix:///run/docker.sock (the mounts in config.json).
set -euo pipefail
name=${1:-portcullis}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rustup target add x86_64-unknown-linux-musl
cargo build --release --target x86_64-unknown-linux-musl -p portcullis --manifest-path "$root/Cargo.toml"
mkdir -p "$work/rootfs/etc/portcullis" "$work/rootfs/tmp" "$work/rootfs/run/docker/plugins" \
    "$work/rootfs/host"
touch "$work/rootfs/run/docker.sock"
cp "$root/target/x86_64-unknown-linux-musl/release/portcullis" "$work/rootfs/portcullis"
# The built-ins compiled ahead of time, beside the binary: the plugin answers dockerd's first
# call without compiling them.
"$work/rootfs/portcullis" precompile "$work/rootfs/precompiled"
cp "$here/config.json" "$work/config.json"
docker plugin create "$name" "$work"
echo "created plugin $name; enable it with: docker plugin enable $name"
