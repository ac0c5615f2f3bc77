"""The `vision-ledger` command: serve, migrate, demo, programme, token, verify, backup, restore, import;
the other doors add their own.

A door adds commands with a module exposing `register(subparsers)`; the list of those modules is
`extra_commands()` below, the one place that knows them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .cli_support import database as _database
from .cli_support import demo_pepper as _demo_pepper
from .cli_support import url as _url

Register = Callable[[Any], None]


def extra_commands() -> list[Register]:
    """Commands of the other doors: ussd-sim (USSD); worker and sms (SMS); console link."""
    from sms.cli import register as sms_register
    from ussd.cli import register as ussd_register

    from .console.cli import register as console_register

    return [ussd_register, sms_register, console_register]


# --- migrate, serve, demo ------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace) -> int:
    from migrations import upgrade

    upgrade(_url(args))
    print("database is at the newest schema (all heads)")
    return 0


def _require_pepper() -> None:
    """Production refuses to start without the PIN pepper. Raises pin.no_pepper,
    pin.pepper_too_short."""
    from vision_ledger import pins

    pins.peppers()


def cmd_demo(args: argparse.Namespace) -> int:
    from . import demo

    _demo_pepper(args)
    with _database(args).unit_of_work() as s:
        loaded = demo.load(s)
    if not loaded.created:
        print(f"The demo programme is already in this database (programme {loaded.programme_id}, "
              f"group {loaded.group_id}); nothing was added. Fresh tokens:")
    else:
        print(f"Demo programme {loaded.programme_id}, group {loaded.group_id} 'Umoja Demo VSLA': "
              "15 members, 5 weekly meetings")
    print("\nTokens (shown once; send as 'Authorization: Bearer <token>'):")
    for role, (token_id, secret) in loaded.tokens.items():
        print(f"  {role:<10} id {token_id:<4} {secret}")
    print(f"\nPhones for the USSD simulator (treasurer PIN {demo.TREASURER_PIN}, members' PIN "
          f"{demo.MEMBER_PIN}; each must change it on first use):")
    for phone, name, role in loaded.phones:
        print(f"  {phone}  {name:<18} {role}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from migrations import upgrade

    from . import server
    from .server import serve

    url = _url(args)
    if args.demo:
        _demo_pepper(args)
    _require_pepper()
    upgrade(url)
    if args.demo:
        cmd_demo(args)
        _demo_doors(args)
    metrics_dir = None
    if args.settings.metrics:
        # gunicorn's workers each count in files of this directory; any worker answers a scrape
        # with the sum. Set before gunicorn forks, so every worker inherits it.
        metrics_dir = server.prepare_multiprocess_dir()
    try:
        serve(replace(args.settings, database_url=url), host=args.host, port=args.port,
              workers=args.workers, threads=args.threads,
              child_exit=server.worker_exited if metrics_dir else None)
    finally:
        if metrics_dir is not None:
            server.remove_multiprocess_dir(metrics_dir)
    return 0


def _demo_doors(args: argparse.Namespace) -> None:
    """With --demo, open the USSD and SMS callbacks with demo secrets (unless the environment sets
    its own) and say how to dial in, so a newcomer can try the menu at once."""
    import shutil
    from dataclasses import replace

    args.settings = replace(args.settings, ussd_secret=args.settings.ussd_secret or "demo-ussd",
                            sms_secret=args.settings.sms_secret or "demo-sms")
    base = f"http://{args.host}:{args.port}"
    command = shutil.which("vision-ledger") or sys.argv[0]
    print(f"\nAPI:  {base}/api (OpenAPI document at {base}/api/openapi.json)")
    print(f"USSD: AT's callback is {base}/ussd/<VISION_USSD_SECRET>. Dial it from another terminal:")
    print(f"  {command} ussd-sim --url {base}/ussd/{args.settings.ussd_secret} "
          "--phone +254711000001")
    print("SMS:  receipts and statements wait in the outbox (`vision-ledger sms status`); "
          "`vision-ledger worker` sends them through AT_* settings.\n", flush=True)


# --- programmes ------------------------------------------------------------------------------------


def cmd_programme_create(args: argparse.Namespace) -> int:
    from vision_ledger.actors import Actor
    from vision_ledger.programmes import create_programme

    languages = [x.strip() for x in args.languages.split(",")] if args.languages else None
    with _database(args).unit_of_work() as s:
        programme = create_programme(
            s, Actor(role="operator", channel="cli", name="cli"), name=args.name,
            country=args.country, currency=args.currency, timezone=args.timezone,
            languages=languages, usd_rate=args.usd_rate, minor_digits=args.minor_digits)
        programme_id = programme.id
    print(programme_id)
    return 0


def cmd_programme_list(args: argparse.Namespace) -> int:
    from vision_ledger import currencies
    from vision_ledger.actors import Actor
    from vision_ledger.programmes import list_programmes

    with _database(args).unit_of_work(write=False) as s:
        rows = list_programmes(s, Actor(role="operator", channel="cli", name="cli"))
        print(f"{'id':>4}  {'country':<7} {'currency':<8} {'digits':>6} {'usd rate':>10}  "
              f"{'timezone':<20} {'languages':<10} name")
        for p in rows:
            digits = currencies.recorded_digits(s, p.currency)
            print(f"{p.id:>4}  {p.country:<7} {p.currency:<8} {digits:>6} {p.usd_rate:>10}  "
                  f"{p.timezone:<20} {','.join(p.languages):<10} {p.name}")
    return 0


def cmd_close(args: argparse.Namespace) -> int:
    """`programme close ID` (as an operator) and `group close ID` (as the system)."""
    from vision_ledger import closure
    from vision_ledger.actors import Actor
    from vision_ledger.groups import get_group
    from vision_ledger.programmes import get_programme

    kind = args.closing
    actor = Actor(role="operator" if kind == "programme" else "system", channel="cli", name="cli")
    with _database(args).unit_of_work() as s:
        if kind == "programme":
            closure.close_programme(s, actor, get_programme(s, actor, args.id))
            after = "its tokens no longer work, its groups take no entries"
        else:
            closure.close_group(s, actor, get_group(s, actor, args.id))
            after = "its tokens no longer work, it takes no meetings or entries"
    print(f"{kind} {args.id} closed: {after}")
    return 0


# --- tokens ----------------------------------------------------------------------------------------


def cmd_token_create(args: argparse.Namespace) -> int:
    from .auth import create_token

    expires = _expiry(args.expires) if args.expires else None
    with _database(args).unit_of_work() as s:
        token, secret = create_token(s, role=args.role, name=args.name, programme_id=args.programme,
                                     group_id=args.group, member_id=args.member, expires_at=expires)
        token_id = token.id
    until = f", expires {expires.isoformat(timespec='seconds')}" if expires else ""
    print(f"token {token_id} ({args.role}, {args.name}{until}); shown once, keep it safe:")
    print(secret)
    return 0


def _expiry(text: str) -> Any:
    """`--expires`: a duration (30d, 12h, 90m) from now, or an ISO date/time (UTC when no zone).
    Raises token.bad_expiry."""
    import re
    from datetime import UTC, datetime, timedelta

    from vision_ledger.db import utcnow
    from vision_ledger.errors import DomainError

    found = re.fullmatch(r"(\d{1,5})([dhm])", text.strip())
    if found:
        unit = {"d": "days", "h": "hours", "m": "minutes"}[found.group(2)]
        return utcnow() + timedelta(**{unit: int(found.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise DomainError("token.bad_expiry", "--expires takes 30d, 12h, 90m or an ISO date/time",
                          given=text) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def cmd_token_list(args: argparse.Namespace) -> int:
    from vision_ledger.db import utcnow

    from .auth import _aware as aware
    from .auth import list_tokens

    def _aware(moment: Any) -> Any:
        return aware(moment, utcnow())

    with _database(args).unit_of_work(write=False) as s:
        rows = list_tokens(s)
        print(f"{'id':>4}  {'role':<9} {'scope':<14} {'last used':<26} {'expires':<26} "
              f"{'status':<8} name")
        for t in rows:
            scope = ("installation" if t.role == "operator"
                     else f"programme {t.programme_id}" if t.role in ("admin", "auditor")
                     else f"group {t.group_id}" if t.role == "treasurer" else f"member {t.member_id}")
            used = t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "never"
            expires = t.expires_at.isoformat(timespec="seconds") if t.expires_at else "never"
            expired = t.expires_at is not None and _aware(t.expires_at) <= utcnow()
            status = "revoked" if t.revoked_at else "expired" if expired else "active"
            print(f"{t.id:>4}  {t.role:<9} {scope:<14} {used:<26} {expires:<26} {status:<8} {t.name}")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from .auth import revoke_token

    with _database(args).unit_of_work() as s:
        revoke_token(s, args.id)
    print(f"token {args.id} revoked")
    return 0


# --- verify ----------------------------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace) -> int:
    """Recompute the books (on the read replica when one is configured) and keep the result of
    each programme's run, which auditors read at GET /api/programmes/{id}/verify. Exit 1 if any
    group failed, 2 if there is nothing to verify."""
    from vision_ledger.audit import describe
    from vision_ledger.verification_runs import run

    kept = run(_database(args), trigger="command", programme_id=args.programme, group_id=args.group)
    if not kept:
        print("no programme to verify", file=sys.stderr)
        return 2
    failed = 0
    for k in kept:
        r = k.report
        state = "ok" if r.ok else f"FAILED in {len(r.failures)} group(s)"
        print(f"programme {k.programme_id}: {r.groups_checked} groups, {r.entries_checked} entries "
              f"checked in {r.seconds:.1f} s: {state} (run {k.run_id} kept)")
        for f in r.failures:
            failed += 1
            print(f"  group {f.group_id}: FAILED after {f.entries_checked} entries; first difference: "
                  f"{describe(f.problem or {})} {f.problem}")
    return 1 if failed else 0


# --- totals ----------------------------------------------------------------------------------------


def cmd_totals_refresh(args: argparse.Namespace) -> int:
    """Fold the journal past each group's mark into its per-period totals (cron, e.g. every
    minute); a group at a time per transaction in batches, so writers wait for no long lock."""
    import time

    from sqlalchemy import select

    from vision_ledger import metrics
    from vision_ledger.models import Group

    db = _database(args)
    started = time.perf_counter()
    with db.unit_of_work(write=False) as s:
        stmt = select(Group.id).order_by(Group.id)
        if args.group is not None:
            stmt = stmt.where(Group.id == args.group)
        elif args.programme is not None:
            stmt = stmt.where(Group.programme_id == args.programme)
        ids = list(s.scalars(stmt))
    refreshed = 0
    for i in range(0, len(ids), args.batch):
        with db.unit_of_work() as s:
            refreshed += metrics.refresh(s, ids[i:i + args.batch])
    print(f"totals: {refreshed} of {len(ids)} groups had something new; "
          f"{time.perf_counter() - started:.1f} s")
    return 0


# --- backup and restore ------------------------------------------------------------------------------


def cmd_backup(args: argparse.Namespace) -> int:
    from .backup import BackupError, backup

    try:
        written = backup(_url(args), args.dest)
    except BackupError as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return 2
    print(f"backup written to {written} ({written.stat().st_size:,} bytes)")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from .backup import BackupError, restore

    try:
        report = restore(args.src, _url(args))
    except BackupError as exc:
        print(f"restore refused: {exc}", file=sys.stderr)
        return 2
    for g in report.groups:
        state = "ok" if g.problem is None else f"FAILED, first difference: {g.problem}"
        print(f"group {g.group_id} ({g.name}): {g.entries} entries, {state}")
    if not report.ok:
        print("restore FAILED: the restored books do not verify; do not serve from this database",
              file=sys.stderr)
        return 1
    print(f"restored and verified: {len(report.groups)} groups, {report.entries} entries")
    return 0
# --- import ----------------------------------------------------------------------------------------


def cmd_import_members(args: argparse.Namespace) -> int:
    """Import a CSV of groups and members: 0 done (or a clean dry run), 1 a dry run found problems,
    2 refused (nothing written)."""
    from vision_ledger import imports, programmes, spreadsheet
    from vision_ledger.actors import Actor

    try:
        with open(args.file, "rb") as handle:
            data = handle.read(spreadsheet.MAX_BYTES + 1)
    except OSError as exc:
        print(f"cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    actor = Actor(role="system", channel="cli", name="cli:import")
    defaults = imports.ImportDefaults(timezone=args.timezone, schedule=args.schedule,
                                      group_language=args.group_language)
    try:
        with _database(args).unit_of_work() as s:
            programme = programmes.get_programme(s, actor, args.programme)
            report = imports.import_members(s, actor, programme, data, dry_run=args.dry_run,
                                            defaults=defaults)
    except imports.ImportRefused as exc:
        _print_import(exc.report)
        return 2
    _print_import(report)
    return 0 if report.ok else 1


def _print_import(report: Any) -> None:
    kind = "dry run" if report.dry_run else "import"
    print(f"{kind}: {report.rows} rows; groups {report.groups_created} new, "
          f"{report.groups_unchanged} unchanged; members {report.members_created} new, "
          f"{report.members_unchanged} unchanged")
    for error in report.errors:
        where = f"row {error.row}" + (f", {error.column}" if error.column else "")
        print(f"  {where}: {error.message} ({error.code})")
    if report.errors:
        print(f"{len(report.errors)} problem(s); nothing was written")
    elif report.written:
        print("written")
    else:
        print("nothing written" + ("" if report.dry_run else ": everything was already there"))


# --- the parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vision-ledger", description="VISION Ledger: the books of VSLAs")
    parser.add_argument("--database", help="database URL (default: VISION_DATABASE_URL or ./instance SQLite)")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="bring the database to the newest schema").set_defaults(func=cmd_migrate)
    sub.add_parser("demo", help="load demo data and print tokens and phones").set_defaults(func=cmd_demo)

    serve = sub.add_parser("serve", help="migrate, then run the web service under gunicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=2)
    serve.add_argument("--threads", type=int, default=4)
    serve.add_argument("--demo", action="store_true", help="load the demo data first")
    serve.set_defaults(func=cmd_serve)

    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="token_command", required=True)
    create = token.add_parser("create", help="create a token (shown once)")
    create.add_argument("--role", required=True,
                        choices=["operator", "admin", "auditor", "treasurer", "member"])
    create.add_argument("--name", required=True, help="whose token it is")
    scope = create.add_mutually_exclusive_group()  # none for an operator
    scope.add_argument("--programme", type=int)
    scope.add_argument("--group", type=int)
    scope.add_argument("--member", type=int)
    create.add_argument("--expires", help="30d, 12h, 90m from now, or an ISO date/time (default: never)")
    create.set_defaults(func=cmd_token_create)
    token.add_parser("list", help="list tokens").set_defaults(func=cmd_token_list)
    revoke = token.add_parser("revoke", help="revoke a token")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(func=cmd_token_revoke)

    programme = sub.add_parser("programme", help="programmes of the installation").add_subparsers(
        dest="programme_command", required=True)
    pcreate = programme.add_parser("create", help="create a programme; prints its id")
    pcreate.add_argument("--name", required=True)
    pcreate.add_argument("--country", required=True, help="ISO 3166 code: KE, YE, XK...")
    pcreate.add_argument("--currency", required=True, help="ISO 4217 code: KES, YER, EUR...")
    pcreate.add_argument("--timezone", required=True, help="its groups' default: Africa/Nairobi...")
    pcreate.add_argument("--languages", help="comma-separated, of en,sw,ar (default: all)")
    pcreate.add_argument("--usd-rate", help="units of the currency per US dollar, e.g. 130")
    pcreate.add_argument("--minor-digits", type=int,
                         help="digits after the decimal mark, if not Babel's (YER: 0)")
    pcreate.set_defaults(func=cmd_programme_create)
    programme.add_parser("list", help="list programmes").set_defaults(func=cmd_programme_list)
    pclose = programme.add_parser("close", help="close a programme for good (its tokens stop at once)")
    pclose.add_argument("id", type=int)
    pclose.set_defaults(func=cmd_close, closing="programme")

    group = sub.add_parser("group", help="groups").add_subparsers(dest="group_command", required=True)
    gclose = group.add_parser("close", help="close a group for good (its tokens stop at once)")
    gclose.add_argument("id", type=int)
    gclose.set_defaults(func=cmd_close, closing="group")

    verify = sub.add_parser("verify", help="recompute the books from the postings")
    which = verify.add_mutually_exclusive_group()
    which.add_argument("--group", type=int)
    which.add_argument("--programme", type=int)
    which.add_argument("--all", action="store_true", help="every group (the default)")
    verify.set_defaults(func=cmd_verify)

    totals = sub.add_parser("totals", help="per-period totals the measures read").add_subparsers(
        dest="totals_command", required=True)
    trefresh = totals.add_parser("refresh", help="fold new entries and meetings into the totals")
    twhich = trefresh.add_mutually_exclusive_group()
    twhich.add_argument("--group", type=int)
    twhich.add_argument("--programme", type=int)
    trefresh.add_argument("--batch", type=int, default=100, help="groups per transaction")
    trefresh.set_defaults(func=cmd_totals_refresh)

    back = sub.add_parser("backup", help="write a consistent backup of the database to a new file")
    back.add_argument("dest", help="file to write (never overwritten)")
    back.set_defaults(func=cmd_backup)
    rest = sub.add_parser("restore", help="restore a backup into an empty database, then verify every group")
    rest.add_argument("src", help="a file written by `backup`")
    rest.set_defaults(func=cmd_restore)
    imports = sub.add_parser("import", help="bulk onboarding from a CSV file").add_subparsers(
        dest="import_command", required=True)
    members = imports.add_parser("members", help="groups and members from a programme officer's CSV "
                                 "(README: Importing groups and members)")
    members.add_argument("file", help="the CSV file (UTF-8; comma, semicolon or tab delimited)")
    members.add_argument("--programme", type=int, required=True, help="the programme's id")
    members.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
    members.add_argument("--timezone", help="time zone of new groups whose rows leave it empty")
    members.add_argument("--schedule", help="meeting schedule of new groups: a weekday or an RRULE")
    members.add_argument("--group-language", help="language of new groups (default: the first member's)")
    members.set_defaults(func=cmd_import_members)

    for register in extra_commands():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command with the environment's settings, read here once (`args.settings`)."""
    from vision_ledger import pins
    from vision_ledger.errors import DomainError
    from vision_ledger.obs.logs import install, remember_secret
    from vision_ledger.settings import Settings, SettingsError

    install()
    args = build_parser().parse_args(argv)
    try:
        args.settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    remember_secret(*args.settings.secrets())
    try:
        if args.settings.pin_pepper:
            pins.configure(args.settings.pin_pepper, args.settings.pin_pepper_previous)
        return int(args.func(args) or 0)
    except DomainError as exc:
        print(f"refused: {exc.message} ({exc.code})", file=sys.stderr)
        return 2
    finally:
        if getattr(args, "_db", None) is not None:
            args._db.dispose()


if __name__ == "__main__":
    sys.exit(main())
