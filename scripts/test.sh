#!/usr/bin/env bash
# The test command: installs missing system packages (only if missing), builds
# the two release binaries the end-to-end tests run, then runs every test in
# the workspace.
#
#   scripts/test.sh [extra `cargo test` arguments, e.g. -- --nocapture]
#
# The end-to-end tests (tests/) start real dwcp-dataplane and dwcp-guest-sim
# processes and migrate hundreds of MiB; they find the release binaries through
# DWCP_BIN_DIR (release is much faster than debug for that traffic). Tests
# that use the real guest memory snapshots read ../shared/data/vm-memory (or
# DWCP_VM_MEMORY_DIR) and are skipped, saying so, when it is absent.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { echo "test: $*" >&2; }
die() {
    echo "test: error: $*" >&2
    exit 2
}

# shellcheck source=scripts/lib/packages.sh
source "$ROOT/scripts/lib/packages.sh"

# System packages, only if missing:
#   cc (build-essential): rustc's linker and the C compiler for `ring` and zstd.
#   ip (iproute2): tests that build network namespaces.
#   cmp (diffutils): byte-for-byte image checks.
#   zstd: unpacks the real guest memory snapshots (../shared/data/vm-memory).
#   rsync: a contender in the WAN benchmark's smoke test (perf/wanbench).
ensure_commands cc:build-essential ip:iproute2 cmp:diffutils zstd:zstd curl:curl openssl:openssl rsync:rsync
if ! command -v cargo >/dev/null 2>&1 && [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/cargo ]]; then
    PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    export PATH
fi
command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup (https://rustup.rs)"

# The snapshot tests read DWCP_VM_MEMORY_DIR, else ../shared/data/vm-memory.
data=${DWCP_VM_MEMORY_DIR:-$(cd "$ROOT/.." && pwd)/shared/data/vm-memory}
if [[ -f $data/unpack.sh ]]; then
    log "reference data: $data is present; the real guest memory snapshot test (t70) will run"
else
    log "reference data: $data is ABSENT; the real guest memory snapshot test (t70) will be SKIPPED (it passes with a SKIPPED line, visible with -- --nocapture)"
fi

target_dir=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $target_dir == /* ]] || target_dir=$ROOT/$target_dir
export DWCP_BIN_DIR=${DWCP_BIN_DIR:-$target_dir/release}

start=$SECONDS
log "building the release binaries the end-to-end tests run (the first build takes about 2 minutes)"
cargo build --release -p dwcp-dataplane -p dwcp-guest-sim -p dwcp-controlplane -p dwcp-linkem
log "release build done in $((SECONDS - start)) s; DWCP_BIN_DIR=$DWCP_BIN_DIR"

start=$SECONDS
log "cargo test --workspace $*"
cargo test --workspace "$@"
log "all tests passed in $((SECONDS - start)) s"
