#!/usr/bin/env bash
# Throwaway PostgreSQL for the test suite.
#
#   scripts/pg.sh start    start a private server (installing postgresql with apt if
#                          needed) and print its URL as the last line of stdout:
#                              postgresql://postgres@127.0.0.1:PORT/vision_test
#                          idempotent: if it is already running, just print the URL.
#   scripts/pg.sh url      print the URL of the running server (exit 1 if none)
#   scripts/pg.sh status   say whether it is running (exit 0 if it is, 3 if not)
#   scripts/pg.sh reset    drop and re-create the vision_test database
#   scripts/pg.sh stop     stop the server and delete its data directory (only one that
#                          `start` created: see "What is ever deleted" below)
#
# What is ever deleted. `start` makes a fresh /tmp/vision-pgtest.XXXXXX, puts a marker
# file (.created-by-vision-pg.sh, holding the directory's own path) inside it and records
# CREATED_BY_SCRIPT=1 in the state file. `stop` deletes a directory only when all three
# agree; a start that fails deletes only the directory it made in that same invocation.
# A crashed server (postmaster killed with -9: stale postmaster.pid, state file still
# there) is restarted on its own data directory by `start`, never replaced: its data
# survives. If the recorded data directory is gone, `start` says so and makes a new one.
#
# The server lives in a fresh directory under /tmp (data dir, unix socket, log) and
# listens on 127.0.0.1 only, with trust authentication and fsync off. It is NOT the
# system's cluster: Debian's own postgresql service is left alone. State (data dir,
# port) is kept in .pgtest/state at the repository root.
#
# Environment:
#   VISION_PG_PORT     first port to try (default 54329); if it is taken, the next
#                      free one up to PORT+50 is used (the printed URL tells which).
#   VISION_PG_DURABLE  1: keep PostgreSQL's durable defaults (fsync, synchronous_commit,
#                      full_page_writes on), for benchmarks of durable commits.
#   VISION_PG_BINDIR   directory holding initdb/pg_ctl (default: the newest
#                      /usr/lib/postgresql/*/bin, else the one on PATH).
#   VISION_PG_STATE_DIR  where the state file lives (default: .pgtest in the repo);
#                      a different directory means an independent server
#                      (scripts/test.sh uses one per run so parallel runs don't clash).
#
# Runs as root (server processes run as the `postgres` user via runuser; PostgreSQL
# refuses to run as root) or as any ordinary user (server runs as that user).
# All progress messages go to stderr; stdout carries only the URL.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${VISION_PG_STATE_DIR:-$ROOT/.pgtest}"
STATE_FILE="$STATE_DIR/state"
DB_NAME="vision_test"
DB_USER="postgres"
TMP_PREFIX="vision-pgtest."
MARKER=".created-by-vision-pg.sh"
DEFAULT_PORT=54329

# runuser/useradd live in sbin, which is not always on a root PATH (e.g. under sudo -E).
PATH="$PATH:/usr/sbin:/sbin"

log() { printf 'pg.sh: %s\n' "$*" >&2; }
die() { printf 'pg.sh: error: %s\n' "$*" >&2; exit 1; }

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# Run a command as the user that owns the server. fd 9 (our lock) is closed for it,
# or the postmaster would inherit the lock and hold it for its whole life.
as_pg() {
    if is_root; then
        # cd / so pg tools never trip over an unreadable current directory.
        (cd / && runuser -u postgres -- "$@" 9>&-)
    else
        "$@" 9>&-
    fi
}

# ---------------------------------------------------------------------------
# Finding (or installing) the PostgreSQL binaries

