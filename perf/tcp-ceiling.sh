#!/usr/bin/env bash
# What bare kernel TCP gets out of an emulated link: N parallel TCP streams
# (BBR, like DWCP's) copy N contiguous parts of a random image with
# `dwcp-wan-bench tcp-send/tcp-recv` (sendfile, no encryption, no framing,
# no verification) over `dwcp-linkem run --profile P`. The time runs from the
# first connect to the last receiver closing, as DWCP's total_ms runs from
# its start to the verdict. Prints one line per run and, last, one JSON line.
#
#   sudo perf/tcp-ceiling.sh [--streams N] [--profile P] [--size MiB] [--runs R]
#
# Defaults: 3 streams (what `--dwcp-streams bdp` picks on `internet`),
# `internet`, 512 MiB, 1 run. Needs root (namespaces), /dev/net/tun and
# room for the image twice in /dev/shm. docs/performance.md has the results.
set -euo pipefail

streams=3
profile=internet
size_mib=512
runs=1
while [ $# -gt 0 ]; do
    case "$1" in
        --streams) streams=$2; shift 2 ;;
        --profile) profile=$2; shift 2 ;;
        --size) size_mib=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "tcp-ceiling: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
for value in "$streams" "$size_mib" "$runs"; do
    [[ "$value" =~ ^[1-9][0-9]*$ ]] || { echo "tcp-ceiling: '$value' is not a positive integer" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "tcp-ceiling: needs root (network namespaces)" >&2; exit 2; }
[ "$streams" -le 64 ] || { echo "tcp-ceiling: at most 64 streams" >&2; exit 2; }

root=$(cd "$(dirname "$0")/.." && pwd)
bin="${DWCP_BIN_DIR:-$root/target/release}"
if [ ! -x "$bin/dwcp-linkem" ] || [ ! -x "$bin/dwcp-wan-bench" ]; then
    (cd "$root" && cargo build --release -q -p dwcp-linkem -p dwcp-wan-bench)
fi
link_mbps=$("$bin/dwcp-linkem" profiles | awk -v p="$profile" '$1 == p { print $2 }' | tr -dc '0-9.')

work=$(mktemp -d /dev/shm/dwcp-tcp-ceiling.XXXXXX)
linkem_pid=""
cleanup() {
    [ -n "$linkem_pid" ] && kill "$linkem_pid" 2>/dev/null && wait "$linkem_pid" 2>/dev/null
    jobs -p | xargs -r kill 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

head -c $((size_mib * 1048576)) /dev/urandom > "$work/image"
split -n "$streams" -d -a 2 "$work/image" "$work/part."
rm "$work/image"

times=()
for run in $(seq "$runs"); do
    "$bin/dwcp-linkem" run --profile "$profile" > "$work/linkem.out" 2>&1 &
    linkem_pid=$!
    for _ in $(seq 100); do
        ip netns exec linkem-b true 2>/dev/null && grep -q forwarding "$work/linkem.out" && break
        sleep 0.1
    done
    grep -q forwarding "$work/linkem.out" || { cat "$work/linkem.out" >&2; exit 1; }
    for ns in linkem-a linkem-b; do
        ip netns exec "$ns" sysctl -q -w net.ipv4.tcp_congestion_control=bbr
    done
    receivers=()
    for i in $(seq 0 $((streams - 1))); do
        ip netns exec linkem-b "$bin/dwcp-wan-bench" tcp-recv --listen "10.77.0.2:$((5400 + i))" \
            --accept-timeout-s 30 --output "$work/out.$i" 2> "$work/recv.$i" &
        receivers+=($!)
    done
    for i in $(seq 0 $((streams - 1))); do
        for _ in $(seq 100); do
            ip netns exec linkem-b ss -Hltn "sport = :$((5400 + i))" | grep -q LISTEN && break
            sleep 0.05
        done
    done
    start=$(date +%s.%N)
    senders=()
    i=0
    for part in "$work"/part.*; do
        ip netns exec linkem-a "$bin/dwcp-wan-bench" tcp-send --connect "10.77.0.2:$((5400 + i))" \
            --input "$part" 2> "$work/send.$i" &
        senders+=($!)
        i=$((i + 1))
    done
    for pid in "${senders[@]}" "${receivers[@]}"; do
        wait "$pid" || { echo "tcp-ceiling: a copy failed:" >&2; cat "$work"/send.* "$work"/recv.* >&2; exit 1; }
    done
    end=$(date +%s.%N)
    kill "$linkem_pid"; wait "$linkem_pid" 2>/dev/null || true; linkem_pid=""
    cat "$work"/out.* | cmp -s - <(cat "$work"/part.*) || { echo "tcp-ceiling: the copy differs" >&2; exit 1; }
    rm -f "$work"/out.*
    secs=$(echo "$end - $start" | bc -l)
    times+=("$secs")
    drops=$(grep -o '"dropped_loss":[0-9]*,"dropped_queue":[0-9]*' "$work/linkem.out" | head -1)
    printf 'run %d: %d streams, %.2f s, goodput / link %.3f (%s)\n' "$run" "$streams" "$secs" \
        "$(echo "$size_mib * 1048576 * 8 / $secs / ($link_mbps * 1000000)" | bc -l)" "$drops"
done
printf '{"profile":"%s","streams":%d,"size_mib":%d,"link_mbps":%s,"secs":[%s]}\n' \
    "$profile" "$streams" "$size_mib" "$link_mbps" "$(IFS=,; echo "${times[*]}")"
