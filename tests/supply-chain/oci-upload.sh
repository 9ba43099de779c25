# Sourced: puts blobs and manifests into an OCI registry with curl, as the distribution API
# defines it. Needs `base` (https://host:port) and `curl_args` (--cacert, -u, ...) set.
#
#   upload FILE REPO                a blob (monolithic: POST opens a session, PUT completes it)
#   put_manifest REPO REF FILE      a manifest (OCI image manifest) under a tag or digest

sha() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
size() { stat -c %s "$1"; }

upload() {
    local file="$1" repository="$2" location
    location="$(curl "${curl_args[@]}" -X POST -D - -o /dev/null "$base/v2/$repository/blobs/uploads/" |
        tr -d '\r' | sed -n 's/^[Ll]ocation: //p')"
    case "$location" in http*) ;; *) location="$base$location" ;; esac
    case "$location" in *\?*) location="$location&digest=$(sha "$file")" ;; *) location="$location?digest=$(sha "$file")" ;; esac
    curl "${curl_args[@]}" -X PUT -H 'Content-Type: application/octet-stream' \
        --data-binary "@$file" "$location" -o /dev/null
}

put_manifest() {
    local repository="$1" reference="$2" file="$3"
    curl "${curl_args[@]}" -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
        --data-binary "@$file" "$base/v2/$repository/manifests/$reference" -o /dev/null
}
