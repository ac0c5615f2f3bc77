#!/usr/bin/env bash
# The failover drill in one command: a synchronous primary/standby pair on loopback
# (scripts/pg_standby.sh), `vision-ledger serve` pointed at both hosts, writers posting grants,
# the primary killed and the standby promoted. See scripts/failover_drill.py for the checks.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
[[ -x .venv/bin/python ]] || { python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]'; }
exec .venv/bin/python scripts/failover_drill.py "$@"
