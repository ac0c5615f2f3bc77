#!/usr/bin/env bash
# Lint and run the whole test suite twice: on SQLite, then on PostgreSQL.
#
#   scripts/test.sh                 everything
#   scripts/test.sh -k ledger -x    extra arguments go to pytest (both runs)
#
# Does its own set-up on a fresh machine: creates .venv (python3 -m venv) if missing,
# installs the app with its test extras, starts a throwaway PostgreSQL with
# scripts/pg.sh (stopped again on exit), then runs
#   1. ruff check .
#   2. mypy (the files and strictness [tool.mypy] in pyproject.toml names: the core strict)
#   3. pytest with VISION_TEST_DATABASE_URL unset            (SQLite: every test)
#   4. pytest with VISION_TEST_DATABASE_URL=postgresql://...  (PostgreSQL: -m "not nodb"; the
#      whole suite in two processes: tests/api + tests/console, and the rest)
#   (2, 3 and 4 run side by side; VISION_TEST_SERIAL=1 runs 3 and 4 one after the other)
# Tests marked nodb touch no database (pure parsing, texts, GSM-7, money formatting, the SMS
# gateway against its stand-in): they run in the SQLite pass only, the PostgreSQL pass skips
# them (a `-m` given to this script replaces that filter in the PostgreSQL pass). Tests marked
# slow (servers, kill -9, backups, replicas) run in both passes like any other.
# Every step runs even if an earlier one failed; the exit status is non-zero if any
# failed. "No tests collected" (pytest exit 5) counts as a failure.
#
# To use a PostgreSQL you already have instead of a throwaway one, set
# VISION_TEST_DATABASE_URL=postgresql://... before calling this script.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
PY="$VENV/bin/python"

if [[ -t 1 ]]; then BOLD=$'\033[1m' RESET=$'\033[0m'; else BOLD="" RESET=""; fi
say() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$RESET"; }
banner() {
    local rule="=========================================================================="
    printf '\n%s%s\n  %s\n%s%s\n' "$BOLD" "$rule" "$*" "$rule" "$RESET"
}
die() { printf 'test.sh: error: %s\n' "$*" >&2; exit 1; }

# --------------------------------------------------------------------------- venv

venv_ok() { [[ -x "$PY" ]] && "$PY" -m pip --version >/dev/null 2>&1; }

ensure_venv() {
    venv_ok && return 0
    command -v python3 >/dev/null 2>&1 || die "python3 not found"
    say "creating virtualenv in .venv"
    if ! python3 -m venv --clear "$VENV"; then
        # Debian ships venv's pip bootstrap separately (python3-venv).
        if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
            say "installing python3-venv with apt-get"
            DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >&2
            python3 -m venv --clear "$VENV"
        else
            die "python3 -m venv failed; install python3-venv (apt-get install python3-venv)"
        fi
    fi
    venv_ok || die ".venv was created but has no working pip"
}

# The console's browser tests drive Debian's chromium through chromium-driver; nothing downloads a
# browser at test time. Installed with apt-get when missing (as root), like python3-venv above.
ensure_chromium() {
    command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && return 0
    if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        say "installing chromium and chromium-driver with apt-get (the console's browser tests)"
        if ! { DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 &&
               DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >&2; }; then
            say "apt-get could not install chromium: the browser tests skip (and fail under CI=1)"
        fi
    else
        say "chromium or chromium-driver missing and no apt-get as root: the browser tests skip (fail under CI=1)"
    fi
}

ensure_venv
ensure_chromium
say "installing vision-ledger and test dependencies (pip install -e .[test])"
"$PY" -m pip install -q --disable-pip-version-check -e ".[test]" \
    || die "pip install failed"

# Tests may call the console script or other tools from the venv.
export VIRTUAL_ENV="$VENV"
export PATH="$VENV/bin:$PATH"

# --------------------------------------------------------------------------- results

declare -a SUMMARY=()
FAILED=0
record() { # name status
    if [[ "$2" -eq 0 ]]; then
        SUMMARY+=("ok      $1")
    else
        SUMMARY+=("FAILED  $1 (exit $2)")
        FAILED=1
    fi
}

print_summary() {
    banner "Summary"
    local line
    for line in "${SUMMARY[@]}"; do printf '  %s\n' "$line"; done
}

# Stop at Ctrl-C / TERM instead of going on to the next step; EXIT trap cleans up.
trap 'printf "\ntest.sh: interrupted\n" >&2; exit 130' INT
trap 'exit 143' TERM

# --------------------------------------------------------------------------- ruff

banner "ruff check ."
set +e
"$VENV/bin/ruff" check .
rc=$?
set -e
record "ruff check" "$rc"

# --------------------------------------------------------------------------- mypy

# mypy runs beside the test runs below (it needs no database); its output is printed after them.
MYPY_LOG="$(mktemp)"
( set +e; "$VENV/bin/mypy" >"$MYPY_LOG" 2>&1; echo $? >"$MYPY_LOG.rc" ) &

# --------------------------------------------------------------------------- PostgreSQL

