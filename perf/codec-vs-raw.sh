#!/usr/bin/env bash
# Does the page codec ever make a migration slower than sending raw pages?
#
#   perf/codec-vs-raw.sh [--size 1G] [--runs 3] [--out FILE]
#
# Runs the demo's direct migration (scripts/demo.sh --direct: a running guest
# stand-in, two hosts in network namespaces when root, loopback otherwise)
# alternately with `--codec off` and with the codec at its defaults, --runs
# times each, in the same session. Writes a markdown table (default
# docs/codec-vs-raw.md) with total, transfer and set-up times, bytes
# on the wire and the codec's CPU time, then the median ratio codec/raw of the
# total time. The issue's target is a ratio <= 1.00 (never slower than raw).
# With DWCP_BIN_DIR=/abs/dir every run uses the binaries there instead of
# letting the demo rebuild (another build holding cargo's lock between runs).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
size=1G runs=3 out="$root/docs/codec-vs-raw.md"
while [[ $# -gt 0 ]]; do
    case "$1" in
    --size) size="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h | --help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "codec-vs-raw.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "codec-vs-raw.sh: --runs must be a positive number" >&2; exit 2; }
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run_one() { # run_one LABEL ARGS -> appends one JSON line to $tmp/LABEL.jsonl
    local label=$1 args=$2
    echo "codec-vs-raw.sh: $label run ($args)" >&2
    DWCP_DEMO_MIGRATE_ARGS="$args" bash "$root/scripts/demo.sh" --direct --size "$size" 2>"$tmp/demo.err" |
        tail -n 1 >>"$tmp/$label.jsonl" || {
        tail -n 20 "$tmp/demo.err" >&2
        echo "codec-vs-raw.sh: the $label migration failed" >&2
        exit 1
    }
}
for ((i = 0; i < runs; i++)); do
    run_one raw "--codec off"
    run_one codec "--codec on"
done

python3 - "$tmp" "$size" "$out" <<'PY'
import json, statistics, sys, datetime
tmp, size, out = sys.argv[1:4]
rows, totals = [], {}
for label in ("raw", "codec"):
    runs = [json.loads(l) for l in open(f"{tmp}/{label}.jsonl") if l.strip()]
    totals[label] = [r["total_ms"] for r in runs]
    for r in runs:
        c = r.get("codec") or {}
        rows.append(f"| {label} | {r['total_ms']} | {r.get('transfer_ms')} | {r.get('setup_ms')} | "
                    f"{r['bytes_on_wire'] / 1e6:.1f} | {c.get('encode_cpu_ms', '-')} | {c.get('level_final', '-')} | {r['rounds']} |")
ratio = statistics.median(totals["codec"]) / statistics.median(totals["raw"])
verdict = "OK" if ratio <= 1.0 else "MISS"
text = [f"# Codec vs raw pages on one migration ({size} guest, {datetime.date.today()})", "",
        "Command: `perf/codec-vs-raw.sh --size %s --runs %d`" % (size, len(totals['raw'])), "",
        "| mode | total ms | transfer ms | set-up ms | wire MB | encode CPU ms | final level | rounds |",
        "|---|---|---|---|---|---|---|---|", *rows, "",
        f"Median total, codec / raw: **{ratio:.2f}** (target <= 1.00: {verdict})", ""]
open(out, "w").write("\n".join(text))
print("\n".join(text))
print(json.dumps({"size": size, "runs": len(totals["raw"]), "raw_total_ms": totals["raw"],
                  "codec_total_ms": totals["codec"], "ratio": round(ratio, 3), "target_met": ratio <= 1.0}))
PY
