#!/usr/bin/env bash
# The background audit at scale: starts the test control plane (tests/provision/cluster.sh),
# creates N Pods (one in seven privileged) in 10 namespaces, then times
# `portcullis audit kubernetes --format json` and reports its peak memory, for N and for N/10
# (memory should not grow with N).
#
#   tests/load/audit-kubernetes.sh target/release/portcullis [N]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="$(realpath "${1:?usage: $0 PORTCULLIS_BINARY [PODS]}")"
PODS="${2:-10000}"
NAMESPACES=10
work="$(mktemp -d)"
trap '"$ROOT/tests/provision/cluster.sh" stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

kubeconfig="$("$ROOT/tests/provision/cluster.sh" start | tail -n 1)"
export KUBECONFIG="$kubeconfig"

cat >"$work/config.yaml" <<'YAML'
policies:
  - name: pss-baseline
    module: builtin:pss-baseline
YAML

# Pods as Lists of 500, created 4 at a time.
python3 - "$work" "$PODS" "$NAMESPACES" <<'PY'
import json, sys
work, pods, namespaces = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
chunk = []
n = 0
def flush():
    global chunk, n
    if chunk:
        json.dump({"apiVersion": "v1", "kind": "List", "items": chunk}, open(f"{work}/pods-{n:04d}.json", "w"))
        n += 1
        chunk = []
for i in range(pods):
    sc = {"privileged": True} if i % 7 == 0 else {"runAsNonRoot": True}
    chunk.append({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"p{i}", "namespace": f"load-{i % namespaces}", "labels": {"app": f"a{i % 7}"}},
        "spec": {"automountServiceAccountToken": False,
                 "containers": [{"name": "app", "image": "registry.example.com/app:1", "securityContext": sc,
                                 "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]},
    })
    if len(chunk) == 500:
        flush()
flush()
PY
# This control plane runs no controller to make the default service account.
for i in $(seq 0 $((NAMESPACES - 1))); do
    kubectl create namespace "load-$i" >/dev/null
    kubectl -n "load-$i" create serviceaccount default >/dev/null
done
started=$(date +%s)
ls "$work"/pods-*.json | xargs -P 4 -n 1 kubectl create -f >/dev/null
echo "created $PODS Pods in $(($(date +%s) - started)) s"

run() {
    local label="$1"
    shift
    /usr/bin/time -f "%e %M" -o "$work/time" "$BIN" audit kubernetes --config "$work/config.yaml" \
        --format json "$@" >"$work/out.jsonl"
    read -r seconds kib <"$work/time"
    echo "$label: $(wc -l <"$work/out.jsonl") findings in ${seconds} s, peak RSS $((kib / 1024)) MiB"
}
# The first run compiles the policy into the cache; not counted.
"$BIN" audit kubernetes --config "$work/config.yaml" --format json -n load-0 >/dev/null
for round in 1 2 3; do
    run "all $PODS Pods (round $round)"
done
run "one namespace ($((PODS / NAMESPACES)) Pods)" -n load-0
run "all $PODS Pods, pages of 100" --page-size 100
# With a PolicyReport written (server-side apply) for each of the N Pods.
kubectl apply -f "$ROOT/deploy/kubernetes/policyreport-crds.yaml" >/dev/null
kubectl wait --for=condition=established --timeout=60s \
    crd/policyreports.wgpolicyk8s.io crd/clusterpolicyreports.wgpolicyk8s.io >/dev/null
run "all $PODS Pods, with --write-reports" --write-reports
run "all $PODS Pods, with --write-reports again (replacing them)" --write-reports
echo "policy reports in the cluster: $(kubectl get policyreports -A --no-headers | wc -l)"
