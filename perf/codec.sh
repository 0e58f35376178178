#!/usr/bin/env bash
# The page codec against its peers, side by side, on one core.
#
#   perf/codec.sh [--new NEW] [--base BASE] [--out FILE]
#
# Without --new, unpacks the real guest snapshots (../shared/data/vm-memory,
# or DWCP_VM_MEMORY_DIR) into a temp dir (reused via DWCP_VM_UNPACKED) and
# uses NEW = t30s, BASE = t05s. Runs, each pinned to one core (taskset -c 0):
#   zstd -b1 and zstd -b3 (in-memory benchmark mode, like the codec's own
#   figures) on NEW;  dwcp-bench codec on NEW alone;
#   zstd -3 --long=31 --patch-from=BASE;  xdelta3 -e -B 1073741824 -s BASE;
#   dwcp-bench codec (alone and --base BASE) at levels 1, 3, 4, 5 and 6, each
#   DWCP_CODEC_RUNS (3) times, keeping the best speeds.
# Writes a markdown table (default docs/codec-results.md) and prints it; the
# issue's targets are checked and each is marked OK or MISS.
# Installs zstd and xdelta3 with apt-get if they are missing.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
new="" base="" out="$root/docs/codec-results.md"
while [[ $# -gt 0 ]]; do
    case "$1" in
    --new) new="$2"; shift 2 ;;
    --base) base="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h | --help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "codec.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
log() { echo "codec.sh: $*" >&2; }

missing=()
command -v zstd >/dev/null || missing+=(zstd)
command -v xdelta3 >/dev/null || missing+=(xdelta3)
if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2 ||
        { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2; }
fi

if [[ -z $new ]]; then
    data=${DWCP_VM_MEMORY_DIR:-$root/../shared/data/vm-memory}
    [[ -d $data ]] || { log "no --new given and no snapshots at $data"; exit 2; }
    unpacked=${DWCP_VM_UNPACKED:-$(mktemp -d)}
    log "unpacking the snapshots into $unpacked (about 3 GiB)"
    bash "$data/unpack.sh" "$unpacked" >/dev/null
    new="$unpacked/g1p_t30s.ram"
    base="$unpacked/g1p_t05s.ram"
fi
[[ -f $new ]] || { log "$new does not exist"; exit 2; }

cargo build -q --release -p dwcp-bench
bench="$root/target/release/dwcp-bench"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
input_bytes=$(stat -c %s "$new")

# run NAME COMMAND...: runs on core 0, records output bytes (the command's stdout) and seconds.
declare -A bytes secs enc dec verified
run() {
    local name=$1
    shift
    local start end
    start=$(date +%s.%N)
    taskset -c 0 "$@" >"$scratch/$name.out"
    end=$(date +%s.%N)
    bytes[$name]=$(stat -c %s "$scratch/$name.out")
    secs[$name]=$(echo "$end - $start" | bc -l)
    log "$name: ${bytes[$name]} bytes in ${secs[$name]} s"
}
# zbench NAME LEVEL: zstd's in-memory benchmark (-b, one iteration, one
# thread): compressed bytes, compression and decompression MB/s.
zbench() {
    local name=$1 level=$2 fields
    fields=$(taskset -c 0 zstd -b"$level" -i1 -T1 "$new" 2>&1 | tr '\r' '\n' |
        sed -nE 's/.*: *[0-9]+ -> +([0-9]+) \(x?[0-9.]+\), +([0-9.]+) MB\/s, +([0-9.]+) MB\/s.*/\1 \2 \3/p' | tail -n 1)
    [[ -n $fields ]] || { log "could not read zstd -b$level output"; exit 1; }
    read -r "bytes[$name]" "enc[$name]" "dec[$name]" <<<"$fields"
    log "$name: ${bytes[$name]} bytes, ${enc[$name]} MB/s, decode ${dec[$name]} MB/s"
}
# codec NAME ARGS...: dwcp-bench codec, $runs times (the machine is shared:
# the fastest run is the one least disturbed); output bytes must not change
# between runs, speeds are the best of the runs.
runs=${DWCP_CODEC_RUNS:-3}
codec() {
    local name=$1 line k
    shift
    enc[$name]=0
    dec[$name]=0
    for ((k = 0; k < runs; k++)); do
        taskset -c 0 "$bench" codec --new "$new" "$@" >"$scratch/$name.json"
        line=$(tail -n 1 "$scratch/$name.json")
        if [[ -n ${bytes[$name]:-} && ${bytes[$name]} != $(jq -r .output_bytes <<<"$line") ]]; then
            log "$name: output bytes changed between runs"
            exit 1
        fi
        bytes[$name]=$(jq -r .output_bytes <<<"$line")
        enc[$name]=$(jq -r "[.encode_mbps, ${enc[$name]}] | max" <<<"$line")
        dec[$name]=$(jq -r "[.decode_mbps, ${dec[$name]}] | max" <<<"$line")
        verified[$name]=$(jq -r .verified <<<"$line")
        [[ ${verified[$name]} == true ]] || break
    done
    log "$name: ${bytes[$name]} bytes, encode ${enc[$name]} MB/s, decode ${dec[$name]} MB/s (best of $runs), verified ${verified[$name]}"
}
command -v jq >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q jq >&2
command -v bc >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q bc >&2

