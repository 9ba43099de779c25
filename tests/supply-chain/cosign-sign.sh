#!/usr/bin/env bash
# Signs an image in a registry as `cosign sign --key` stores a key-based signature, with
# openssl doing the signing and curl the upload, so the tests verify signatures this project
# did not make. The layout is cosign's (sigstore/cosign, "simple signing" signatures):
#
#   payload    {"critical":{"identity":{"docker-reference":R},"image":{"docker-manifest-digest":D},
#               "type":"cosign container image signature"},"optional":null}
#   signature  base64 of the DER ECDSA-P256 signature of SHA-256(payload) (openssl dgst -sign)
#   stored as  an OCI manifest tagged sha256-<hex of D>.sig in the image's repository, with the
#              payload as its one layer (application/vnd.dev.cosign.simplesigning.v1+json) and
#              the signature in the layer annotation dev.cosignproject.cosign/signature.
#
# usage: cosign-sign.sh --key KEY.pem --registry HOST:PORT --repository REPO --digest sha256:...
#                       [--claim sha256:...] [--cacert CA.pem] [--user USER:PASSWORD]
#   --claim  the digest the payload names (default: --digest): a signature of another image
#            stored under this one's tag.
#
# Like `cosign sign`, a signature is added to those already stored for the digest.
set -euo pipefail
key="" registry="" repository="" digest="" claim="" cacert="" user=""
while [ $# -gt 0 ]; do
    case "$1" in
        --key) key="$2" ;;
        --registry) registry="$2" ;;
        --repository) repository="$2" ;;
        --digest) digest="$2" ;;
        --claim) claim="$2" ;;
        --cacert) cacert="$2" ;;
        --user) user="$2" ;;
        *) echo "cosign-sign.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift 2
done
[ -n "$key" ] && [ -n "$registry" ] && [ -n "$repository" ] && [ -n "$digest" ] ||
    { echo "cosign-sign.sh: --key, --registry, --repository and --digest are required" >&2; exit 2; }
claim="${claim:-$digest}"
base="https://$registry"
curl_args=(-fsS)
[ -n "$cacert" ] && curl_args+=(--cacert "$cacert")
[ -n "$user" ] && curl_args+=(-u "$user")

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

printf '{"critical":{"identity":{"docker-reference":"%s/%s"},"image":{"docker-manifest-digest":"%s"},"type":"cosign container image signature"},"optional":null}' \
    "$registry" "$repository" "$claim" > "$work/payload"
signature="$(openssl dgst -sha256 -sign "$key" "$work/payload" | base64 -w0)"

# shellcheck source=oci-upload.sh
source "$(dirname "$0")/oci-upload.sh"

upload "$work/payload" "$repository"
printf '{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
    "$(sha "$work/payload")" > "$work/config"
upload "$work/config" "$repository"

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":%s,"digest":"%s"},"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":%s,"digest":"%s","annotations":{"dev.cosignproject.cosign/signature":"%s"}}]}' \
    "$(size "$work/config")" "$(sha "$work/config")" "$(size "$work/payload")" "$(sha "$work/payload")" "$signature" \
    > "$work/manifest"
tag="sha256-${digest#sha256:}.sig"
if curl "${curl_args[@]}" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -o "$work/stored" "$base/v2/$repository/manifests/$tag" 2>/dev/null; then
    python3 - "$work/stored" "$work/manifest" <<'PY'
import json, sys
stored, new = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
stored["layers"] += new["layers"]
json.dump(stored, open(sys.argv[2], "w"), separators=(",", ":"))
PY
fi
put_manifest "$repository" "$tag" "$work/manifest"
echo "$repository:$tag"
