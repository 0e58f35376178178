#!/usr/bin/env bash
# DWCP demo: a real live migration of a running guest's memory between two
# "hosts" (two network namespaces joined by a veth pair, or loopback).
#
#   scripts/demo.sh [--size 1G] [--dirty-rate 32M] [--streams N] [--downtime-ms MS]
#                   [--loopback] [--direct] [--keep] [--help]
#
# What it does: installs missing system packages (apt-get, only if needed),
# builds the binaries in release mode, starts a guest stand-in
# (dwcp-guest-sim) on host A that dirties its memory, starts each host's data
# plane (`dwcp-dataplane serve`) and control plane (`dwcp-controlplane run`,
# mTLS between them with a demo CA), and runs `dwcpctl migrate` on host A,
# with live progress on stderr. Then it compares the two memory files byte
# for byte. `--direct` skips the control planes and runs
# `dwcp-dataplane migrate`/`receive` (DWCP_DEMO_MIGRATE_ARGS adds flags there).
# DWCP_BIN_DIR=/abs/dir uses the binaries there instead of building.
#
# Output contract: everything human-readable goes to stderr; the LAST (and
# only) line on stdout is the source's one-line JSON summary (with `mode` and
# `migration_id` when it ran through the control planes). Exit status: the
# migrate command's (0 = verified by the destination); 1 as well when the
# byte-for-byte comparison fails; 2 for bad usage or a failed setup.
#
# Everything it creates (processes, namespaces, veth, temp dir, /dev/shm files)
# is removed on exit, also on Ctrl-C or SIGTERM (--keep keeps the files).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT

SIZE=1G
DIRTY_RATE=32M
STREAMS=""
DOWNTIME_MS=""
FORCE_LOOPBACK=0
KEEP=0
DIRECT=0

usage() {
    cat <<EOF
usage: $(basename "$0") [options]

Live-migrates a running guest's memory between two hosts on this machine:
two network namespaces joined by a veth pair (192.0.2.1 -> 192.0.2.2) when
run as root, otherwise loopback (127.0.0.1). The last line on stdout is the
source's JSON summary; progress and messages go to stderr.

options:
  --size SIZE         guest memory size (default ${SIZE}; K/M/G suffixes)
  --dirty-rate RATE   bytes per second the guest dirties (default ${DIRTY_RATE}; 0 = idle)
  --streams N         parallel TCP streams (default: chosen by dwcp-dataplane)
  --downtime-ms MS    downtime budget for the switch-over (default: dwcp-dataplane's, 300)
  --loopback          use 127.0.0.1 even when network namespaces are available
  --direct            drive the data planes directly (dwcp-dataplane migrate/receive)
                      instead of through the control planes and dwcpctl
  --keep              keep the memory files and the temp dir (logs, key) afterwards
  -h, --help          show this help

exit status: 0 migrated and verified; 1 the migration failed or the memory
files differ; 2 bad usage or setup failure.
EOF
}

log() { echo "demo: $*" >&2; }
die() {
    echo "demo: error: $*" >&2
    exit 2
}

need_value() { # need_value FLAG ARGC
    [[ $2 -ge 2 ]] || die "$1 needs a value (see --help)"
}

while [[ $# -gt 0 ]]; do
    case $1 in
    --size)
        need_value "$1" $#
        SIZE=$2
        shift 2
        ;;
    --dirty-rate)
        need_value "$1" $#
        DIRTY_RATE=$2
        shift 2
        ;;
    --streams)
        need_value "$1" $#
        STREAMS=$2
        shift 2
        ;;
    --downtime-ms)
        need_value "$1" $#
        DOWNTIME_MS=$2
        shift 2
        ;;
    --size=* | --dirty-rate=* | --streams=* | --downtime-ms=*)
        set -- "${1%%=*}" "${1#*=}" "${@:2}"
        ;;
    --loopback)
        FORCE_LOOPBACK=1
        shift
        ;;
    --keep)
        KEEP=1
        shift
        ;;
    --direct)
        DIRECT=1
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        die "unknown argument: $1"
        ;;
    esac
done
[[ -z $STREAMS || $STREAMS =~ ^[0-9]+$ ]] || die "--streams must be a number, got '$STREAMS'"
[[ -z $DOWNTIME_MS || $DOWNTIME_MS =~ ^[0-9]+$ ]] || die "--downtime-ms must be a number, got '$DOWNTIME_MS'"

