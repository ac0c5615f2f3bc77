"""Command line of the SMS door: `vision-ledger worker` and `vision-ledger sms ...`.

`register(subparsers)` adds the commands to the host CLI; each sets `func(args) -> int` (the
exit status) with `set_defaults`. `python -m sms.cli ...` runs them on their own.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from typing import Any

from sms import heartbeat, outbox, schedule, worker
from vision_ledger import currencies
from vision_ledger.db import Database
from vision_ledger.errors import DomainError
from vision_ledger.settings import Settings as InstallationSettings
from vision_ledger.settings import SettingsError


def register(subparsers: Any) -> None:
    """Add `worker` and `sms {send-pending,status,retry,jobs}` to an argparse subparsers object."""
    run = subparsers.add_parser("worker", help="send the SMS outbox continuously (until SIGTERM)")
    run.set_defaults(func=lambda args: worker.run(args.settings, once=False, url=_url(args)))

    sms = subparsers.add_parser("sms", help="the SMS outbox")
    commands = sms.add_subparsers(dest="sms_command", required=True)
    once = commands.add_parser("send-pending", help="one pass: send every message due now")
    once.set_defaults(func=lambda args: worker.run(args.settings, once=True, url=_url(args)))
    status = commands.add_parser("status", help="counts by status; failed, held and uncertain messages")
    status.add_argument("--group", type=int, default=None, help="only this group's messages")
    status.add_argument("--limit", type=int, default=50)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--month", default=None,
                        help="YYYY-MM: SMS parts sent that month per kind and language (default: this month)")
    status.set_defaults(func=_status)
    retry = commands.add_parser("retry", help="send a failed, held or uncertain message again")
    retry.add_argument("id", type=int)
    retry.set_defaults(func=_retry)
    jobs = commands.add_parser("jobs", help="queue due loan reminders and monthly statements now")
    jobs.set_defaults(func=_jobs)


def _url(args: argparse.Namespace) -> str | None:
    """The host CLI's --database, else VISION_DATABASE_URL, else None (the embedded default)."""
    return getattr(args, "database", None) or args.settings.database_url


def _database(args: argparse.Namespace) -> Database:
    """The command's one Database, kept on `args` so that the host CLI's main disposes of it."""
    if getattr(args, "_db", None) is None:
        args._db = Database(_url(args))
        currencies.install(args._db)  # amounts read and written with the installation's digits
    return args._db


def _status(args: argparse.Namespace, db: Database | None = None) -> int:
    db = db or _database(args)
    scope = [args.group] if args.group else None
    every = args.settings.sms_heartbeat
    try:
        outbox.month_bounds(getattr(args, "month", None))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with db.unit_of_work(write=False) as session:
        report = outbox.summary(session, scope, args.limit)
        report["parts"] = outbox.parts_report(session, getattr(args, "month", None), scope)
        report["workers"] = [asdict(w) for w in heartbeat.workers(session, every)]
    if args.json:
        print(json.dumps(report, default=str, indent=2))
        return 0
    print("  ".join(f"{status} {count}" for status, count in report["counts"].items()))
    parts = report["parts"]
    print(f"SMS parts in {parts['month']}: {parts['total']['parts']} in {parts['total']['sends']} "
          f"sends ({parts['total']['parts_uncertain']} more in uncertain sends)")
    for line in parts["lines"]:
        print(f"  {line['kind']:<10} {line['language']:<3} {line['messages']:>6} messages "
              f"{line['sends']:>6} sends {line['parts']:>7} parts")
    if not report["workers"]:
        print("workers: none has ever run on this database")
    for w in report["workers"]:
        state = ("stopped " + w["stopped_at"].isoformat(timespec="seconds") if w["stopped_at"]
                 else "alive" if w["alive"] else "NOT ALIVE (no heartbeat)")
        print(f"worker {w['worker']}: {state}; last heartbeat {w['seconds_since_beat']:.0f} s ago")
    for p in report["problems"]:
        code = f" [{p['status_code']}]" if p["status_code"] else ""
        print(f"#{p['id']} {p['status']} {p['kind']} to {p['phone']} (group {p['group_id']}, "
              f"{p['attempts']} attempts){code}: {p['reason']}")
    return 0


def _retry(args: argparse.Namespace, db: Database | None = None) -> int:
    db = db or _database(args)
    try:
        with db.unit_of_work() as session:
            row = outbox.retry(session, outbox.get_message(session, args.id))
            print(f"#{row.id} will be sent again by the worker")
    except DomainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _jobs(args: argparse.Namespace, db: Database | None = None) -> int:
    print(f"{schedule.run_jobs(db or _database(args))} message(s) queued")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m sms.cli ...`: the commands with the environment's settings, read here once."""
    parser = argparse.ArgumentParser(prog="vision-ledger")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        args.settings = InstallationSettings.from_env(os.environ)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args))
    finally:
        if getattr(args, "_db", None) is not None:
            args._db.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