zbench zstd1 1
zbench zstd3 3
codec codec1 --level 1
codec codec3 --level 3
codec codec4 --level 4
codec codec5 --level 5
codec codec6 --level 6
if [[ -n $base ]]; then
    run patch zstd -3 -T1 -q --long=31 --patch-from="$base" -c "$new"
    run xdelta xdelta3 -e -B 1073741824 -c -s "$base" "$new"
    for level in 1 3 4 5 6; do
        codec "base$level" --base "$base" --level "$level"
    done
fi

mbps() { echo "scale=0; $input_bytes / ${secs[$1]} / 1000000" | bc -l; }
int() { printf '%.0f' "$1"; }
verdict() { if [[ $(echo "$1" | bc -l) -eq 1 ]]; then echo OK; else echo MISS; fi; }
{
    echo "# Page codec against its peers"
    echo
    echo "\`perf/codec.sh\` on $(date -u +%FT%TZ), $(uname -r), one core (taskset -c 0), $(nproc) cores on the machine."
    echo "NEW = \`$(basename "$new")\`${base:+, BASE = \`$(basename "$base")\`}, $input_bytes bytes. MB/s = 10^6 bytes of input per second."
    echo
    echo "| what | output bytes | ratio | encode MB/s | decode MB/s |"
    echo "|---|---:|---:|---:|---:|"
    for n in zstd1 zstd3; do
        echo "| \`zstd -b${n#zstd} -T1\` | ${bytes[$n]} | $(echo "scale=2; $input_bytes / ${bytes[$n]}" | bc -l) | $(int "${enc[$n]}") | $(int "${dec[$n]}") |"
    done
    for n in codec1 codec3 codec4 codec5 codec6; do
        echo "| \`dwcp-bench codec --level ${n#codec}\` (verified: ${verified[$n]}) | ${bytes[$n]} | $(echo "scale=2; $input_bytes / ${bytes[$n]}" | bc -l) | $(int "${enc[$n]}") | $(int "${dec[$n]}") |"
    done
    if [[ -n $base ]]; then
        echo "| \`zstd -3 -T1 --long=31 --patch-from=BASE\` (timed, file to file) | ${bytes[patch]} | | $(mbps patch) | |"
        echo "| \`xdelta3 -e -B 1073741824 -s BASE\` (timed, file to file) | ${bytes[xdelta]} | | $(mbps xdelta) | |"
        for level in 1 3 4 5 6; do
            n=base$level
            echo "| \`dwcp-bench codec --base BASE --level $level\` (verified: ${verified[$n]}) | ${bytes[$n]} | | $(int "${enc[$n]}") | $(int "${dec[$n]}") |"
        done
    fi
    echo
    echo "Each level is one configuration; a target is met only if one level meets all of its row's parts."
    echo
    echo "| level | alone: output ≤ zstd -3 | alone: encode ≥ 2 × zstd -1 | alone: decode ≥ 2000 MB/s |${base:+ given BASE: output ≤ patch-from | given BASE: encode ≥ 10 × patch-from | stretch: output ≤ xdelta3 |}"
    echo "|---|---|---|---|${base:+---|---|---|}"
    for level in 1 3 4 5 6; do
        n=codec$level
        row="| $level | $(verdict "${bytes[$n]} <= ${bytes[zstd3]}") (${bytes[$n]} vs ${bytes[zstd3]})"
        row+=" | $(verdict "${enc[$n]} >= 2 * ${enc[zstd1]}") ($(int "${enc[$n]}") vs 2 × $(int "${enc[zstd1]}"))"
        row+=" | $(verdict "${dec[$n]} >= 2000") ($(int "${dec[$n]}")) |"
        if [[ -n $base ]]; then
            b=base$level
            row+=" $(verdict "${bytes[$b]} <= ${bytes[patch]}") (${bytes[$b]} vs ${bytes[patch]})"
            row+=" | $(verdict "${enc[$b]} >= 10 * $(mbps patch)") ($(int "${enc[$b]}") vs 10 × $(mbps patch))"
            row+=" | $(verdict "${bytes[$b]} <= ${bytes[xdelta]}") |"
        fi
        echo "$row"
    done
} >"$out"
cat "$out"