find_bindir() {
    if [[ -n "${VISION_PG_BINDIR:-}" ]]; then
        [[ -x "$VISION_PG_BINDIR/initdb" ]] || die "VISION_PG_BINDIR=$VISION_PG_BINDIR has no initdb"
        printf '%s\n' "$VISION_PG_BINDIR"
        return 0
    fi
    local d best=""
    # Debian layout; pick the newest major version.
    # shellcheck disable=SC2012  # version-sorted; the paths have no odd characters
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
        [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && best="$d"
    done
    if [[ -n "$best" ]]; then
        printf '%s\n' "$best"
        return 0
    fi
    # Other layouts (e.g. a developer's machine with initdb on PATH).
    local initdb_path
    if initdb_path="$(command -v initdb 2>/dev/null)" && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(readlink -f "$initdb_path")"
        return 0
    fi
    return 1
}

install_postgres() {
    command -v apt-get >/dev/null 2>&1 \
        || die "PostgreSQL is not installed and apt-get is not available; install PostgreSQL (initdb, pg_ctl) first"
    local -a sudo=()
    if ! is_root; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo)
        else
            die "PostgreSQL is not installed; run 'sudo apt-get install -y postgresql' (or run this script as root)"
        fi
    fi
    log "PostgreSQL not found: installing it with apt-get (this takes a minute)"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 \
        || die "apt-get update failed"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 \
        || die "apt-get install postgresql failed"
}

ensure_bindir() {
    if BINDIR="$(find_bindir)"; then
        return 0
    fi
    install_postgres
    BINDIR="$(find_bindir)" || die "postgresql was installed but no initdb found under /usr/lib/postgresql/*/bin"
}

ensure_pg_user() {
    is_root || return 0
    id -u postgres >/dev/null 2>&1 && return 0
    # Debian's package creates this user; other installs may not have.
    log "creating system user 'postgres'"
    useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres \
        || die "could not create the 'postgres' user"
}

# ---------------------------------------------------------------------------
# State

# Sets DATA_DIR, TMP_DIR, SOCK_DIR, PORT, BINDIR from the state file; returns 1 if none.
read_state() {
    [[ -f "$STATE_FILE" ]] || return 1
    DATA_DIR="" TMP_DIR="" SOCK_DIR="" PORT="" BINDIR="" PG_PID="" CREATED_BY_SCRIPT="" DURABLE=""
    local key value
    while IFS='=' read -r key value; do
        case "$key" in
            DATA_DIR) DATA_DIR="$value" ;;
            TMP_DIR) TMP_DIR="$value" ;;
            SOCK_DIR) SOCK_DIR="$value" ;;
            PORT) PORT="$value" ;;
            BINDIR) BINDIR="$value" ;;
            PID) PG_PID="$value" ;;
            CREATED_BY_SCRIPT) CREATED_BY_SCRIPT="$value" ;;
            DURABLE) DURABLE="$value" ;;
        esac
    done <"$STATE_FILE"
    [[ -n "$DATA_DIR" && -n "$PORT" && -n "$TMP_DIR" ]] || return 1
    [[ -n "$SOCK_DIR" ]] || SOCK_DIR="$TMP_DIR"
    return 0
}

write_state() {
    mkdir -p "$STATE_DIR"
    local tmp="$STATE_FILE.$$"
    {
        printf 'DATA_DIR=%s\n' "$DATA_DIR"
        printf 'TMP_DIR=%s\n' "$TMP_DIR"
        printf 'SOCK_DIR=%s\n' "$SOCK_DIR"
        printf 'PORT=%s\n' "$PORT"
        printf 'BINDIR=%s\n' "$BINDIR"
        printf 'PID=%s\n' "${PG_PID:-}"
        printf 'CREATED_BY_SCRIPT=%s\n' "${CREATED_BY_SCRIPT:-}"
        printf 'DURABLE=%s\n' "${DURABLE:-}"
        printf 'URL=%s\n' "$(url_for "$PORT")"
    } >"$tmp"
    mv -f "$tmp" "$STATE_FILE"
}

url_for() { printf 'postgresql://%s@127.0.0.1:%s/%s' "$DB_USER" "$1" "$DB_NAME"; }

