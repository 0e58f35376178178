#!/usr/bin/env bash
# The held-out evaluation of docs/prediction.md §8.4: every horizon, on the
# HSDPA test files, the FCC test files, both, and the left-out mahimahi
# family; one line per run: set, horizon, then the JSON report's fields.
# Usage: perf/predict-eval-all.sh [MODEL] (default: the shipped model),
# from the repository root, after `cargo build --release -p dwcp-controlplane`.
# Environment: DWCP_TRACES_DIR (default ../shared/data/bandwidth-traces),
# CPU (the core to pin to, default 1).
set -euo pipefail
B=target/release/dwcp-controlplane
M=${1:-controlplane/models/pba-lstm-v1.json}
T=${DWCP_TRACES_DIR:-../shared/data/bandwidth-traces}
CPU=${CPU:-1}
for H in 5 15 30 60; do
    for set in hsdpa fcc both mahimahi; do
        case $set in
            hsdpa) args=(--traces "$T/hsdpa-fcc" --exclude-prefix trace_ --held-out-only) ;;
            fcc) args=(--traces "$T/hsdpa-fcc" --include-prefix trace_ --held-out-only) ;;
            both) args=(--traces "$T/hsdpa-fcc" --held-out-only) ;;
            mahimahi) args=(--traces "$T/mahimahi") ;;
        esac
        json=$(taskset -c "$CPU" nice -n 19 "$B" predict-eval "${args[@]}" --horizon "$H" \
            --model "$M" 2>/dev/null | tail -n 1)
        echo "$set $H $json"
    done
done
