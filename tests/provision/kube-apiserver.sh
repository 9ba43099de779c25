#!/usr/bin/env bash
# Builds the kube-apiserver the webhook tests run against: v1.20.2 from Debian bookworm's
# `kubernetes` source package, with Debian's Go 1.19, offline (GOPATH mode, vendored
# sources). Needs root for apt. About five minutes on two cores the first time; nothing
# when the binary is there.
#
# Output: $PORTCULLIS_K8S_DIR/bin/kube-apiserver (default target/k8s/bin/kube-apiserver).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
K8S="${PORTCULLIS_K8S_DIR:-$ROOT/target/k8s}"
PACKAGE_VERSION="1.20.5+really1.20.2-1.1+deb12u1"
BINARY="$K8S/bin/kube-apiserver"

if [ -x "$BINARY" ] && "$BINARY" --version 2>/dev/null | grep -q 'v1.20.2'; then
    exit 0
fi
echo "kube-apiserver.sh: building kube-apiserver v1.20.2 from Debian's source package (about 5 minutes)" >&2
started=$(date +%s)

# `apt-get source` needs deb-src entries: derive them from the machine's deb822 sources.
if ! grep -rqs '^Types:.*deb-src\|^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    # Written aside first: the glob would otherwise read the file being written.
    for sources in /etc/apt/sources.list.d/*.sources; do
        [ -e "$sources" ] || continue
        sed -e 's/^Types:[[:space:]]*deb[[:space:]]*$/Types: deb-src/' -e '/^#/d' "$sources"
        echo
    done >/etc/apt/portcullis-deb-src.sources.new
    mv /etc/apt/portcullis-deb-src.sources.new /etc/apt/sources.list.d/portcullis-deb-src.sources
    grep -q '^Types: deb-src' /etc/apt/sources.list.d/portcullis-deb-src.sources ||
        { echo "kube-apiserver.sh: no deb822 sources to derive deb-src entries from" >&2; exit 1; }
    apt-get update -qq
fi
# rsync is used by `make gen_openapi`; reflect2 1.0.2 replaces the vendored 1.0.1 below.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dpkg-dev golang-go rsync \
    golang-github-modern-go-reflect2-dev >/dev/null

mkdir -p "$K8S/src" "$K8S/bin"
source_dir="$(find "$K8S/src" -maxdepth 1 -type d -name 'kubernetes-*' | head -n 1)"
if [ -z "$source_dir" ]; then
    (cd "$K8S/src" && apt-get source -qq "kubernetes=$PACKAGE_VERSION")
    source_dir="$(find "$K8S/src" -maxdepth 1 -type d -name 'kubernetes-*' | head -n 1)"
fi

# The vendored reflect2 1.0.1 dereferences nil under Go >= 1.18 on the first map decode,
# so every POST would panic; Debian's 1.0.2 is API-compatible and fixed.
reflect2="$source_dir/vendor/github.com/modern-go/reflect2"
if [ ! -f "$reflect2/go_above_118.go" ]; then
    find "$reflect2" -maxdepth 1 \( -name '*.go' -o -name '*.s' \) -delete
    cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go \
        /usr/share/gocode/src/github.com/modern-go/reflect2/*.s "$reflect2/"
fi

# The OpenAPI definitions are generated, not shipped.
(cd "$source_dir" && GOPROXY=off make gen_openapi >/dev/null)

export GOPATH="$K8S/gopath" GOCACHE="$K8S/gocache" GO111MODULE=off GOFLAGS= GOPROXY=off CGO_ENABLED=0
mkdir -p "$GOPATH/src/k8s.io"
ln -sfn "$source_dir" "$GOPATH/src/k8s.io/kubernetes"
flags="-s -w"
for pkg in component-base/version client-go/pkg/version; do
    v="k8s.io/kubernetes/vendor/k8s.io/$pkg"
    flags="$flags -X $v.gitVersion=v1.20.2 -X $v.gitMajor=1 -X $v.gitMinor=20 -X $v.gitTreeState=clean"
done
(cd "$GOPATH/src/k8s.io/kubernetes" && go build -o "$BINARY" -ldflags "$flags" ./cmd/kube-apiserver)
echo "kube-apiserver.sh: built $("$BINARY" --version) in $(($(date +%s) - started)) s" >&2
