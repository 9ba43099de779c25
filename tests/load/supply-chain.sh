#!/usr/bin/env bash
# What a signature check costs a decision: a registry on loopback (Debian's docker-registry
# over TLS), an image and its cosign signature put there, and the webhook under wrk with
# image-signatures and registries side by side on the same Pod (registries reads the same
# image reference and asks no registry). The difference of their mean evaluation times (from
# the engine's own histogram) is what the registry questions add.
#
#   tests/load/supply-chain.sh [DURATION] [CONNECTIONS] [TAG_TTL]
#
# TAG_TTL 60s (the default) measures cached checks; 0s makes every decision ask the registry
# again (resolve the tag, fetch the signature manifest and payload, verify): a cold check.
# Needs wrk, docker-registry, openssl, curl. BIN and the rest as tests/load/run.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-15s}
connections=${2:-16}
ttl=${3:-60s}
for tool in wrk docker-registry openssl curl; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done

reg=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
host="127.0.0.1:$port"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=load-ca -keyout "$reg/ca.key" -out "$reg/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=registry \
    -keyout "$reg/tls.key" -out "$reg/tls.csr" 2>/dev/null
openssl x509 -req -in "$reg/tls.csr" -CA "$reg/ca.pem" -CAkey "$reg/ca.key" -CAcreateserial \
    -days 1 -extfile <(echo "subjectAltName=IP:127.0.0.1") -out "$reg/tls.crt" 2>/dev/null
cat > "$reg/config.yml" <<YAML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $reg/storage}}
http: {addr: $host, tls: {certificate: $reg/tls.crt, key: $reg/tls.key}}
YAML
docker-registry serve "$reg/config.yml" >"$reg/registry.log" 2>&1 &
regpid=$!
base="https://$host"
curl_args=(-fsS --cacert "$reg/ca.pem")
for _ in $(seq 100); do curl "${curl_args[@]}" -o /dev/null "$base/v2/" 2>/dev/null && break; sleep 0.1; done

# An image: one layer, its config and manifest.
source tests/supply-chain/oci-upload.sh
echo "a layer" > "$reg/file" && tar -C "$reg" -czf "$reg/layer" file
upload "$reg/layer" bench/app
printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
    "$(sha <(gzip -dc "$reg/layer"))" > "$reg/image-config"
upload "$reg/image-config" bench/app
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":%s,"digest":"%s"},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":%s,"digest":"%s"}]}' \
    "$(size "$reg/image-config")" "$(sha "$reg/image-config")" "$(size "$reg/layer")" "$(sha "$reg/layer")" > "$reg/manifest"
put_manifest bench/app 1 "$reg/manifest"
openssl ecparam -name prime256v1 -genkey -noout -out "$reg/cosign.key"
openssl ec -pubout -in "$reg/cosign.key" -out "$reg/cosign.pub" 2>/dev/null
tests/supply-chain/cosign-sign.sh --key "$reg/cosign.key" --registry "$host" --repository bench/app \
    --digest "$(sha "$reg/manifest")" --cacert "$reg/ca.pem" >/dev/null

{
    printf 'registry:\n  caFile: %s\n  tagTtl: %s\npolicies:\n' "$reg/ca.pem" "$ttl"
    printf '  - name: registries\n    module: builtin:registries\n    settings:\n      allowedRegistries: ["%s"]\n' "$host"
    printf '  - name: image-signatures\n    module: builtin:image-signatures\n    capabilities: [registry]\n    settings:\n      rules:\n        - images: ["%s/bench/*"]\n          keys:\n            - |\n' "$host"
    sed 's/^/              /' "$reg/cosign.pub"
} > "$reg/portcullis.yaml"
sed "s#\"image\": *\"[^\"]*\"#\"image\": \"$host/bench/app:1\"#g" tests/load/pod-review.json > "$reg/review.json"

CONFIG="$reg/portcullis.yaml" source tests/load/serve.sh
trap 'kill "$pid" "$regpid" 2>/dev/null || true; rm -rf "$work" "$reg"' EXIT
REVIEW="$reg/review.json" wrk -t"$(( connections < 2 ? 1 : 2 ))" -c"$connections" -d"$duration" -s tests/load/review.lua \
    https://127.0.0.1:18443/validate
metrics=$(curl -sk https://127.0.0.1:18443/metrics)
for policy in registries image-signatures; do
    echo "$metrics" | awk -v p="policy=\"$policy\"" '
        index($0, "portcullis_policy_evaluation_duration_seconds_sum{" p) == 1 { sum = $2 }
        index($0, "portcullis_policy_evaluation_duration_seconds_count{" p) == 1 { n = $2 }
        END { printf "%-17s %d evaluations, mean %.1f µs\n", p, n, sum / n * 1e6 }'
done
echo "$metrics" | grep -E '^portcullis_registry_(calls_total|cache_hits_total)' || true
echo "denied decisions (expected 0): $(grep -c '"allowed":false' "$work/audit.log" || true)"