# ---------------------------------------------------------------- state + cleanup
# Everything the script creates is recorded here so that cleanup can undo it.
TMP=""
NS_A=""
NS_B=""
GUEST_PID=""
RECV_PID=""
MIGRATE_PID=""
SRC_MEM=""
DST_MEM=""
DP_A_PID=""
DP_B_PID=""
CP_A_PID=""
CP_B_PID=""
TABLES_A=""
TABLES_B=""

# alive PID -> true if the process exists and is not a zombie we already reaped
alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }

# shellcheck disable=SC2317 # only reached through the trap's cleanup
stop_process() { # stop_process PID NAME: SIGCONT, SIGTERM, wait up to 5 s, then SIGKILL
    local pid=$1 name=$2 i
    alive "$pid" || return 0
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        log "$name (pid $pid) ignored SIGTERM, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    set +e
    stop_process "$MIGRATE_PID" "migrate"
    stop_process "$RECV_PID" "receiver"
    stop_process "$CP_A_PID" "control plane A"
    stop_process "$CP_B_PID" "control plane B"
    stop_process "$DP_A_PID" "data plane A"
    stop_process "$DP_B_PID" "data plane B"
    [[ -n $TABLES_A ]] && rm -f "$TABLES_A"
    [[ -n $TABLES_B ]] && rm -f "$TABLES_B"
    # The guest may still be stopped by the migration's pause hook: stop_process
    # sends SIGCONT before SIGTERM so that it can exit.
    stop_process "$GUEST_PID" "guest"
    [[ -n $NS_A ]] && ip netns delete "$NS_A" 2>/dev/null # deletes its veth end, and with it the pair
    [[ -n $NS_B ]] && ip netns delete "$NS_B" 2>/dev/null
    if [[ $KEEP -eq 1 ]]; then
        [[ -n $TMP ]] && log "kept: $TMP (key, logs, summaries)"
        [[ -n $SRC_MEM && -e $SRC_MEM ]] && log "kept: $SRC_MEM"
        [[ -n $DST_MEM && -e $DST_MEM ]] && log "kept: $DST_MEM"
    else
        [[ -n $SRC_MEM ]] && rm -f "$SRC_MEM"
        [[ -n $DST_MEM ]] && rm -f "$DST_MEM"
        [[ -n $TMP ]] && rm -rf "$TMP"
    fi
    log "cleaned up"
    exit "$status"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# ---------------------------------------------------------------- system packages
# shellcheck source=scripts/lib/packages.sh
source "$ROOT/scripts/lib/packages.sh"

ensure_cargo() {
    if ! command -v cargo >/dev/null 2>&1 && [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/cargo ]]; then
        PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
        export PATH
    fi
    command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup (https://rustup.rs)"
}

# ---------------------------------------------------------------- helpers
# listening NETNS PORT -> true once something listens on TCP PORT in NETNS
# ("" = this namespace). Reads /proc/net/tcp{,6}, which show the reader's
# network namespace; state 0A is LISTEN.
listening() {
    local ns=$1 port_hex
    port_hex=$(printf '%04X' "$2")
    local -a run=()
    [[ -n $ns ]] && run=(ip netns exec "$ns")
    "${run[@]}" cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
        awk -v p=":$port_hex" '$4 == "0A" && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }'
}

# free_port -> a TCP port nobody listens on here (for loopback mode)
free_port() {
    local port
    for ((port = 20000 + $$ % 20000; port < 65000; port++)); do
        listening "" "$port" || {
            echo "$port"
            return 0
        }
    done
    die "no free TCP port found"
}

# setup_netns: two namespaces joined by a veth pair; false if that is not possible
setup_netns() {
    [[ $(id -u) -eq 0 ]] || {
        log "not root: network namespaces need root"
        return 1
    }
    command -v ip >/dev/null 2>&1 || return 1
    local a="dwcp-a-$$" b="dwcp-b-$$"
    ip netns add "$a" 2>/dev/null || {
        log "cannot create a network namespace (ip netns add failed)"
        return 1
    }
    NS_A=$a
    ip netns add "$b" 2>/dev/null || return 1
    NS_B=$b
    # Created directly inside the namespaces, so nothing appears in (or can
    # clash with) the host's own interfaces; deleting a namespace deletes the pair.
    ip link add veth-a netns "$NS_A" type veth peer name veth-b netns "$NS_B" || return 1
    ip -n "$NS_A" link set lo up &&
        ip -n "$NS_B" link set lo up &&
        ip -n "$NS_A" addr add 192.0.2.1/24 dev veth-a &&
        ip -n "$NS_B" addr add 192.0.2.2/24 dev veth-b &&
        ip -n "$NS_A" link set veth-a up &&
        ip -n "$NS_B" link set veth-b up || return 1
    # Wait for the link to come up (carrier).
    local i
    for ((i = 0; i < 50; i++)); do
        ip -n "$NS_A" -o link show veth-a | grep -q 'state UP' && break
        sleep 0.1
    done
    return 0
}

teardown_netns() {
    [[ -n $NS_A ]] && ip netns delete "$NS_A" 2>/dev/null
    [[ -n $NS_B ]] && ip netns delete "$NS_B" 2>/dev/null
    NS_A=""
    NS_B=""
    return 0
}

size_bytes() { # size_bytes 1G -> 1073741824 (binary units, as dwcp-guest-sim reads them)
    local s=${1^^} mult=1
    s=${s%B}
    s=${s%I}
    case $s in
    *K) mult=1024 ;;
    *M) mult=$((1024 ** 2)) ;;
    *G) mult=$((1024 ** 3)) ;;
    *T) mult=$((1024 ** 4)) ;;
    esac
    s=${s%[KMGT]}
    [[ $s =~ ^[0-9]+$ ]] || {
        echo 0
        return
    }
    echo $((s * mult))
}

