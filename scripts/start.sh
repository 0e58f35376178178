#!/usr/bin/env bash
# Start (or stop) the DWCP data plane and control plane on this host without
# systemd: for development, tests and hosts without systemd. Production hosts
# use the units in deploy/systemd/ (deploy/README.md).
#
#   start.sh --config FILE [--tables PATH] [--node-id ID] [--bin-dir DIR] [--log-dir DIR] [--foreground]
#   start.sh --stop [--log-dir DIR]
#
# Starts `dwcp-dataplane serve` first, waits (up to 3 s) for it to create its
# tables file, then `dwcp-controlplane run`, and waits until the control
# plane's GET /health answers 200 (up to 15 s). Pid files and logs go to
# --log-dir. Idempotent: a process whose pid file names a live process of the
# same binary is not started again. --stop stops the control plane first, then
# the data plane (SIGTERM, SIGKILL after 10 s).
#
# The configuration is TOML, but this script reads only two strings from it
# with awk, and only in the plain form `key = "value"` on one line inside its
# `[section]`: [api].listen (where to check health) and [node].tables (the
# default for --tables). Dotted keys (`api.listen = ...`), inline tables and
# multi-line strings are not understood; give --tables explicitly then, and
# keep [api].listen in the plain form (the control plane itself reads the
# full TOML).
#
# Exit status: 0 started (or already running) / stopped, 1 a process failed to
# start or the API did not become healthy in time, 2 bad arguments.
set -euo pipefail

readonly HEALTH_TIMEOUT_S=15
readonly DATAPLANE_READY_TIMEOUT_S=3
readonly STOP_TIMEOUT_S=10
readonly HEALTH_REQUEST_TIMEOUT_S=3
readonly LOG_TAIL_LINES=20
readonly DATAPLANE=dwcp-dataplane
readonly CONTROLPLANE=dwcp-controlplane

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT

usage() {
    cat <<EOF
usage: $(basename "$0") --config FILE [--tables PATH] [--node-id ID] [--bin-dir DIR] [--log-dir DIR] [--foreground]
       $(basename "$0") --stop [--log-dir DIR]

Starts the DWCP data plane (${DATAPLANE} serve) and then the control plane
(${CONTROLPLANE} run), and waits until the control plane's GET /health
answers 200 (at most ${HEALTH_TIMEOUT_S} s).

  --config FILE   control plane configuration (TOML); [api].listen says where
                  to check health (default 127.0.0.1:7700 when absent)
  --tables PATH   the data plane's shared-memory tables file
                  (default: [node].tables from the configuration)
  --node-id ID    passed to the data plane as --node-id
  --bin-dir DIR   where the binaries are (default ${ROOT}/target/release)
  --log-dir DIR   pid files and logs (default /run/dwcp as root,
                  \$XDG_RUNTIME_DIR/dwcp otherwise)
  --foreground    stay attached: both processes log to this terminal, and
                  Ctrl-C (or the control plane exiting) stops both
  --stop          stop the control plane, then the data plane
  -h, --help      this text

Only the plain form key = "value" of [api].listen and [node].tables is read
from the TOML by this script (see the comment at its top).
EOF
}

die() {
    echo "start.sh: error: $*" >&2
    exit 1
}

usage_error() {
    echo "start.sh: $*" >&2
    echo "try: $(basename "$0") --help" >&2
    exit 2
}

default_log_dir() {
    if [[ $(id -u) -eq 0 ]]; then
        echo /run/dwcp
    elif [[ -n ${XDG_RUNTIME_DIR:-} ]]; then
        echo "${XDG_RUNTIME_DIR}/dwcp"
    else
        echo "/tmp/dwcp-$(id -u)"
    fi
}

# toml_string FILE SECTION KEY -> the value of `KEY = "..."` (or '...') in
# [SECTION]; nothing when absent. See the limitations at the top.
toml_string() {
    awk -v want_section="$2" -v want_key="$3" -v squote="'" '
        /^[[:space:]]*\[/ {
            section = $0
            sub(/^[[:space:]]*\[+[[:space:]]*/, "", section)
            sub(/[[:space:]]*\].*$/, "", section)
            next
        }
        section == want_section && match($0, "^[[:space:]]*" want_key "[[:space:]]*=[[:space:]]*") {
            rest = substr($0, RLENGTH + 1)
            quote = substr(rest, 1, 1)
            if (quote != "\"" && quote != squote) next
            rest = substr(rest, 2)
            end = index(rest, quote)
            if (end == 0) next
            print substr(rest, 1, end - 1)
            exit
        }' "$1"
}

# live_pid PIDFILE NAME -> prints the pid when PIDFILE names a live process
# whose command line contains NAME (so a reused pid is not mistaken for ours).
live_pid() {
    local file=$1 name=$2 pid cmdline
    [[ -f $file ]] || return 1
    pid=$(<"$file")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/cmdline ]] || return 1
    cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
    [[ $cmdline == *"$name"* ]] || return 1
    echo "$pid"
}

