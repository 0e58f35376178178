#!/usr/bin/env bash
# DWCP benchmarks. See perf/README.md.
#
#   perf/run.sh [throughput|latency|all] [dwcp-perf args...]   (default: all)
#   perf/run.sh stages [--size 256M] [--runs 5] [--wan-profile regional|NAME|none] [--out DIR] [...]
#   perf/run.sh profile [dwcp-dataplane migrate args...]
#
# stages: per-stage latency profile into perf/out/<UTC time>/ (docs/latency-profiling.md).
# Exit status: that of dwcp-perf (0 all targets met, 3 a target missed or a
# run failed, 1 tool error); profile: 2 if linux-perf is missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"
results="$root/perf/results"

usage() {
    sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# Runs "$@" with a hard limit, killing it (and reporting) if it overruns.
bounded() {
    local limit="$1"
    shift
    local rc=0
    timeout --kill-after=10 "$limit" "$@" || rc=$?
    if [[ $rc -eq 124 || $rc -eq 137 ]]; then
        echo "run.sh: '$*' killed after ${limit}s" >&2
    fi
    return "$rc"
}

# The port a receiver listens on, once it does (state 0A in /proc/net/tcp).
wait_listening() {
    local pid="$1" port="$2" port_hex i
    port_hex="$(printf '%04X' "$port")"
    for ((i = 0; i < 1000; i++)); do
        if cat "/proc/$pid/net/tcp" "/proc/$pid/net/tcp6" 2>/dev/null |
            awk -v p=":$port_hex" '$4 == "0A" && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }'; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.01
    done
    return 1
}

profile() {
    if ! command -v perf >/dev/null 2>&1; then
        echo "run.sh: 'perf' (linux-perf) is not installed; install it with:" >&2
        echo "    sudo apt-get install linux-perf" >&2
        exit 2
    fi
    local size="${PERF_SIZE_MB:-1024}" streams="${PERF_STREAMS:-1}" mode_args=()
    cargo build --profile profiling -p dwcp-dataplane
    local bin="$root/target/profiling/dwcp-dataplane"
    mkdir -p "$results"
    local stamp work port src dst
    stamp="$(date -u +%Y%m%dT%H%M%SZ)"
    work="$(mktemp -d)"
    src="/dev/shm/dwcp-perf-profile-$$-src.mem"
    dst="/dev/shm/dwcp-perf-profile-$$-dst.mem"
    # shellcheck disable=SC2064 # expand now: the paths are fixed
    trap "rm -rf '$work' '$src' '$dst'" EXIT
    trap 'exit 130' INT TERM
    if [[ "${PERF_MODE:-aead}" == plain ]]; then
        mode_args=(--insecure-plaintext)
    else
        "$bin" keygen --out "$work/key" >/dev/null
        mode_args=(--key-file "$work/key")
    fi
    echo "run.sh: writing ${size} MiB of random bytes to $src" >&2
    head -c "$((size * 1024 * 1024))" /dev/urandom >"$src"
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 47011)"

    local rx_data="$results/perf-receive-$stamp.data" tx_data="$results/perf-migrate-$stamp.data"
    bounded 120 perf record -g -o "$rx_data" -- "$bin" receive --listen "127.0.0.1:$port" --memory "$dst" \
        "${mode_args[@]}" --no-progress --accept-timeout-ms 30000 >"$work/receive.out" 2>"$work/receive.err" &
    local rx_pid=$!
    # /proc/PID/net/tcp is the network namespace's table: perf's pid will do.
    if ! wait_listening "$rx_pid" "$port"; then
        echo "run.sh: the receiver did not listen on $port" >&2
        cat "$work/receive.err" >&2
        kill "$rx_pid" 2>/dev/null || true
        exit 1
    fi
    local rc=0
    bounded 120 perf record -g -o "$tx_data" -- "$bin" migrate --memory "$src" --to "127.0.0.1:$port" \
        "${mode_args[@]}" --streams "$streams" --no-progress "$@" || rc=$?
    wait "$rx_pid" || true
    for data in "$rx_data" "$tx_data"; do
        local report="${data%.data}-report.txt"
        perf report --stdio --no-children -i "$data" 2>/dev/null | head -n 80 >"$report" || true
        echo "run.sh: wrote $data and $report" >&2
    done
    echo "== migrate report (head) =="
    head -n 40 "${tx_data%.data}-report.txt"
    return "$rc"
}

# The plots' text needs a TrueType font (plotters reads no system fonts).
ensure_font() {
    local font=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
    [[ -f "$font" ]] && return 0
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "run.sh: installing fonts-dejavu-core for the plots' text" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q fonts-dejavu-core >&2 ||
            echo "run.sh: could not install fonts-dejavu-core: plots get no text" >&2
    else
        echo "run.sh: $font missing: plots get no text (sudo apt-get install fonts-dejavu-core)" >&2
    fi
}

stages() {
    local wan_profile=regional arg prev=""
    for arg in "$@"; do
        [[ "$prev" == --wan-profile ]] && wan_profile="$arg"
        [[ "$arg" == --wan-profile=* ]] && wan_profile="${arg#--wan-profile=}"
        prev="$arg"
    done
    cargo build --release -p dwcp-dataplane -p dwcp-controlplane -p dwcp-perf
    if [[ "$wan_profile" != none ]] && ! cargo build --release -p dwcp-linkem; then
        echo "run.sh: dwcp-linkem does not build: the WAN scenario is SKIPPED" >&2
        export DWCP_PERF_WAN_SKIP="dwcp-linkem did not build (cargo build --release -p dwcp-linkem failed)"
    fi
    ensure_font
    bounded "${PERF_TOTAL_TIMEOUT_S:-3600}" "$root/target/release/dwcp-perf" stages \
        --bin-dir "$root/target/release" "$@"
}

command="${1:-all}"
[[ $# -gt 0 ]] && shift
case "$command" in
    throughput | latency | all)
        cargo build --release -p dwcp-dataplane -p dwcp-perf
        # dwcp-perf bounds every child itself (120 s); this bounds the whole run.
        # It prints the markdown table on stdout (also in perf/results/latest.md).
        bounded "${PERF_TOTAL_TIMEOUT_S:-3600}" "$root/target/release/dwcp-perf" "$command" \
            --bin-dir "$root/target/release" --out "$results" "$@"
        ;;
    stages)
        stages "$@"
        ;;
    profile)
        profile "$@"
        ;;
    -h | --help | help)
        usage
        ;;
    *)
        usage >&2
        exit 64
        ;;
esac