# ---------------------------------------------------------------- 1. packages + build
# System packages, only if missing:
#   cc (build-essential): the linker for rustc and the C compiler for `ring`.
#   ip (iproute2): the network namespaces and the veth pair.
#   cmp (diffutils): the byte-for-byte comparison (essential on Debian).
ensure_commands cc:build-essential ip:iproute2 cmp:diffutils openssl:openssl
ensure_cargo

if [[ -n ${DWCP_BIN_DIR:-} ]]; then
    # Benchmarks pass binaries built once, so that a rebuild (or another
    # engineer's build holding cargo's lock) never lands inside a timed run.
    [[ $DWCP_BIN_DIR == /* ]] || die "DWCP_BIN_DIR must be an absolute path (got $DWCP_BIN_DIR)"
    bin_dir=$DWCP_BIN_DIR
    log "using the binaries in $bin_dir (DWCP_BIN_DIR); not building"
else
    log "building dwcp-dataplane, dwcp-controlplane, dwcpctl and dwcp-guest-sim (release; the first build takes a few minutes)"
    build_start=$SECONDS
    (cd "$ROOT" && cargo build --release -p dwcp-dataplane -p dwcp-guest-sim -p dwcp-controlplane >&2) || {
        echo "demo: error: cargo build failed" >&2
        exit 2
    }
    log "build done in $((SECONDS - build_start)) s"
    target_dir=${CARGO_TARGET_DIR:-$ROOT/target}
    [[ $target_dir == /* ]] || target_dir=$ROOT/$target_dir
    bin_dir=$target_dir/release
fi
DATAPLANE=$bin_dir/dwcp-dataplane
GUEST_SIM=$bin_dir/dwcp-guest-sim
CONTROLPLANE=$bin_dir/dwcp-controlplane
DWCPCTL=$bin_dir/dwcpctl
[[ -x $DATAPLANE && -x $GUEST_SIM && -x $CONTROLPLANE && -x $DWCPCTL ]] || die "built binaries not found in $bin_dir"

# ---------------------------------------------------------------- 2. hosts
TMP=$(mktemp -d "${TMPDIR:-/tmp}/dwcp-demo.XXXXXX")
if [[ $FORCE_LOOPBACK -eq 0 ]] && setup_netns; then
    MODE=netns
    SRC_IP=192.0.2.1
    DST_IP=192.0.2.2
    PORT=7470
    RUN_A=(ip netns exec "$NS_A")
    RUN_B=(ip netns exec "$NS_B")
    if command -v ping >/dev/null 2>&1 && ! ip netns exec "$NS_A" ping -c 1 -W 2 "$DST_IP" >/dev/null 2>&1; then
        log "note: ping $DST_IP from $NS_A got no answer; trying anyway"
    fi
    log "hosts: network namespaces $NS_A ($SRC_IP, guest + source) and $NS_B ($DST_IP, destination) on a veth pair"
else
    teardown_netns
    [[ $FORCE_LOOPBACK -eq 1 ]] && log "--loopback given"
    MODE=loopback
    SRC_IP=127.0.0.1
    DST_IP=127.0.0.1
    PORT=$(free_port)
    RUN_A=()
    RUN_B=()
    log "hosts: falling back to loopback: source and destination both on 127.0.0.1 (no network namespaces)"
fi

# ---------------------------------------------------------------- 4. guest on host A
SRC_MEM=/dev/shm/dwcp-demo-src-$$
DST_MEM=/dev/shm/dwcp-demo-dst-$$
want=$(size_bytes "$SIZE")
if [[ $want -gt 0 ]]; then
    free_kib=$(df -k --output=avail /dev/shm | tail -n 1 | tr -d ' ')
    [[ $((free_kib * 1024)) -ge $((want * 2)) ]] ||
        die "/dev/shm has $((free_kib / 1024)) MiB free; the demo needs twice --size ($((want * 2 / 1048576)) MiB)"
fi
READY=$TMP/guest.ready
log "starting a ${SIZE} guest stand-in on host A, dirtying ${DIRTY_RATE}/s (hotset), memory $SRC_MEM (log: $TMP/guest.log)"
"${RUN_A[@]}" "$GUEST_SIM" --memory "$SRC_MEM" --size "$SIZE" --dirty-rate "$DIRTY_RATE" \
    --pattern hotset --ready-file "$READY" --stats-file "$TMP/guest-stats.json" \
    </dev/null >"$TMP/guest.log" 2>&1 &
GUEST_PID=$!
for ((i = 0; i < 1200; i++)); do
    [[ -e $READY ]] && break
    if ! alive "$GUEST_PID"; then
        wait "$GUEST_PID" 2>/dev/null || true
        GUEST_PID=""
        sed 's/^/guest: /' "$TMP/guest.log" >&2
        die "the guest stand-in exited before it was ready"
    fi
    sleep 0.1
done
[[ -e $READY ]] || die "the guest stand-in was not ready after 120 s (log: $TMP/guest.log)"
log "guest ready (pid $GUEST_PID)"

# ---------------------------------------------------------------- 5. migrate A -> B
# write_host_config FILE ID ADDR API_PORT PEER_PORT TABLES OTHER_ID OTHER_ADDR OTHER_PEER_PORT DATA_PORT CERTS
write_host_config() {
    cat >"$1" <<EOF
[node]
id = "$2"
tables = "$6"

[api]
listen = "127.0.0.1:$4"

[peer]
listen = "$3:$5"
ca = "${11}/ca.pem"
cert = "${11}/$2.pem"
key = "${11}/$2.key"

[[peers]]
id = "$7"
control = "$8:$9"

[receive]
data_host = "$3"
port_min = ${10}
port_max = ${10}
memory_dir = "/dev/shm"
EOF
}

run_direct() {
    KEY=$TMP/dwcp.key
    "$DATAPLANE" keygen --out "$KEY" >&2 || die "keygen failed"
    log "pre-shared key: $KEY (both hosts use the same file)"

    log "starting the receiver on host B, listening on $DST_IP:$PORT, memory $DST_MEM (log: $TMP/receiver.log)"
    "${RUN_B[@]}" "$DATAPLANE" receive --listen "$DST_IP:$PORT" --memory "$DST_MEM" --key-file "$KEY" \
        --no-progress --accept-timeout-ms 60000 \
        </dev/null >"$TMP/receiver.json" 2>"$TMP/receiver.log" &
    RECV_PID=$!
    ns_b=${NS_B:-}
    for ((i = 0; i < 200; i++)); do
        listening "$ns_b" "$PORT" && break
        if ! alive "$RECV_PID"; then
            wait "$RECV_PID" 2>/dev/null || true
            RECV_PID=""
            sed 's/^/receiver: /' "$TMP/receiver.log" >&2
            die "the receiver exited before it listened"
        fi
        sleep 0.05
    done
    listening "$ns_b" "$PORT" || die "the receiver is not listening on port $PORT after 10 s"

    migrate_args=(migrate --memory "$SRC_MEM" --to "$DST_IP:$PORT" --key-file "$KEY" --pause-pid "$GUEST_PID")
    [[ -n $STREAMS ]] && migrate_args+=(--streams "$STREAMS")
    [[ -n $DOWNTIME_MS ]] && migrate_args+=(--downtime-ms "$DOWNTIME_MS")
    # Extra migrate flags for experiments, e.g. DWCP_DEMO_MIGRATE_ARGS="--codec off".
    if [[ -n ${DWCP_DEMO_MIGRATE_ARGS:-} ]]; then
        read -ra extra_args <<<"$DWCP_DEMO_MIGRATE_ARGS"
        migrate_args+=("${extra_args[@]}")
    fi
    log "migrating $SRC_IP -> $DST_IP:$PORT ($MODE): dwcp-dataplane ${migrate_args[*]}"
    # In the background plus `wait`, so that Ctrl-C reaches the trap at once.
    "${RUN_A[@]}" "$DATAPLANE" "${migrate_args[@]}" </dev/null >"$TMP/source.json" &
    MIGRATE_PID=$!
    migrate_rc=0
    wait "$MIGRATE_PID" || migrate_rc=$?
    MIGRATE_PID=""

    # The receiver exits after its one migration; give it a moment to write its summary.
    recv_rc=""
    for ((i = 0; i < 100; i++)); do
        alive "$RECV_PID" || break
        sleep 0.1
    done
    if alive "$RECV_PID"; then
        log "the receiver is still running 10 s after the source finished; stopping it"
    else
        recv_rc=0
        wait "$RECV_PID" || recv_rc=$?
        RECV_PID=""
    fi

    source_line=$(tail -n 1 "$TMP/source.json" 2>/dev/null || true)
    dest_line=$(tail -n 1 "$TMP/receiver.json" 2>/dev/null || true)
    log "migrate exited with status $migrate_rc"
    log "destination exited with status ${recv_rc:-"(still running)"}; its summary: ${dest_line:-"(none)"}"
    if [[ $migrate_rc -ne 0 || ${recv_rc:-1} -ne 0 ]]; then
        log "last lines of the receiver's log:"
        tail -n 20 "$TMP/receiver.log" | sed 's/^/  receiver: /' >&2
    fi
}

run_through_control_planes() {
    local certs=$TMP/certs api_a api_b peer_a peer_b data_port vm_id i id
    log "certificates for host-a and host-b from a demo CA: $certs"
    bash "$ROOT/scripts/gen-certs.sh" --out "$certs" host-a host-b >&2 || die "gen-certs.sh failed"
    if [[ $MODE == netns ]]; then
        api_a=7700 api_b=7700 peer_a=7701 peer_b=7701 data_port=$PORT
    else
        api_a=$(free_port)
        api_b=$((api_a + 1))
        peer_a=$((api_a + 2))
        peer_b=$((api_a + 3))
        data_port=$((api_a + 4))
        for i in "$api_b" "$peer_a" "$peer_b" "$data_port"; do
            if listening "" "$i"; then die "port $i is in use; try again"; fi
        done
    fi
    vm_id=dwcp-demo-$$
    DST_MEM=/dev/shm/$vm_id.ram
    TABLES_A=/dev/shm/dwcp-demo-$$-a.tables
    TABLES_B=/dev/shm/dwcp-demo-$$-b.tables
    write_host_config "$TMP/host-a.toml" host-a "$SRC_IP" "$api_a" "$peer_a" "$TABLES_A" host-b "$DST_IP" "$peer_b" "$data_port" "$certs"
    write_host_config "$TMP/host-b.toml" host-b "$DST_IP" "$api_b" "$peer_b" "$TABLES_B" host-a "$SRC_IP" "$peer_a" "$data_port" "$certs"
    log "host A: data plane + control plane (API 127.0.0.1:$api_a, peer link $SRC_IP:$peer_a); host B: the same on $DST_IP (logs in $TMP)"
    "${RUN_A[@]}" "$DATAPLANE" serve --tables "$TABLES_A" </dev/null >"$TMP/dataplane-a.log" 2>&1 &
    DP_A_PID=$!
    "${RUN_B[@]}" "$DATAPLANE" serve --tables "$TABLES_B" </dev/null >"$TMP/dataplane-b.log" 2>&1 &
    DP_B_PID=$!
    for ((i = 0; i < 100; i++)); do
        [[ -e $TABLES_A && -e $TABLES_B ]] && break
        sleep 0.05
    done
    "${RUN_A[@]}" "$CONTROLPLANE" run --config "$TMP/host-a.toml" </dev/null >"$TMP/controlplane-a.log" 2>&1 &
    CP_A_PID=$!
    "${RUN_B[@]}" "$CONTROLPLANE" run --config "$TMP/host-b.toml" </dev/null >"$TMP/controlplane-b.log" 2>&1 &
    CP_B_PID=$!
    CTL_A=("${RUN_A[@]}" "$DWCPCTL" --api "http://127.0.0.1:$api_a")
    CTL_B=("${RUN_B[@]}" "$DWCPCTL" --api "http://127.0.0.1:$api_b")
    for ((i = 0; i < 300; i++)); do
        "${CTL_A[@]}" status >/dev/null 2>&1 && "${CTL_B[@]}" status >/dev/null 2>&1 && break
        if ! { alive "$CP_A_PID" && alive "$CP_B_PID" && alive "$DP_A_PID" && alive "$DP_B_PID"; }; then
            tail -n 5 "$TMP"/dataplane-*.log "$TMP"/controlplane-*.log >&2
            die "a data plane or control plane exited during start-up (logs above)"
        fi
        sleep 0.1
    done
    "${CTL_A[@]}" status >&2 || die "host A's control plane is not healthy after 30 s (log: $TMP/controlplane-a.log)"

    local args=(migrate --vm "$vm_id" --memory "$SRC_MEM" --to host-b --pause-pid "$GUEST_PID")
    [[ -n $STREAMS ]] && args+=(--streams "$STREAMS")
    [[ -n $DOWNTIME_MS ]] && args+=(--downtime-ms "$DOWNTIME_MS")
    log "migrating through the control planes ($MODE): dwcpctl ${args[*]}"
    "${CTL_A[@]}" "${args[@]}" </dev/null >"$TMP/source.json" &
    MIGRATE_PID=$!
    migrate_rc=0
    wait "$MIGRATE_PID" || migrate_rc=$?
    MIGRATE_PID=""
    source_line=$(tail -n 1 "$TMP/source.json" 2>/dev/null || true)
    id=$(grep -o '"migration_id":"[0-9a-f]*"' <<<"$source_line" | cut -d'"' -f4 || true)
    dest_line=""
    if [[ -n $id ]]; then
        # Host B's own view of the same migration: its data plane's summary.
        for ((i = 0; i < 100; i++)); do
            dest_line=$("${CTL_B[@]}" --json show "$id" 2>/dev/null | grep -o '"summary":{.*}' | sed 's/^"summary"://; s/}$//' || true)
            [[ -n $dest_line ]] && break
            sleep 0.1
        done
    fi
    log "dwcpctl migrate exited with status $migrate_rc; host B's summary: ${dest_line:-"(none)"}"
    if [[ $migrate_rc -ne 0 ]]; then
        log "last lines of the control plane and data plane logs:"
        tail -n 10 "$TMP"/dataplane-*.log "$TMP"/controlplane-*.log | sed 's/^/  /' >&2
    fi
}

if [[ $DIRECT -eq 1 ]]; then
    run_direct
else
    run_through_control_planes
fi

# ---------------------------------------------------------------- 7. byte-for-byte check
status=$migrate_rc
if [[ $migrate_rc -eq 0 ]]; then
    # After a verified migration the guest must still be stopped (SIGSTOP by the
    # pause hook; it would run on the destination now), so the source file is final.
    guest_state=$(awk '{print $3}' "/proc/$GUEST_PID/stat" 2>/dev/null || echo "?")
    if [[ $guest_state != T ]]; then
        log "WARNING: the guest is not stopped after the migration (state '$guest_state'): the comparison may see later writes"
    fi
    if [[ ! -e $DST_MEM ]]; then
        log "FAIL: the destination memory file $DST_MEM does not exist"
        status=1
    elif cmp_out=$(cmp "$SRC_MEM" "$DST_MEM" 2>&1); then
        log "cmp: source and destination memory are identical, byte for byte ($(stat -c %s "$SRC_MEM") bytes)"
    else
        log "cmp: FAIL: the memory files differ: $cmp_out"
        status=1
    fi
    # Both sides print the image digest; they must agree.
    src_digest=$(grep -o '"digest":"[0-9a-f]*"' <<<"$source_line" | cut -d'"' -f4 || true)
    dst_digest=$(grep -o '"digest":"[0-9a-f]*"' <<<"$dest_line" | cut -d'"' -f4 || true)
    if [[ -n $src_digest && $src_digest == "$dst_digest" ]]; then
        log "digest: source and destination agree ($src_digest)"
    else
        log "digest: FAIL: source ${src_digest:-"(none)"} vs destination ${dst_digest:-"(none)"}"
        status=1
    fi
else
    log "cmp: skipped, the migration did not succeed"
fi

if [[ -n $source_line ]]; then
    printf '%s\n' "$source_line"
else
    log "the source printed no summary"
    [[ $status -ne 0 ]] || status=1
fi
exit "$status"
