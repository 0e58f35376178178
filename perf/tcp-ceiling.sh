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
# `internet`, 512 MiB, 1 run. The link rate is the one dwcp-linkem's ready
# line reports (a profile the machine cannot forward is scaled down).
# Needs root (namespaces), /dev/net/tun, python3, and room for the image
# twice in /dev/shm. docs/performance.md has the results.

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
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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

work=$(mktemp -d /dev/shm/dwcp-tcp-ceiling.XXXXXX)
linkem_pid=""
cleanup() {
    set +e
    if [ -n "$linkem_pid" ]; then
        kill "$linkem_pid" 2>/dev/null
        wait "$linkem_pid" 2>/dev/null
    fi
    jobs -p | xargs -r kill 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A number from the JSON object on stdin: json_field KEY.
json_field() { python3 -c 'import json, sys; print(json.loads(sys.stdin.readline())[sys.argv[1]])' "$1"; }

head -c $((size_mib * 1048576)) /dev/urandom > "$work/image"
split -n "$streams" -d -a 2 "$work/image" "$work/part."
rm "$work/image"

times=()
for run in $(seq "$runs"); do
    "$bin/dwcp-linkem" run --profile "$profile" > "$work/linkem.out" 2> "$work/linkem.err" &
    linkem_pid=$!
    for _ in $(seq 100); do
        grep -q '^{"ready":' "$work/linkem.out" && break
        sleep 0.1
    done
    ready=$(grep -m1 '^{"ready":' "$work/linkem.out" || true)
    if [ "$(echo "$ready" | json_field ready 2>/dev/null)" != True ]; then
        echo "tcp-ceiling: dwcp-linkem did not get ready:" >&2
        cat "$work/linkem.out" "$work/linkem.err" >&2
        exit 1
    fi
    rate_bps=$(echo "$ready" | json_field rate_bps)
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
    kill "$linkem_pid" 2>/dev/null || true
    wait "$linkem_pid" 2>/dev/null || true
    linkem_pid=""
    i=0
    for part in "$work"/part.*; do
        cmp -s "$part" "$work/out.$i" || { echo "tcp-ceiling: stream $i's copy differs" >&2; exit 1; }
        rm -f "$work/out.$i"
        i=$((i + 1))
    done
    drops=$(grep -o '"dropped_loss":[0-9]*,"dropped_queue":[0-9]*' "$work/linkem.out" | head -1 || true)
    line=$(python3 -c '
import sys
run, streams, start, end, size_mib, rate_bps = sys.argv[1:7]
secs = float(end) - float(start)
goodput = int(size_mib) * 1048576 * 8 / secs / float(rate_bps)
print(f"{secs:.3f} run {run}: {streams} streams, {secs:.2f} s, goodput / link {goodput:.3f}")
' "$run" "$streams" "$start" "$end" "$size_mib" "$rate_bps")
    times+=("${line%% *}")
    echo "${line#* } ($drops)"
done
printf '{"profile":"%s","streams":%d,"size_mib":%d,"rate_bps":%s,"secs":[%s]}\n' \
    "$profile" "$streams" "$size_mib" "$rate_bps" "$(IFS=,; echo "${times[*]}")"
