#!/usr/bin/env bash
# Read-only quality gate: formatting, lints, tests, docs, shell scripts.
# Changes nothing in the tree (cargo writes only to target/). Stops at the
# first failing check with a message naming it; exit 0 when all pass.
#
#   scripts/verify.sh
#
# The integration tests start the release binaries; this script builds them
# first and points the tests at them (DWCP_BIN_DIR), as scripts/test.sh does.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if ! command -v cargo >/dev/null 2>&1 && [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/cargo ]]; then
    PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    export PATH
fi

step() { # step NAME COMMAND...: run one check, stop on failure
    local name=$1
    shift
    echo "verify: == $name: $*" >&2
    local start=$SECONDS
    if ! "$@"; then
        echo "verify: FAILED: $name ($*)" >&2
        exit 1
    fi
    echo "verify: ok: $name ($((SECONDS - start)) s)" >&2
}

target_dir=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $target_dir == /* ]] || target_dir=$ROOT/$target_dir
export DWCP_BIN_DIR=${DWCP_BIN_DIR:-$target_dir/release}

step "rustfmt" cargo fmt --all -- --check
step "clippy" cargo clippy --workspace --all-targets -- -D warnings
step "release binaries for the tests" cargo build --release -p dwcp-dataplane -p dwcp-guest-sim
step "tests" cargo test --workspace
# Doc warnings (broken intra-doc links, bad code blocks) are errors.
step "rustdoc" env RUSTDOCFLAGS="${RUSTDOCFLAGS:-} -D warnings" cargo doc --workspace --no-deps
if command -v shellcheck >/dev/null 2>&1; then
    step "shellcheck" shellcheck -x scripts/*.sh scripts/lib/*.sh .ci/run
else
    echo "verify: shellcheck not installed, shell scripts not checked (apt-get install shellcheck)" >&2
fi
echo "verify: all checks passed" >&2
