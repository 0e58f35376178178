# shellcheck shell=bash
# Idempotent system-package installs shared by scripts/demo.sh and
# scripts/test.sh. Source it; the caller defines log() and die().

# Runs "$@" as root: directly when root, else through passwordless sudo.
as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        return 1
    fi
}

# ensure_commands COMMAND:PACKAGE...: installs (apt-get) the PACKAGE of each
# COMMAND that is not on PATH, and nothing when everything is present.
ensure_commands() {
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install them"
    log "installing missing packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q >&2 || die "apt-get update failed (need root or passwordless sudo)"
    as_root apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
        die "apt-get install ${missing[*]} failed"
}
