"""Bulk onboarding: 100 groups of 20 members from one CSV, on SQLite (target: under 30 s), and
1,000 groups beside it (issue 12, target 6: the rate per row should stay flat as files grow).

    python -m benchmarks.import_bench                   # 100 and 1,000 groups x 20 members, temp SQLite files
    python -m benchmarks.import_bench --groups 50 --members 15 --database URL

Generates the file a programme officer would upload (the columns of docs/samples/members.csv),
then times, each in its own transaction as the API and the command line run it: a dry run, the
real import (committed, SQLite WAL with synchronous=FULL as the service runs it), and a re-run
of the same file (which finds everything and writes nothing). Prints the figures and the
machine's load average, which on a shared machine moves them.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from benchmarks import durability
from migrations import upgrade
from vision_ledger import groups, imports
from vision_ledger.actors import Actor
from vision_ledger.db import Database

ROLES = ["chair", "treasurer", "secretary", "money_counter", "money_counter", "key_holder",
         "key_holder", "key_holder", "box_keeper"]


def make_csv(n_groups: int, n_members: int) -> bytes:
    lines = ["Group name,Village,District,Member name,Phone,Gender,Year of birth,Disability,Role,Language"]
    for g in range(n_groups):
        for m in range(n_members):
            role = ROLES[m] if m < len(ROLES) else "member"
            lines.append(f"Group {g:03d},Village {g % 17},Kilifi,Member {g}-{m},07{g:04d}{m:04d},"
                         f"{'F' if m % 3 else 'M'},{1960 + m},{'yes' if m % 9 == 0 else 'no'},{role},sw")
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, nargs="+", default=[100, 1000],
                        help="sizes of the file in groups, each timed on its own (default: 100 1000)")
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--database", help="a database URL (default: a new SQLite file per size; in a "
                                           "given database each size imports into a programme of its own)")
    durability.add_flag(parser)
    args = parser.parse_args()
    for n_groups in args.groups:
        with tempfile.TemporaryDirectory() as tmp:
            run(args.database or f"sqlite:///{tmp}/bench.sqlite3", n_groups, args.members,
                args.allow_non_durable)


def run(url: str, n_groups: int, n_members: int, allow_non_durable: bool = False) -> None:
    """Dry run, import and re-run of one file of `n_groups` x `n_members` rows."""
    upgrade(url)
    db = Database(url)
    durability.require(db, allow_non_durable)
    system = Actor.system("bench")
    with db.unit_of_work() as s:
        programme_id = groups.create_programme(s, system, name=f"Bench {n_groups}", country="KE",
                                               currency="USD").id
    data = make_csv(n_groups, n_members)
    actor = Actor(role="admin", programme_id=programme_id, channel="cli", name="bench")
    defaults = imports.ImportDefaults(timezone="Africa/Nairobi", schedule="Thursday")
    rows = n_groups * n_members
    print(f"{n_groups} groups x {n_members} members = {rows} rows, {len(data):,} bytes, {db.dialect}")
    load_before = os.getloadavg()
    for label, dry_run in (("dry run", True), ("import", False), ("re-run", False)):
        started = time.perf_counter()
        with db.unit_of_work() as s:
            programme = groups.get_programme(s, actor, programme_id)
            report = imports.import_members(s, actor, programme, data, dry_run=dry_run, defaults=defaults)
        seconds = time.perf_counter() - started
        assert report.ok, report.errors[:5]
        print(f"{label:<8} {seconds:6.2f} s  ({rows / seconds:,.0f} rows/s)  groups "
              f"{report.groups_created} new / {report.groups_unchanged} unchanged, members "
              f"{report.members_created} new / {report.members_unchanged} unchanged")
    load = os.getloadavg()
    print(f"load average (1, 5, 15 min): before {load_before[0]:.2f} {load_before[1]:.2f} "
          f"{load_before[2]:.2f}, after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"{os.cpu_count()} CPUs", flush=True)
    db.engine.dispose()


if __name__ == "__main__":
    main()
