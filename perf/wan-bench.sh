#!/usr/bin/env bash
# DWCP on emulated WAN links (dwcp-linkem), against what a user would
# otherwise reach for on the same link: one plain TCP stream, zstd -1 -T0 |
# TCP, and an rsync daemon updating an older copy. See docs/performance.md.
#
#   perf/wan-bench.sh [--profile NAME]... [--size 1G] [--guest KIND]... [--out DIR] [...]
#
#   --profile NAME   datacenter, regional, internet, intercontinental, cellular
#                    (repeatable; default: all five)
#   --size SIZE      stand-in guest memory (default 1G; e.g. 256M for a quick
#                    run; the real snapshots are always 1 GiB)
#   --guest KIND     incompressible, realistic, snapshots (repeatable; default: all)
#   --out DIR        default perf/out/wan-<UTC time>/
#   --help           every option (dwcp-wan-bench run --help)
#
# Needs root (network namespaces). Installs zstd, rsync and iproute2 with
# apt-get if missing, builds dwcp-dataplane, dwcp-guest-sim, dwcp-linkem and
# dwcp-wan-bench in release, then runs `dwcp-wan-bench run`, passing the
# arguments through. Prints a markdown table per profile and, as the last
# lines, one JSON line per profile; writes wan-bench.md, results.json and the
# logs of every process under the output folder.
#
# Exit status: 0 no transfer failed and no target missed; 3 a transfer
# failed (ERROR) or a target was missed (MISS); 1 the tool failed; 2 set-up
# (root, packages, build) failed; 130 interrupted.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { echo "wan-bench: $*" >&2; }
die() {
    echo "wan-bench: error: $*" >&2
    exit 2
}

for arg in "$@"; do
    if [[ $arg == -h || $arg == --help ]]; then
        sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        bin=${CARGO_TARGET_DIR:-$ROOT/target}/release/dwcp-wan-bench
        if [[ -x $bin ]]; then
            echo
            "$bin" run --help
        fi
        exit 0
    fi
done

[[ $(id -u) -eq 0 ]] || die "needs root: the emulated link is a pair of network namespaces (try sudo)"

# shellcheck source=scripts/lib/packages.sh
source "$ROOT/scripts/lib/packages.sh"
# Only what is missing:
#   cc (build-essential): rustc's linker and the C compiler for ring and zstd-safe.
#   ip (iproute2): the namespaces.  zstd, rsync: two of the peers.
ensure_commands cc:build-essential ip:iproute2 zstd:zstd rsync:rsync

if ! command -v cargo >/dev/null 2>&1 && [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/cargo ]]; then
    PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    export PATH
fi
command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup (https://rustup.rs)"

log "building dwcp-dataplane, dwcp-guest-sim, dwcp-linkem and dwcp-wan-bench (release)"
cargo build --release -p dwcp-dataplane -p dwcp-guest-sim -p dwcp-linkem -p dwcp-wan-bench >&2 ||
    die "cargo build failed"

target_dir=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $target_dir == /* ]] || target_dir=$ROOT/$target_dir
exec "$target_dir/release/dwcp-wan-bench" run --bin-dir "$target_dir/release" "$@"