# True if the server recorded in the state file is up and accepting connections on
# its own socket (read_state must have run). pg_ctl status alone is not enough: a
# killed postmaster can linger as a zombie whose pid still "exists".
state_running() {
    [[ -n "${BINDIR:-}" && -x "$BINDIR/pg_ctl" ]] || BINDIR="$(find_bindir)" || return 1
    [[ -d "$DATA_DIR" ]] || return 1
    as_pg "$BINDIR/pg_ctl" -D "$DATA_DIR" status >/dev/null 2>&1 || return 1
    server_ready
}

server_ready() {
    if [[ -x "$BINDIR/pg_isready" ]]; then
        as_pg "$BINDIR/pg_isready" -q -h "$SOCK_DIR" -p "$PORT" -U "$DB_USER" -d postgres -t 5
    else
        as_pg "$BINDIR/psql" -X -q -h "$SOCK_DIR" -p "$PORT" -U "$DB_USER" -d postgres \
            -c 'SELECT 1' >/dev/null 2>&1
    fi
}

# If our postmaster still runs although pg_ctl can no longer manage it (say its
# directory was deleted under it), shut it down by pid; only a process whose command
# line names our data directory is touched.
kill_orphan() {
    local pid="${PG_PID:-}" i
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    is_our_postmaster "$pid" || return 0
    log "stopping orphaned postmaster $pid"
    kill -QUIT "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        is_our_postmaster "$pid" || return 0
        sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
}

is_our_postmaster() {
    local cmdline
    cmdline="$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)" || return 1
    [[ "$cmdline" == *" -D $DATA_DIR "* ]]
}

