#!/usr/bin/env bash
# Installs what the whole test suite drives, as root on Debian 12: each step checks first
# and does nothing when its part is there, so a second run takes a second or two.
#
#   Debian packages  dockerd (docker.io), a static busybox for the test image, musl for the
#                    static engine, Go 1.19 and moby 20.10's sources (the Docker body oracle),
#                    etcd and kubectl, openssl and curl (the test cluster), chromium
#                    (the audit's HTML report, rendered headless), docker-registry and
#                    skopeo (the registry images and signatures are checked against),
#                    Node.js and npm when the machine has none (JavaScript policies)
#   kube-apiserver   built from Debian's source package (tests/provision/kube-apiserver.sh)
#   Helm's engine    the Helm SDK for Python from PyPI, in target/helm-venv
#   Rust targets     wasm32-wasip2 (policies) and x86_64-unknown-linux-musl (the image)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
say() { echo "install.sh: $*" >&2; }

packages=(docker.io busybox-static musl-tools golang-go golang-github-docker-docker-dev
    etcd-server openssl curl python3-venv chromium docker-registry skopeo)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Any kubectl will do; Debian's is kubernetes-client.
command -v kubectl >/dev/null || missing+=(kubernetes-client)
# JavaScript policies are built with componentize-js from npm: the machine's Node.js and npm
# when it has them, else Debian's.
command -v npm >/dev/null || missing+=(nodejs npm)
if [ "${#missing[@]}" -gt 0 ]; then
    [ "$(id -u)" = 0 ] || { say "as root, install: apt-get install ${missing[*]}"; exit 1; }
    say "installing Debian packages: ${missing[*]} (a minute or two)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

"$ROOT/tests/provision/kube-apiserver.sh"

if ! "$ROOT/target/helm-venv/bin/python" -c 'import helm_python' 2>/dev/null; then
    say "installing Helm's engine for Python (helm-python-sdk 0.2.2) into target/helm-venv"
    python3 -m venv "$ROOT/target/helm-venv"
    "$ROOT/target/helm-venv/bin/pip" install -q helm-python-sdk==0.2.2
fi

# rust-toolchain.toml lists both targets, but rustup adds listed targets only when it
# installs the toolchain itself.
if command -v rustup >/dev/null; then
    installed="$(rustup target list --installed)"
    for target in wasm32-wasip2 x86_64-unknown-linux-musl; do
        grep -qx "$target" <<<"$installed" || rustup target add "$target"
    done
fi
