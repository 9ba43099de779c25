#!/usr/bin/env bash
# A Kubernetes control plane for the webhook tests: etcd and kube-apiserver on loopback only,
# no kubelet, scheduler or controllers. Every start begins with an empty cluster.
#
#   tests/provision/cluster.sh start   prints the kubeconfig path on success
#   tests/provision/cluster.sh stop    stops what start started (by its pid files)
#
# The API server is the one tests/provision/kube-apiserver.sh builds; etcd is Debian's
# etcd-server. State lives in $PORTCULLIS_CLUSTER_DIR (default: target/cluster).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DIR="${PORTCULLIS_CLUSTER_DIR:-$ROOT/target/cluster}"
APISERVER="${PORTCULLIS_KUBE_APISERVER:-$ROOT/target/k8s/bin/kube-apiserver}"
ETCD="${PORTCULLIS_ETCD:-/usr/bin/etcd}"
API_PORT=6443
ETCD_PORT=23790
ETCD_PEER_PORT=23800
PKI="$DIR/pki"

say() { echo "cluster.sh: $*" >&2; }
fail() { say "$*"; exit 1; }
running() { [ -f "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

# Stops one process by its pid file, only if that pid still runs the binary we started.
stop_one() {
    local name="$1" pid
    [ -f "$DIR/$name.pid" ] || return 0
    pid="$(cat "$DIR/$name.pid")"
    rm -f "$DIR/$name.pid"
    kill -0 "$pid" 2>/dev/null || return 0
    if ! tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -n 1 | grep -q "$name\$"; then
        say "pid $pid is no longer $name; left alone"
        return 0
    fi
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

stop() {
    stop_one kube-apiserver
    stop_one etcd
}

# Waits until "$@" succeeds, failing with the log of $1's process if it dies or time runs out.
wait_for() {
    local process="$1" what="$2"
    shift 2
    local deadline=$(($(date +%s) + 90))
    until "$@" >/dev/null 2>&1; do
        running "$process" || fail "$process exited; the end of its log ($DIR/$process.log):
$(tail -n 15 "$DIR/$process.log" 2>/dev/null)"
        [ "$(date +%s)" -lt "$deadline" ] || fail "$what not ready after 90 s; the end of its log ($DIR/$process.log):
$(tail -n 15 "$DIR/$process.log" 2>/dev/null)"
        sleep 0.3
    done
}

certificates() {
    [ -f "$PKI/admin.crt" ] && return 0
    mkdir -p "$PKI"
    local work
    work="$(mktemp -d)"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=portcullis-test-ca" \
        -keyout "$PKI/ca.key" -out "$PKI/ca.crt" 2>/dev/null
    sign() { # sign NAME SUBJECT EXTENSIONS
        openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$PKI/$1.key" \
            -out "$work/$1.csr" 2>/dev/null
        printf '%s\n' "$3" >"$work/$1.ext"
        openssl x509 -req -in "$work/$1.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
            -CAcreateserial -days 3650 -extfile "$work/$1.ext" -out "$PKI/$1.crt" 2>/dev/null
    }
    sign apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes.default.svc"
    # system:masters: cluster-admin under RBAC.
    sign admin "/O=system:masters/CN=admin" "basicConstraints=CA:FALSE
extendedKeyUsage=clientAuth"
    openssl genrsa -out "$PKI/service-accounts.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/service-accounts.key" -pubout -out "$PKI/service-accounts.pub" 2>/dev/null
    rm -rf "$work"
}

kubeconfig() {
    local b64
    b64() { base64 -w0 <"$1"; }
    cat >"$DIR/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: test
    cluster:
      server: https://127.0.0.1:$API_PORT
      certificate-authority-data: $(b64 "$PKI/ca.crt")
users:
  - name: admin
    user:
      client-certificate-data: $(b64 "$PKI/admin.crt")
      client-key-data: $(b64 "$PKI/admin.key")
contexts:
  - name: test
    context: {cluster: test, user: admin}
current-context: test
KUBECONFIG
    chmod 600 "$DIR/kubeconfig"
}

start() {
    [ -x "$APISERVER" ] || fail "no kube-apiserver at $APISERVER: build it with tests/provision/kube-apiserver.sh (as root)"
    [ -x "$ETCD" ] || fail "no etcd at $ETCD: apt-get install etcd-server"
    command -v openssl >/dev/null || fail "openssl is needed"
    mkdir -p "$DIR"
    running etcd && fail "a test cluster is already running; stop it with $0 stop"
    running kube-apiserver && fail "a test cluster is already running; stop it with $0 stop"
    trap 'stop' ERR
    # Webhook calls and etcd traffic stay on loopback.
    export NO_PROXY="127.0.0.1,localhost" no_proxy="127.0.0.1,localhost"
    certificates

    rm -rf "$DIR/etcd-data"
    setsid "$ETCD" --name test --data-dir "$DIR/etcd-data" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster "test=http://127.0.0.1:$ETCD_PEER_PORT" \
        --log-level warn --logger zap </dev/null >"$DIR/etcd.log" 2>&1 &
    echo $! >"$DIR/etcd.pid"
    wait_for etcd "etcd" curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

    setsid "$APISERVER" \
        --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
        --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
        --secure-port="$API_PORT" --insecure-port=0 --endpoint-reconciler-type=none \
        --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
        --client-ca-file="$PKI/ca.crt" \
        --service-account-key-file="$PKI/service-accounts.pub" \
        --service-account-signing-key-file="$PKI/service-accounts.key" \
        --service-account-issuer=https://kubernetes.default.svc \
        --api-audiences=https://kubernetes.default.svc \
        --service-cluster-ip-range=10.96.0.0/12 \
        --authorization-mode=RBAC --allow-privileged=true --profiling=false \
        --feature-gates=EphemeralContainers=true \
        --enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultTolerationSeconds,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ResourceQuota \
        --cert-dir="$DIR/apiserver-certs" \
        </dev/null >"$DIR/kube-apiserver.log" 2>&1 &
    echo $! >"$DIR/kube-apiserver.pid"
    kubeconfig
    local tls=(--cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key")
    wait_for kube-apiserver "kube-apiserver" curl -fsS "${tls[@]}" "https://127.0.0.1:$API_PORT/readyz"
    # The default namespace comes from a post-start hook, a moment after readiness.
    wait_for kube-apiserver "the default namespace" \
        curl -fsS "${tls[@]}" "https://127.0.0.1:$API_PORT/api/v1/namespaces/default"
    trap - ERR
    echo "$DIR/kubeconfig"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*) fail "usage: $0 start|stop" ;;
esac
