#!/usr/bin/env bash
# A PostgreSQL primary and a streaming standby on loopback, for the read-replica tests and the
# failover drill. Independent of scripts/pg.sh (the suite's own server).
#
#   scripts/pg_standby.sh start DIR [--sync]
#       DIR must not exist; it is created and holds both data directories, sockets and logs.
#       initdb a primary, pg_basebackup -R a standby from it, start both on free ports of
#       127.0.0.1, create database vision_test, and print two lines on stdout:
#           postgresql://postgres@127.0.0.1:PRIMARY_PORT/vision_test
#           postgresql://postgres@127.0.0.1:STANDBY_PORT/vision_test
#       --sync: synchronous replication (a commit returns once the standby has flushed it), so
#       that no acknowledged write can be lost when the primary dies (the failover drill).
#   scripts/pg_standby.sh stop DIR     stop both servers and delete DIR (only a DIR it made)
#
# Servers run as the `postgres` user when started by root (PostgreSQL refuses root). Durability
# settings are the tests' (fsync off): a killed postmaster loses nothing, a crashed machine might.
set -euo pipefail
PATH="$PATH:/usr/sbin:/sbin"
MARKER=".vision-pg-standby"

die() { printf 'pg_standby.sh: error: %s\n' "$*" >&2; exit 1; }
log() { printf 'pg_standby.sh: %s\n' "$*" >&2; }
as_pg() { if [[ "$(id -u)" -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }

bindir() {
    local d best=""
    # shellcheck disable=SC2012
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
        [[ -x "$d/initdb" && -x "$d/pg_basebackup" ]] && best="$d"
    done
    if [[ -z "$best" ]] && command -v initdb >/dev/null 2>&1; then best="$(dirname "$(readlink -f "$(command -v initdb)")")"; fi
    [[ -n "$best" ]] || die "no PostgreSQL binaries (install postgresql; scripts/pg.sh start does it with apt-get)"
    printf '%s\n' "$best"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start_server() { # data dir, port, log
    as_pg "$BIN/pg_ctl" -D "$1" -l "$3" -w -t 60 \
        -o "-p $2 -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=100" \
        start >/dev/null || { cat "$3" >&2; die "could not start the server in $1"; }
}

cmd_start() {
    DIR="$1"; local sync="${2:-}"
    [[ -e "$DIR" ]] && die "$DIR exists; give a new directory"
    BIN="$(bindir)"
    mkdir -p "$DIR" && chmod 700 "$DIR" && touch "$DIR/$MARKER"
    if [[ "$(id -u)" -eq 0 ]]; then chown -R postgres:postgres "$DIR"; fi
    local p1 p2
    p1="$(free_port)"; p2="$(free_port)"
    while [[ "$p2" == "$p1" ]]; do p2="$(free_port)"; done
    as_pg "$BIN/initdb" -D "$DIR/primary" -A trust -U postgres -E UTF8 --locale=C --no-sync >"$DIR/initdb.log" 2>&1 \
        || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
    {
        echo "wal_level = replica"
        echo "max_wal_senders = 5"
        echo "hot_standby = on"
        echo "wal_keep_size = '256MB'"
    } | as_pg tee -a "$DIR/primary/postgresql.conf" >/dev/null
    start_server "$DIR/primary" "$p1" "$DIR/primary.log"
    as_pg "$BIN/pg_basebackup" -h 127.0.0.1 -p "$p1" -U postgres -D "$DIR/standby" -R -X stream --no-sync \
        -d "host=127.0.0.1 port=$p1 user=postgres application_name=standby1" >/dev/null 2>"$DIR/basebackup.log" \
        || { cat "$DIR/basebackup.log" >&2; die "pg_basebackup failed"; }
    start_server "$DIR/standby" "$p2" "$DIR/standby.log"
    if [[ "$sync" == "--sync" ]]; then
        # Set on the primary only, after the base backup: a promoted standby must not wait for a
        # synchronous standby of its own that does not exist.
        as_pg "$BIN/psql" -X -q -h 127.0.0.1 -p "$p1" -U postgres -d postgres \
            -c "ALTER SYSTEM SET synchronous_standby_names = 'standby1'" -c "SELECT pg_reload_conf()" >/dev/null
    fi
    as_pg "$BIN/psql" -X -q -h 127.0.0.1 -p "$p1" -U postgres -d postgres -c "CREATE DATABASE vision_test" >&2
    printf 'PRIMARY_PORT=%s\nSTANDBY_PORT=%s\nBIN=%s\n' "$p1" "$p2" "$BIN" >"$DIR/state"
    log "primary on 127.0.0.1:$p1, standby on 127.0.0.1:$p2 ($([[ "$sync" == --sync ]] && echo synchronous || echo asynchronous) streaming)"
    printf 'postgresql://postgres@127.0.0.1:%s/vision_test\n' "$p1" "$p2"
}

cmd_stop() {
    DIR="$1"
    [[ -f "$DIR/$MARKER" ]] || die "$DIR was not made by this script; not touching it"
    BIN="$(bindir)"
    local d
    for d in primary standby; do
        if [[ -f "$DIR/$d/postmaster.pid" ]]; then
            as_pg "$BIN/pg_ctl" -D "$DIR/$d" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
        fi
    done
    rm -rf -- "$DIR"
}

case "${1:-}" in
    start) [[ $# -ge 2 ]] || die "usage: $0 start DIR [--sync]"; cmd_start "$2" "${3:-}" ;;
    stop) [[ $# -ge 2 ]] || die "usage: $0 stop DIR"; cmd_stop "$2" ;;
    *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