# Only ever delete directories this script created: the name has our prefix, the marker
# file inside holds the directory's own path. Anything else is left alone and said so.
safe_rm_tmp() {
    local dir="$1"
    [[ -n "$dir" ]] || return 0
    [[ -d "$dir" ]] || return 0
    case "$dir" in
        /*/"$TMP_PREFIX"*) ;;
        *) log "not removing unexpected directory '$dir'"; return 0 ;;
    esac
    [[ "$dir" != *..* ]] || { log "not removing suspicious directory '$dir'"; return 0; }
    if [[ ! -f "$dir/$MARKER" ]] || [[ "$(cat "$dir/$MARKER" 2>/dev/null)" != "$dir" ]]; then
        log "not removing '$dir': it has no marker saying this script created it"
        return 0
    fi
    rm -rf -- "$dir"
}

pg_options() { # port
    local durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    [[ "${DURABLE:-}" == 1 ]] && durability=""
    printf '%s' "-p $1 -k $SOCK_DIR -c listen_addresses=127.0.0.1 $durability -c max_connections=200"
}

# Start again the server recorded in the state file (after a crash or a reboot), on its own
# data directory and port. PostgreSQL itself recovers from its WAL and ignores a stale
# postmaster.pid whose process is gone. Nothing is deleted. Returns 1 if it does not come up.
restart_recorded() {
    [[ -n "${BINDIR:-}" && -x "$BINDIR/pg_ctl" ]] || BINDIR="$(find_bindir)" || return 1
    local logfile="$TMP_DIR/server.log" i
    kill_orphan
    for ((i = 0; i < 10; i++)); do
        # Backends of a killed postmaster exit on their own within moments; until they
        # have, the old shared memory is in use and pg_ctl start refuses.
        if as_pg "$BINDIR/pg_ctl" -D "$DATA_DIR" -l "$logfile" -w -t 60 \
                -o "$(pg_options "$PORT")" start >/dev/null 2>&1; then
            PG_PID="$(head -n 1 "$DATA_DIR/postmaster.pid" 2>/dev/null || true)"
            write_state
            return 0
        fi
        sleep 1
    done
    return 1
}

# Serialise start/stop/reset so concurrent callers don't race.
take_lock() {
    mkdir -p "$STATE_DIR"
    exec 9>"$STATE_DIR/lock"
    if command -v flock >/dev/null 2>&1; then
        flock -w 300 9 || die "timed out waiting for $STATE_DIR/lock"
    fi
}

# ---------------------------------------------------------------------------
# Helpers

port_free() {
    python3 - "$1" <<'EOF' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
EOF
}

psql_cmd() {
    as_pg "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U "$DB_USER" "$@"
}

db_exists() {
    [[ "$(psql_cmd -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" == 1 ]]
}

create_db() {
    psql_cmd -d postgres -c "CREATE DATABASE $DB_NAME" >&2
}

# ---------------------------------------------------------------------------
# Commands

cmd_start() {
    take_lock

    if read_state; then
        if state_running; then
            db_exists || create_db
            log "already running on port $PORT (data dir $DATA_DIR)"
            url_for "$PORT"; printf '\n'
            return 0
        fi
        if [[ -d "$DATA_DIR" ]]; then
            log "server recorded in $STATE_FILE is not running (crashed?); restarting it on $DATA_DIR"
            if restart_recorded; then
                db_exists || create_db
                log "restarted on port $PORT (data dir $DATA_DIR, kept)"
                url_for "$PORT"; printf '\n'
                return 0
            fi
            tail -n 20 "$TMP_DIR/server.log" >&2 2>/dev/null || true
            die "could not restart the server on $DATA_DIR; its data is left as it is (look at the log above, or 'scripts/pg.sh stop' to delete it)"
        fi
        log "the data directory recorded in $STATE_FILE ($DATA_DIR) is gone; starting a new server"
        kill_orphan
        rm -f "$STATE_FILE"
    fi

    local base="${VISION_PG_PORT:-$DEFAULT_PORT}"
    if ! [[ "$base" =~ ^[0-9]+$ ]] || ((base < 1 || base > 65535)); then
        die "VISION_PG_PORT must be a port number, got '$base'"
    fi

    ensure_bindir
    ensure_pg_user
    command -v python3 >/dev/null 2>&1 || die "python3 is needed to find a free port"

    TMP_DIR="$(mktemp -d "/tmp/${TMP_PREFIX}XXXXXX")"
    # If anything below fails or we are interrupted, leave nothing behind.
    trap 'start_aborted' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    chmod 700 "$TMP_DIR"
    printf '%s' "$TMP_DIR" >"$TMP_DIR/$MARKER"
    CREATED_BY_SCRIPT=1
    DURABLE="${VISION_PG_DURABLE:-}"
    if is_root; then
        chown postgres:postgres "$TMP_DIR"
    fi
    DATA_DIR="$TMP_DIR/data"
    SOCK_DIR="$TMP_DIR"
    local logfile="$TMP_DIR/server.log"

    log "initdb in $DATA_DIR ($BINDIR)"
    if ! as_pg "$BINDIR/initdb" -D "$DATA_DIR" -A trust -U "$DB_USER" -E UTF8 \
            --locale=C --no-sync >"$TMP_DIR/initdb.log" 2>&1; then
        cat "$TMP_DIR/initdb.log" >&2
        safe_rm_tmp "$TMP_DIR"
        die "initdb failed"
    fi

    # Tests want speed; benchmarks of durable commits want PostgreSQL's own defaults.
    local port started=""
    for ((port = base; port <= base + 50 && port < 65536; port++)); do
        port_free "$port" || continue
        if as_pg "$BINDIR/pg_ctl" -D "$DATA_DIR" -l "$logfile" -w -t 60 \
                -o "$(pg_options "$port")" \
                start >/dev/null 2>&1; then
            started=1
            break
        fi
        # Lost a race for the port? Try the next one; anything else is fatal.
        if grep -qiE 'could not bind|already in use|could not create any TCP/IP sockets' "$logfile" 2>/dev/null; then
            as_pg "$BINDIR/pg_ctl" -D "$DATA_DIR" -m immediate stop >/dev/null 2>&1 || true
            log "port $port is taken; trying the next one"
            : >"$logfile" 2>/dev/null || true
            continue
        fi
        cat "$logfile" >&2 2>/dev/null || true
        as_pg "$BINDIR/pg_ctl" -D "$DATA_DIR" -m immediate stop >/dev/null 2>&1 || true
        safe_rm_tmp "$TMP_DIR"
        die "pg_ctl start failed (see the log above)"
    done
    if [[ -z "$started" ]]; then
        safe_rm_tmp "$TMP_DIR"
        die "no free port in $base..$((base + 50))"
    fi
    PORT="$port"
    PG_PID="$(head -n 1 "$DATA_DIR/postmaster.pid" 2>/dev/null || true)"
    write_state

    if ! create_db; then
        cat "$logfile" >&2 2>/dev/null || true
        cmd_stop_locked
        die "could not create database $DB_NAME"
    fi
    trap - EXIT INT TERM
    log "PostgreSQL $("$BINDIR/pg_ctl" --version | awk '{print $3}') running on 127.0.0.1:$PORT (data dir $DATA_DIR)"
    url_for "$PORT"; printf '\n'
}

start_aborted() {
    local rc=$? my_tmp="${TMP_DIR:-}"
    trap - EXIT INT TERM
    [[ $rc -ne 0 ]] || rc=1
    if [[ -n "$my_tmp" && -d "$my_tmp" ]]; then
        if [[ -f "$my_tmp/data/postmaster.pid" ]]; then
            as_pg "$BINDIR/pg_ctl" -D "$my_tmp/data" -m immediate -t 10 stop >/dev/null 2>&1 || true
        fi
        safe_rm_tmp "$my_tmp"
    fi
    if [[ -f "$STATE_FILE" ]] && grep -qxF "TMP_DIR=$my_tmp" "$STATE_FILE"; then
        rm -f "$STATE_FILE"
    fi
    log "start aborted; cleaned up"
    exit "$rc"
}

cmd_url() {
    if read_state && state_running; then
        url_for "$PORT"; printf '\n'
        return 0
    fi
    log "not running (use: scripts/pg.sh start)"
    return 1
}

cmd_status() {
    if read_state && state_running; then
        log "running on 127.0.0.1:$PORT, data dir $DATA_DIR"
        url_for "$PORT"; printf '\n'
        return 0
    fi
    log "not running"
    return 3
}

cmd_reset() {
    take_lock
    if ! { read_state && state_running; }; then
        die "not running (use: scripts/pg.sh start)"
    fi
    psql_cmd -d postgres -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >&2
    create_db
    log "database $DB_NAME re-created"
    url_for "$PORT"; printf '\n'
}

cmd_stop_locked() {
    if ! read_state; then
        rm -f "$STATE_FILE"
        log "not running (no state file)"
        return 0
    fi
    if [[ -d "$DATA_DIR" ]]; then
        [[ -n "${BINDIR:-}" && -x "$BINDIR/pg_ctl" ]] || BINDIR="$(find_bindir)" || BINDIR=""
        if [[ -n "$BINDIR" ]] && as_pg "$BINDIR/pg_ctl" -D "$DATA_DIR" status >/dev/null 2>&1; then
            as_pg "$BINDIR/pg_ctl" -D "$DATA_DIR" -m fast -w -t 60 stop >/dev/null 2>&1 \
                || as_pg "$BINDIR/pg_ctl" -D "$DATA_DIR" -m immediate -w stop >/dev/null 2>&1 \
                || log "warning: pg_ctl stop failed"
        fi
    fi
    kill_orphan
    if [[ "${CREATED_BY_SCRIPT:-}" == 1 ]]; then
        safe_rm_tmp "$TMP_DIR"
        log "stopped (port $PORT), removed $TMP_DIR"
    else
        log "stopped (port $PORT); $TMP_DIR is not recorded as created by this script: kept"
    fi
    rm -f "$STATE_FILE"
}

cmd_stop() {
    take_lock
    cmd_stop_locked
}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2
}

main() {
    local cmd="${1:-}"
    case "$cmd" in
        start) cmd_start ;;
        stop) cmd_stop ;;
        url) cmd_url ;;
        status) cmd_status ;;
        reset) cmd_reset ;;
        -h|--help|help) usage ;;
        *) usage; exit 2 ;;
    esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    main "$@"
fi
