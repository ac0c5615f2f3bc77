#!/usr/bin/env bash
# Run VISION Ledger locally with demo data.
#
#   scripts/run.sh [extra arguments for `vision-ledger serve --demo`]
#
# Creates .venv (python3 -m venv) if missing, installs the app into it, applies the
# database migrations, prints a one-time sign-in link to the staff console (/console) and
# serves the app with a demo group loaded. The database is
# SQLite under ./instance unless VISION_DATABASE_URL says otherwise.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
PY="$VENV/bin/python"

die() { printf 'run.sh: error: %s\n' "$*" >&2; exit 1; }

venv_ok() { [[ -x "$PY" ]] && "$PY" -m pip --version >/dev/null 2>&1; }

if ! venv_ok; then
    command -v python3 >/dev/null 2>&1 || die "python3 not found"
    echo "==> creating virtualenv in .venv" >&2
    if ! python3 -m venv --clear "$VENV"; then
        # Debian ships venv's pip bootstrap separately (python3-venv).
        if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
            echo "==> installing python3-venv with apt-get" >&2
            DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >&2
            python3 -m venv --clear "$VENV"
        else
            die "python3 -m venv failed; install python3-venv (apt-get install python3-venv)"
        fi
    fi
    venv_ok || die ".venv was created but has no working pip"
fi

echo "==> installing vision-ledger (pip install -e .)" >&2
"$PY" -m pip install -q --disable-pip-version-check -e . || die "pip install failed"

export VIRTUAL_ENV="$VENV"
export PATH="$VENV/bin:$PATH"

echo "==> vision-ledger migrate" >&2
"$VENV/bin/vision-ledger" migrate

# The console's sign-in line: a one-time link for the demo programme's admin, at the address
# `serve` will listen on (its --host/--port, if given).
HOST=127.0.0.1
PORT=8000
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
        --host) HOST="${args[i + 1]:-$HOST}" ;;
        --host=*) HOST="${args[i]#--host=}" ;;
        --port) PORT="${args[i + 1]:-$PORT}" ;;
        --port=*) PORT="${args[i]#--port=}" ;;
    esac
done
[[ "$HOST" == "0.0.0.0" || "$HOST" == "::" ]] && HOST=127.0.0.1
echo "==> vision-ledger console link --demo" >&2
"$VENV/bin/vision-ledger" console link --demo --url "http://$HOST:$PORT"

echo "==> vision-ledger serve --demo $*" >&2
exec "$VENV/bin/vision-ledger" serve --demo "$@"
