# Sourced by the load scripts: starts `portcullis serve` on 127.0.0.1:18443 (BIN, or this
# checkout's release build; CONFIG, or the built-in default set) with an empty cache and the
# audit log on, waits until it answers, and stops it on exit. Sets `pid` and `work`.
bin=${BIN:-./target/release/portcullis}
[ -n "${BIN:-}" ] || cargo build --release -q -p portcullis
config=()
[ -n "${CONFIG:-}" ] && config=(--config "$CONFIG")
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
XDG_CACHE_HOME="$work/cache" "$bin" serve "${config[@]}" --address 127.0.0.1:18443 \
    --audit-file "$work/audit.log" 2>"$work/serve.log" &
pid=$!
for _ in $(seq "${WAIT_TENTHS:-100}"); do
    curl -skf https://127.0.0.1:18443/healthz >/dev/null 2>&1 && break
    sleep 0.1
done