PG_STATE_DIR=""
cleanup_pg() {
    if [[ -n "$PG_STATE_DIR" ]]; then
        VISION_PG_STATE_DIR="$PG_STATE_DIR" bash "$ROOT/scripts/pg.sh" stop || true
        rm -rf -- "$PG_STATE_DIR"
        rmdir "$ROOT/.pgtest" 2>/dev/null || true
        PG_STATE_DIR=""
    fi
}
trap cleanup_pg EXIT

PG_URL=""
case "${VISION_TEST_DATABASE_URL:-}" in
    postgres://* | postgresql://* | postgresql+*://*)
        PG_URL="$VISION_TEST_DATABASE_URL"
        say "using the PostgreSQL given in VISION_TEST_DATABASE_URL"
        ;;
    *)
        say "starting a throwaway PostgreSQL (scripts/pg.sh)"
        # A private state dir per run: parallel runs get independent servers.
        mkdir -p "$ROOT/.pgtest"
        PG_STATE_DIR="$(mktemp -d "$ROOT/.pgtest/run.XXXXXX")"
        if PG_OUT="$(VISION_PG_STATE_DIR="$PG_STATE_DIR" bash "$ROOT/scripts/pg.sh" start)"; then
            PG_URL="$(printf '%s\n' "$PG_OUT" | tail -n 1)"
        fi
        ;;
esac

# --------------------------------------------------------------------------- pytest

LOG_DIR="$(mktemp -d)"
start_pytest() { # label, log file, then env assignments up to "--", then pytest args; runs in background
    local label="$1" log="$2"; shift 2
    local -a envs=()
    while [[ $# -gt 0 && "$1" != "--" ]]; do envs+=("$1"); shift; done
    shift # the "--"
    ( set +e
      env -u VISION_TEST_DATABASE_URL "${envs[@]}" "$PY" -m pytest "$@" >"$log" 2>&1
      echo $? >"$log.rc" ) &
}

finish_pytest() { # label, log file: print the run's output, record its status
    local label="$1" log="$2" rc
    banner "pytest on $label"
    cat "$log"
    rc="$(cat "$log.rc" 2>/dev/null || echo 1)"
    if [[ $rc -eq 5 ]]; then
        printf '\ntest.sh: %s: NO TESTS WERE COLLECTED (pytest exit 5) - treated as a failure\n' \
            "$label" >&2
    fi
    record "pytest on $label" "$rc"
}

# The two runs are independent (different databases, temp dirs, ports), so they run side by side:
# on two cores that halves the wall time. VISION_TEST_SERIAL=1 runs them one after the other.
banner "pytest on SQLite and on PostgreSQL (output follows when each is done)"
start_pytest "SQLite" "$LOG_DIR/sqlite.log" -- "$@"
[[ "${VISION_TEST_SERIAL:-}" == 1 ]] && wait
# The whole suite's PostgreSQL pass runs as two processes (the API and console tests, and the
# rest): its tests wait on the server and on fsync as much as they compute, so two processes
# beside the SQLite one keep both cores busy. With arguments it is one process, as given.
PG_PARTS=()
if [[ -n "$PG_URL" ]]; then
    if [[ $# -eq 0 && "${VISION_TEST_SERIAL:-}" != 1 ]]; then
        start_pytest "PostgreSQL" "$LOG_DIR/pg1.log" "VISION_TEST_DATABASE_URL=$PG_URL" -- \
            -m "not nodb" tests/api tests/console
        start_pytest "PostgreSQL" "$LOG_DIR/pg2.log" "VISION_TEST_DATABASE_URL=$PG_URL" -- \
            -m "not nodb" tests --ignore=tests/api --ignore=tests/console
        PG_PARTS=("pg1:tests/api, tests/console" "pg2:the rest")
    else
        start_pytest "PostgreSQL" "$LOG_DIR/pg.log" "VISION_TEST_DATABASE_URL=$PG_URL" -- -m "not nodb" "$@"
        PG_PARTS=("pg:")
    fi
fi
wait
banner "mypy"
cat "$MYPY_LOG"
record "mypy" "$(cat "$MYPY_LOG.rc" 2>/dev/null || echo 1)"
rm -f -- "$MYPY_LOG" "$MYPY_LOG.rc"
finish_pytest "SQLite (VISION_TEST_DATABASE_URL unset)" "$LOG_DIR/sqlite.log"
if [[ -n "$PG_URL" ]]; then
    for part in "${PG_PARTS[@]}"; do
        what="${part#*:}"
        finish_pytest "PostgreSQL${what:+ ($what)} (VISION_TEST_DATABASE_URL=$PG_URL)" "$LOG_DIR/${part%%:*}.log"
    done
else
    banner "pytest on PostgreSQL"
    printf 'test.sh: could not start PostgreSQL (see scripts/pg.sh output above)\n' >&2
    record "pytest on PostgreSQL (PostgreSQL did not start)" 1
fi
rm -rf -- "$LOG_DIR"

cleanup_pg
print_summary
if [[ $FAILED -ne 0 ]]; then
    printf '\ntest.sh: FAILED\n'
    exit 1
fi
printf '\ntest.sh: all passed\n'