# process_running PID: the process exists and is not a zombie. Used for the
# processes this run started (their command line is briefly still this
# script's, between fork and exec).
process_running() {
    local state
    state=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

write_pid() { # write_pid FILE PID
    echo "$2" >"$1.tmp"
    mv -f "$1.tmp" "$1"
}

log_tail() { # log_tail LOGFILE
    if [[ -s $1 ]]; then
        echo "--- last ${LOG_TAIL_LINES} lines of $1 ---" >&2
        tail -n "$LOG_TAIL_LINES" "$1" >&2
        echo "---" >&2
    fi
}

# stop_process NAME PIDFILE: SIGTERM, then SIGKILL after STOP_TIMEOUT_S.
stop_process() {
    local name=$1 file=$2 pid waited=0
    if ! pid=$(live_pid "$file" "$name"); then
        if [[ -f $file ]]; then
            rm -f "$file"
            echo "${name}: not running (removed stale pid file ${file})"
        else
            echo "${name}: not running"
        fi
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    while live_pid "$file" "$name" >/dev/null && ((waited < STOP_TIMEOUT_S * 10)); do
        sleep 0.1
        waited=$((waited + 1))
    done
    if live_pid "$file" "$name" >/dev/null; then
        echo "${name}: pid ${pid} still running ${STOP_TIMEOUT_S} s after SIGTERM; sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
    echo "${name}: stopped (pid ${pid})"
}

do_stop() { # do_stop LOG_DIR
    local dir=$1
    [[ -d $dir ]] || {
        echo "nothing to stop: ${dir} does not exist"
        return 0
    }
    stop_process "$CONTROLPLANE" "$dir/controlplane.pid"
    stop_process "$DATAPLANE" "$dir/dataplane.pid"
}

# health_host_port LISTEN -> "HOST PORT" to connect to for LISTEN (an
# unspecified address is reached on loopback).
health_host_port() {
    local listen=$1 host port
    if [[ $listen =~ ^\[(.*)\]:([0-9]+)$ ]]; then
        host=${BASH_REMATCH[1]}
        port=${BASH_REMATCH[2]}
        if [[ $host == "::" ]]; then host=::1; fi
    elif [[ $listen =~ ^([^:]+):([0-9]+)$ ]]; then
        host=${BASH_REMATCH[1]}
        port=${BASH_REMATCH[2]}
        if [[ $host == 0.0.0.0 ]]; then host=127.0.0.1; fi
    else
        return 1
    fi
    echo "$host $port"
}

# http_health HOST PORT -> the raw answer to GET /health, nothing when there
# is none. Plain bash (/dev/tcp), so no curl is needed.
http_health() {
    # shellcheck disable=SC2016 # $0 and $1 are expanded by the inner bash
    timeout "$HEALTH_REQUEST_TIMEOUT_S" bash -c '
        exec 3<>"/dev/tcp/$0/$1" || exit 1
        printf "GET /health HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n" "$0" >&3
        cat <&3' "$1" "$2" 2>/dev/null || true
}

# http_status ANSWER -> the status code of a raw HTTP answer.
http_status() {
    head -n 1 <<<"$1" | awk '{ print $2 }'
}

# http_body ANSWER -> the body of a raw HTTP answer.
http_body() {
    awk 'body { print } /^\r?$/ { body = 1 }' <<<"$1"
}

# Starts NAME from the bin dir with ARGS, in its own session (a terminal's
# Ctrl-C or hang-up does not reach it); output to LOG, or to this terminal in
# the foreground. Records the pid in PIDFILE and in LAUNCHED_PID. Not called
# in a subshell, so that the foreground mode can `wait` for the process.
LAUNCHED_PID=""
launch() { # launch NAME PIDFILE LOG ARGS...
    local name=$1 file=$2 log=$3
    shift 3
    if [[ $FOREGROUND == no ]]; then
        echo "=== $(date -Is) start.sh: ${name} $*" >>"$log"
    fi
    if [[ $FOREGROUND == yes ]]; then
        setsid "$BIN_DIR/$name" "$@" </dev/null &
    else
        setsid "$BIN_DIR/$name" "$@" </dev/null >>"$log" 2>&1 &
    fi
    LAUNCHED_PID=$!
    write_pid "$file" "$LAUNCHED_PID"
}

# Stops what this run started, in order, after a failure.
STARTED_DATAPLANE=no
STARTED_CONTROLPLANE=no
roll_back() {
    if [[ $STARTED_CONTROLPLANE == yes ]]; then
        stop_process "$CONTROLPLANE" "$LOG_DIR/controlplane.pid" >&2
    fi
    if [[ $STARTED_DATAPLANE == yes ]]; then
        stop_process "$DATAPLANE" "$LOG_DIR/dataplane.pid" >&2
    fi
}

do_start() {
    [[ -n $CONFIG ]] || usage_error "--config FILE is required"
    [[ -f $CONFIG && -r $CONFIG ]] || die "cannot read the configuration ${CONFIG}"
    CONFIG=$(realpath -- "$CONFIG")

    local name
    for name in "$DATAPLANE" "$CONTROLPLANE"; do
        [[ -x $BIN_DIR/$name ]] ||
            die "${BIN_DIR}/${name} not found or not executable; build it with: cargo build --release -p dwcp-dataplane -p dwcp-controlplane (or give --bin-dir)"
    done

    if [[ -z $TABLES ]]; then
        TABLES=$(toml_string "$CONFIG" node tables)
        [[ -n $TABLES ]] ||
            die "no --tables given and no [node].tables = \"...\" found in ${CONFIG}"
    fi

    local listen host_port health_host health_port
    listen=$(toml_string "$CONFIG" api listen)
    listen=${listen:-127.0.0.1:7700}
    host_port=$(health_host_port "$listen") ||
        die "cannot read [api].listen = \"${listen}\" in ${CONFIG} as HOST:PORT or [V6]:PORT"
    read -r health_host health_port <<<"$host_port"
    ((health_port != 0)) ||
        die "[api].listen has port 0 (any free port): this script cannot find the API to check its health; set a port"

    mkdir -p "$LOG_DIR" || die "cannot create the log directory ${LOG_DIR}"
    [[ -w $LOG_DIR ]] || die "cannot write to the log directory ${LOG_DIR} (not root? give --log-dir)"

    local dp_pid cp_pid dp_log=$LOG_DIR/dataplane.log cp_log=$LOG_DIR/controlplane.log
    local dp_pidfile=$LOG_DIR/dataplane.pid cp_pidfile=$LOG_DIR/controlplane.pid
    local dp_running=no cp_running=no
    if dp_pid=$(live_pid "$dp_pidfile" "$DATAPLANE"); then dp_running=yes; fi
    if cp_pid=$(live_pid "$cp_pidfile" "$CONTROLPLANE"); then cp_running=yes; fi
    if [[ $FOREGROUND == yes && ($dp_running == yes || $cp_running == yes) ]]; then
        die "already running (pid files in ${LOG_DIR}); stop first with: $0 --stop --log-dir ${LOG_DIR}"
    fi
    if [[ $cp_running == no && -n $(http_health "$health_host" "$health_port") ]]; then
        die "something already answers on ${health_host} port ${health_port} (a control plane not started with this --log-dir?)"
    fi

    # From here on, an interruption stops what this run started.
    trap 'roll_back; exit 130' INT TERM
    if [[ $dp_running == yes ]]; then
        echo "${DATAPLANE}: already running (pid ${dp_pid}); not starting another"
    else
        local dp_args=(serve --tables "$TABLES")
        if [[ -n $NODE_ID ]]; then dp_args+=(--node-id "$NODE_ID"); fi
        launch "$DATAPLANE" "$dp_pidfile" "$dp_log" "${dp_args[@]}"
        dp_pid=$LAUNCHED_PID
        STARTED_DATAPLANE=yes
        # It creates the tables file on start: wait for it, so the control
        # plane finds the tables at once.
        local waited=0
        while [[ ! -e $TABLES ]] && ((waited < DATAPLANE_READY_TIMEOUT_S * 10)); do
            if ! process_running "$dp_pid"; then
                log_tail "$dp_log"
                rm -f "$dp_pidfile"
                die "${DATAPLANE} exited during start-up (log: ${dp_log})"
            fi
            sleep 0.1
            waited=$((waited + 1))
        done
        process_running "$dp_pid" || {
            log_tail "$dp_log"
            rm -f "$dp_pidfile"
            die "${DATAPLANE} exited during start-up (log: ${dp_log})"
        }
        [[ -e $TABLES ]] ||
            echo "note: ${TABLES} does not exist yet ${DATAPLANE_READY_TIMEOUT_S} s after starting ${DATAPLANE}; starting ${CONTROLPLANE} anyway" >&2
        echo "started ${DATAPLANE} (pid ${dp_pid}): ${dp_args[*]}; log ${dp_log}"
    fi

    if [[ $cp_running == yes ]]; then
        echo "${CONTROLPLANE}: already running (pid ${cp_pid}); not starting another"
    else
        launch "$CONTROLPLANE" "$cp_pidfile" "$cp_log" run --config "$CONFIG"
        cp_pid=$LAUNCHED_PID
        STARTED_CONTROLPLANE=yes
        echo "started ${CONTROLPLANE} (pid ${cp_pid}): run --config ${CONFIG}; log ${cp_log}"
    fi

    local start=$SECONDS answer="" status=""
    while ((SECONDS - start < HEALTH_TIMEOUT_S)); do
        if ! process_running "$cp_pid"; then
            log_tail "$cp_log"
            rm -f "$cp_pidfile"
            STARTED_CONTROLPLANE=no
            roll_back
            die "${CONTROLPLANE} exited during start-up (log: ${cp_log})"
        fi
        answer=$(http_health "$health_host" "$health_port")
        status=$(http_status "$answer")
        [[ $status == 200 ]] && break
        sleep 0.2
    done
    local api="http://${health_host}:${health_port}"
    if [[ $health_host == *:* ]]; then api="http://[${health_host}]:${health_port}"; fi
    if [[ $status != 200 ]]; then
        if [[ -n $status ]]; then
            echo "start.sh: ${api}/health still answers ${status} after ${HEALTH_TIMEOUT_S} s:" >&2
            http_body "$answer" >&2
        else
            echo "start.sh: no answer from ${api}/health within ${HEALTH_TIMEOUT_S} s" >&2
        fi
        log_tail "$cp_log"
        trap - INT TERM
        die "the processes are left running; check the logs, then: $0 --stop --log-dir ${LOG_DIR}"
    fi
    trap - INT TERM
    echo "control plane API healthy at ${api} ($((SECONDS - start)) s)"
    if [[ $FOREGROUND == yes ]]; then
        foreground_wait "$cp_pid"
    else
        echo "stop both with: $0 --stop --log-dir ${LOG_DIR}"
    fi
}

# Stays until Ctrl-C/SIGTERM or the control plane exits, then stops both
# (control plane first). Exits with the control plane's status when it ended
# on its own, 0 after a signal.
foreground_wait() { # foreground_wait CONTROLPLANE_PID
    local cp_pid=$1 status=0
    trap 'echo "start.sh: stopping" >&2' INT TERM
    echo "running in the foreground; Ctrl-C stops both"
    # `wait` returns when the control plane exits or a trapped signal arrives.
    if wait "$cp_pid"; then status=0; else status=$?; fi
    trap - INT TERM
    if live_pid "$LOG_DIR/controlplane.pid" "$CONTROLPLANE" >/dev/null; then
        status=0
    else
        echo "start.sh: ${CONTROLPLANE} exited with status ${status}" >&2
    fi
    do_stop "$LOG_DIR"
    exit "$status"
}

main() {
    local mode=start
    CONFIG="" TABLES="" NODE_ID="" BIN_DIR="$ROOT/target/release" LOG_DIR="" FOREGROUND=no
    while (($# > 0)); do
        case $1 in
        --config | --tables | --node-id | --bin-dir | --log-dir)
            (($# >= 2)) || usage_error "$1 needs a value"
            [[ -n $2 ]] || usage_error "$1 needs a non-empty value"
            case $1 in
            --config) CONFIG=$2 ;;
            --tables) TABLES=$2 ;;
            --node-id) NODE_ID=$2 ;;
            --bin-dir) BIN_DIR=$2 ;;
            --log-dir) LOG_DIR=$2 ;;
            esac
            shift 2
            ;;
        --foreground) FOREGROUND=yes; shift ;;
        --stop) mode=stop; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage_error "unknown argument '$1'" ;;
        esac
    done
    LOG_DIR=${LOG_DIR:-$(default_log_dir)}
    case $mode in
    stop)
        [[ -z $CONFIG && -z $TABLES && -z $NODE_ID && $FOREGROUND == no ]] ||
            usage_error "--stop takes only --log-dir"
        do_stop "$LOG_DIR"
        ;;
    start)
        do_start
        ;;
    esac
}

main "$@"
