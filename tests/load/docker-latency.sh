#!/usr/bin/env bash
# What the authorization plugin adds to Docker API calls: N container creates (and N
# `docker run --rm`) against a dockerd without the plugin, then against one that consults
# Portcullis with the default policy set; then, on the second, calls that make the plugin
# look up what they name (a bind source, another container's network namespace).
# Needs root, dockerd (docker.io) and busybox-static.
#
#   tests/load/docker-latency.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-200}
cargo build --release -q -p portcullis
work=$(mktemp -d /tmp/pcl.XXXX)
name="portcullis-latency-$$"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 2
    rm -f "/etc/docker/plugins/$name.spec"
    umount -R "$work"/data* "$work"/exec* 2>/dev/null || true
    rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

mkdir -p "$work/rootfs/bin" /etc/docker/plugins
cp "$(command -v busybox)" "$work/rootfs/bin/busybox"
ln -s busybox "$work/rootfs/bin/true"
ln -s busybox "$work/rootfs/bin/sleep"

# The default policies, asking the dockerd under test about what calls refer to.
{ cat deploy/config/portcullis.yaml; printf 'docker:\n  daemon: unix://%s/authz.sock\n' "$work"; } \
    >"$work/portcullis.yaml"
XDG_CACHE_HOME="$work/cache" ./target/release/portcullis serve --config "$work/portcullis.yaml" \
    --address 127.0.0.1:0 --docker-socket "$work/plugin.sock" --audit-file "$work/audit.log" \
    2>"$work/plugin.log" &
pids+=($!)
while [ ! -S "$work/plugin.sock" ]; do sleep 0.1; done
echo "unix://$work/plugin.sock" > "/etc/docker/plugins/$name.spec"

start_dockerd() { # $1 = tag, rest = extra flags
    local tag=$1; shift
    dockerd --data-root "$work/data-$tag" --exec-root "$work/exec-$tag" -H "unix://$work/$tag.sock" \
        --pidfile "$work/$tag.pid" --iptables=false --ip6tables=false --bridge=none "$@" \
        >"$work/dockerd-$tag.log" 2>&1 &
    pids+=($!)
    until DOCKER_HOST="unix://$work/$tag.sock" docker version >/dev/null 2>&1; do sleep 0.2; done
    tar -C "$work/rootfs" -c . | DOCKER_HOST="unix://$work/$tag.sock" docker import - tiny:1 >/dev/null
}

# Creates of the three kinds, interleaved so that drift (dockerd slows as containers pile
# up) falls on all alike; each timed by curl itself.
creates() { # $1 = tag
    local tag=$1 sock="$work/$1.sock"
    local kinds=("nothing-to-look-up" "with-a-bind" "joining-a-container's-network")
    local configs=('{"NetworkMode":"none"}'
        "{\"NetworkMode\":\"none\",\"Binds\":[\"$work/bind:/d\"]}"
        '{"NetworkMode":"container:side"}')
    for _ in $(seq "$n"); do
        for k in 0 1 2; do
            printf '%s ' "${kinds[$k]}"
            curl -sf -o /dev/null -w '%{time_total}\n' --unix-socket "$sock" \
                -H 'Content-Type: application/json' \
                -d "{\"Image\":\"tiny:1\",\"Cmd\":[\"true\"],\"HostConfig\":${configs[$k]}}" \
                http://d/v1.41/containers/create
        done
    done | awk -v tag="$tag" '{s[$1] += $2; c[$1]++}
        END {for (k in s) printf "%s: %d creates %s, %.2f ms each\n", tag, c[k], k, s[k] / c[k] * 1000}'
}

# `docker run --rm` of the three kinds, interleaved.
runs() { # $1 = tag
    local tag=$1 sock="$work/$1.sock" k t0 t1
    local flags=("--network none" "--network none -v $work/bind:/d" "--network container:side")
    declare -a total=(0 0 0)
    for _ in $(seq 20); do
        for k in 0 1 2; do
            t0=$(date +%s%N)
            # shellcheck disable=SC2086
            DOCKER_HOST="unix://$sock" docker run --rm ${flags[$k]} tiny:1 true >/dev/null
            t1=$(date +%s%N)
            total[k]=$(( total[k] + t1 - t0 ))
        done
    done
    for k in 0 1 2; do
        echo "$tag: 20 docker run --rm ${flags[$k]}, $(( total[k] / 20 / 1000000 )) ms each"
    done
}

measure() { # $1 = tag
    local tag=$1
    mkdir -p "$work/bind"
    DOCKER_HOST="unix://$work/$tag.sock" docker run -d --name side --network none tiny:1 \
        sleep 3600 >/dev/null 2>&1 || true
    creates "$tag"
    runs "$tag"
}

start_dockerd plain
measure plain
start_dockerd authz "--authorization-plugin=$name"
measure authz
echo "audit lines written by the plugin: $(wc -l < "$work/audit.log")"
