"""Audit at programme scale: roll-up, flags, verification and export on PostgreSQL.

One command (PostgreSQL from scripts/pg.sh, a fresh database each run):

    .venv/bin/python benchmarks/audit_bench.py [--groups 100 1000] [--export-entries 1000000]

Two sizes by default (issue 12, target 6), each in a database of its own: 100 and 1,000 groups, so
the roll-up's and the flags' growth with the programme and verification's flat rate show. Builds
a programme of N groups of 20 members, each with a year of weekly meetings (shares and
social fund from every member, loans, repayments, fines: about 2,500 entries a group), bulk-loaded
with COPY with valid hash chains (`ledger.journal.sealed`: each entry's canonical bytes, stored,
and their hash) and stored balances that match the postings.
The load runs with `session_replication_role = replica` (the ledger's triggers are for writes
through the core; the verifier checks what they would have). Then times:

- the programme roll-up (`metrics.programme_measures`), target under 2 s;
- the anomaly flags of every group (`audit.programme_flags`, without verification);
- verification of every chain (`audit.verify_many`), target at least 100,000 entries/s;
- a streamed CSV export of about 1,000,000 entries, in a child process, with its peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from dateutil.relativedelta import relativedelta  # noqa: E402
from sqlalchemy import text  # noqa: E402

from benchmarks import durability  # noqa: E402
from migrations import upgrade  # noqa: E402
from vision_ledger import audit, exports, metrics  # noqa: E402
from vision_ledger.actors import Actor  # noqa: E402
from vision_ledger.db import Database, make_engine  # noqa: E402
from vision_ledger.ledger import CHART  # noqa: E402
from vision_ledger.ledger.journal import sealed  # noqa: E402
from vision_ledger.policy import programme_policy  # noqa: E402

MEMBERS = 20
SHARE_PRICE = 10000
SOCIAL = 2000
PRINCIPAL = 100000
CHARGE = 10000
FINE = 5000


def pg_url() -> str:
    """A durable throwaway PostgreSQL of the benches' own (fsync on; the tests' server has it off)."""
    env = {**os.environ, "VISION_PG_DURABLE": "1",
           "VISION_PG_STATE_DIR": os.environ.get("VISION_PG_STATE_DIR", str(ROOT / ".pgbench"))}
    out = subprocess.run(["bash", str(ROOT / "scripts" / "pg.sh"), "start"], capture_output=True,
                         text=True, check=False, env=env).stdout
    return [line for line in out.splitlines() if line.startswith("postgresql://")][-1]


class Ids:
    def __init__(self) -> None:
        self.n: dict[str, int] = {}

    def next(self, table: str) -> int:
        self.n[table] = self.n.get(table, 0) + 1
        return self.n[table]


def build_group(ids: Ids, programme_id: int, index: int, weeks: int, today: date) -> dict[str, list[tuple]]:
    """Every row of one group, its journal hashed in order and its balances summed."""
    gid = ids.next("groups")
    rows: dict[str, list[tuple]] = {k: [] for k in (
        "groups", "members", "accounts", "cycles", "meetings", "attendance", "loans", "entries", "postings")}
    start = today - timedelta(weeks=weeks)
    members = []
    for i in range(MEMBERS):
        mid = ids.next("members")
        holder = i in (1, 2, 3) or (i == 4 and index % 7)
        role = "treasurer" if i == 0 else "key_holder" if holder else "member"
        members.append(mid)
        rows["members"].append((mid, gid, i + 1, f"Member {i + 1}", f"+2547{gid:04d}{i:04d}",
                                "female" if i % 3 else "male", 1970 + (i * 3 + index) % 40, i % 11 == 5,
                                "en", role, "active", start - timedelta(days=30), None, None, True, 0, None,
                                datetime.now(UTC)))
    accounts: dict[str, list] = {}  # key -> [id, code, type, member, balance, units]
    for code in CHART:
        if code in ("loans_receivable", "member_shares"):
            for mid in members:
                accounts[f"{code}:{mid}"] = [ids.next("accounts"), code, CHART[code], mid, 0, 0]
        else:
            accounts[code] = [ids.next("accounts"), code, CHART[code], None, 0, 0]
    cid = ids.next("cycles")
    rows["cycles"].append((cid, gid, 1, "open", start, start + timedelta(weeks=52), 52, "FREQ=WEEKLY",
                           SHARE_PRICE, SOCIAL, json.dumps({"absent": FINE}), 1000, "flat", 1,
                           json.dumps({}), datetime.now(UTC), None))
    state = SimpleNamespace(seq=0, prev="0" * 64)
    recorded = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=gid)

    def post(kind: str, day: date, lines: list[tuple[str, int, int]], member: int | None = None,
             meeting: int | None = None, loan: int | None = None, details: dict | None = None) -> None:
        state.seq += 1
        eid = ids.next("entries")
        e = SimpleNamespace(
            group_id=gid, seq=state.seq, kind=kind, member_id=member, meeting_id=meeting, cycle_id=cid,
            loan_id=loan, effective_date=day, recorded_at=recorded + timedelta(microseconds=state.seq),
            actor="treasurer:token:1", channel="ussd", idempotency_key=f"bench:{gid}:{state.seq}",
            fingerprint="0" * 64, reverses_id=None, memo=None, details=details or {}, prev_hash=state.prev)
        e.canonical, e.hash = sealed(e, lines)  # type: ignore[arg-type]
        rows["entries"].append((eid, gid, e.seq, kind, member, meeting, cid, loan, day, e.recorded_at,
                                e.actor, e.channel, e.idempotency_key, e.fingerprint, None, None,
                                json.dumps(e.details), e.prev_hash, e.hash, e.canonical))
        for key, amount, units in lines:
            acc = accounts[key]
            acc[4] += amount
            acc[5] += units
            rows["postings"].append((ids.next("postings"), gid, eid, acc[0], amount, units))
        state.prev = e.hash

    open_loans: dict[int, tuple[int, int, date]] = {}  # member -> (loan id, meeting number, issued)
    for week in range(weeks):
        day = start + timedelta(weeks=week)
        meeting = ids.next("meetings")
        absent = members[(week * 7 + index) % MEMBERS] if week % 3 == 0 else None
        if week == 0:
            post("grant", day, [("loan_fund_cash", 500000, 0), ("seed_capital", -500000, 0)],
                 meeting=meeting)
        for mid in members:
            shares = 1 + (mid + week) % 5
            post("share_purchase", day, [("loan_fund_cash", shares * SHARE_PRICE, 0),
                                         (f"member_shares:{mid}", -shares * SHARE_PRICE, shares)],
                 member=mid, meeting=meeting, details={"shares": shares, "share_price": SHARE_PRICE})
            post("social_fund", day, [("social_fund_cash", SOCIAL, 0), ("social_fund", -SOCIAL, 0)],
                 member=mid, meeting=meeting)
        if absent is not None:
            post("fine", day, [("loan_fund_cash", FINE, 0), ("fine_income", -FINE, 0)], member=absent,
                 meeting=meeting, details={"fine": "absent"})
        for mid, (lid, issued_week, _) in list(open_loans.items()):
            if week - issued_week == 4 and lid % 10:
                post("repayment", day, [("loan_fund_cash", PRINCIPAL + CHARGE, 0),
                                        (f"loans_receivable:{mid}", -(PRINCIPAL + CHARGE), 0)],
                     member=mid, meeting=meeting, loan=lid,
                     details={"charge": CHARGE, "principal": PRINCIPAL})
                del open_loans[mid]
        for k in range(3):
            mid = members[(week * 3 + k) % MEMBERS]
            if mid in open_loans or week > weeks - 2:
                continue
            lid = ids.next("loans")
            due = day + relativedelta(months=1)
            post("loan", day, [(f"loans_receivable:{mid}", PRINCIPAL + CHARGE, 0),
                               ("loan_fund_cash", -PRINCIPAL, 0), ("service_charge_income", -CHARGE, 0)],
                 member=mid, meeting=meeting, loan=lid,
                 details={"principal": PRINCIPAL, "charge": CHARGE, "due_on": due.isoformat()})
            open_loans[mid] = (lid, week, day)
            rows["loans"].append(("loan", lid, mid, meeting, day, due))
        present = MEMBERS - (1 if absent else 0)
        rows["meetings"].append((meeting, gid, cid, week + 1, day, "closed", present, MEMBERS, 0, 0,
                                 0, 0, 0, 0, None, "treasurer:token:1", "treasurer:token:1",
                                 datetime.now(UTC), datetime.now(UTC)))
        for mid in members:
            rows["attendance"].append((ids.next("attendance"), gid, meeting, mid, mid != absent))
    loans = []
    for _, lid, mid, meeting, day, due in rows["loans"]:
        active = mid in open_loans and open_loans[mid][0] == lid
        loans.append((lid, gid, cid, mid, meeting, PRINCIPAL, 1000, "flat", 1, day, due, due, CHARGE,
                      0 if active else CHARGE, 0 if active else PRINCIPAL, 0, 0,
                      "active" if active else "repaid", None if active else day + timedelta(weeks=4), None))
    rows["loans"] = loans
    rows["accounts"] = [(a[0], gid, key, a[1], a[2], a[3], a[4], a[5]) for key, a in accounts.items()]
    rows["groups"].append((gid, programme_id, f"Group {gid}", "KE", f"Region {index % 5}", "D", "V", "KES",
                           "Africa/Nairobi", "en", "FREQ=WEEKLY", json.dumps({}), state.seq, state.prev, 0,
                           datetime.now(UTC), "en_KE"))
    return rows


COLUMNS = {
    "groups": "id, programme_id, name, country, region, district, village, currency, timezone, language, "
              "schedule, policy, last_seq, last_hash, lock_version, created_at, locale",
    "members": "id, group_id, number, name, phone, gender, birth_year, disability, language, role, status, "
               "joined_on, left_on, pin_hash, pin_must_change, pin_failures, pin_locked_until, created_at",
    "accounts": "id, group_id, key, code, type, member_id, balance, units",
    "cycles": "id, group_id, number, status, start_date, planned_shareout_date, weeks, schedule, "
              "share_price, social_fund_contribution, fines, service_charge_bp, charge_method, "
              "loan_term_months, policy, opened_at, closed_at",
    "meetings": "id, group_id, cycle_id, number, date, status, present_count, active_count, "
                "opening_loan_fund, opening_social_fund, counted_loan_fund, counted_social_fund, "
                "closing_loan_fund, closing_social_fund, variance_reason, opened_by, closed_by, opened_at, "
                "closed_at",
    "attendance": "id, group_id, meeting_id, member_id, present",
    "loans": "id, group_id, cycle_id, member_id, meeting_id, principal, charge_bp, method, term_months, "
             "issued_on, due_on, next_charge_on, charged, repaid_charge, repaid_principal, written_off, "
             "rollovers, status, closed_on, write_off_reason",
    "entries": "id, group_id, seq, kind, member_id, meeting_id, cycle_id, loan_id, effective_date, "
               "recorded_at, actor, channel, idempotency_key, fingerprint, reverses_id, memo, details, "
               "prev_hash, hash, canonical",
    "postings": "id, group_id, entry_id, account_id, amount, units",
}


def load(url: str, groups: int, weeks: int) -> tuple[int, int]:
    """Build and COPY the programme; returns (programme id, entries)."""
    today = date.today()
    policy = programme_policy("KES", {"loan_min": 65000, "loan_max": 260000}).as_dict()
    ids = Ids()
    entries = 0
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("INSERT INTO programmes (id, name, country, currency, policy, created_at) "
                     "VALUES (1, 'Benchmark programme', 'KE', 'KES', %s, now())", (json.dumps(policy),))
        batch: dict[str, list[tuple]] = {k: [] for k in COLUMNS}
        started = time.perf_counter()
        for i in range(groups):
            for table, rows in build_group(ids, 1, i, weeks, today).items():
                batch[table].extend(rows)
            if len(batch["entries"]) > 200_000 or i == groups - 1:
                entries += len(batch["entries"])
                with conn.cursor() as cur:
                    for table, columns in COLUMNS.items():
                        with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                            for row in batch[table]:
                                copy.write_row(row)
                conn.commit()
                batch = {k: [] for k in COLUMNS}
                rate = entries / (time.perf_counter() - started)
                print(f"  loaded {i + 1} groups, {entries:,} entries ({rate:,.0f} entries/s)", flush=True)
        for table in COLUMNS:
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"(SELECT max(id) FROM {table}))")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    return 1, entries


def timed(label: str, fn, repeat: int = 2):
    best = None
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - t0
        best = elapsed if best is None else min(best, elapsed)
        print(f"  {label}: {elapsed:.2f} s", flush=True)
    return result, best


def export_child(url: str, group_ids: list[int]) -> None:
    """Run in a child process: stream the journal of these groups to /dev/null; print RSS."""
    db = Database(url)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    size = 0
    with db.unit_of_work(write=False) as s, open(os.devnull, "w") as sink:
        for chunk in exports.journal(s, Actor.system(), group_ids=group_ids, fmt="csv"):
            sink.write(chunk)
            size += len(chunk)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": time.perf_counter() - t0, "bytes": size, "rss_before_kb": before,
                      "peak_rss_kb": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, nargs="+", default=[100, 1000],
                        help="programme sizes, each built and timed on its own (default: 100 1000)")
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--export-entries", type=int, default=1_000_000)
    parser.add_argument("--url", help="an existing, loaded database (skips the load)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--export-child", nargs="+", help=argparse.SUPPRESS)
    durability.add_flag(parser)
    args = parser.parse_args()
    if args.export_child:
        export_child(args.export_child[0], [int(x) for x in args.export_child[1:]])
        return

    if args.url:
        durability.require_url(args.url, args.allow_non_durable)
        measure(args.url, args)
        return
    base = pg_url()
    for n_groups in args.groups:
        name = f"audit_bench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(base.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        url = base.rsplit("/", 1)[0] + f"/{name}"
        upgrade(url)
        durability.require_url(url, args.allow_non_durable)
        print(f"loading {n_groups} groups x {MEMBERS} members x {args.weeks} weeks into {name}")
        t0 = time.perf_counter()
        _, entries = load(url, n_groups, args.weeks)
        print(f"  load: {time.perf_counter() - t0:.0f} s for {entries:,} entries")
        measure(url, args)
        if not args.keep:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE "{name}"'))
        admin.dispose()


def measure(url: str, args: argparse.Namespace) -> None:
    """Time the roll-up, the flags, verification and an export of one loaded programme."""
    db = Database(url)
    system = Actor.system("bench")
    with db.unit_of_work(write=False) as s:
        entries = s.scalar(text("SELECT count(*) FROM entries"))
        postings = s.scalar(text("SELECT count(*) FROM postings"))
        ngroups = s.scalar(text("SELECT count(*) FROM groups"))
        print(f"scale: {ngroups} groups, {entries:,} entries, {postings:,} postings")
        pm, rollup = timed("programme roll-up", lambda: metrics.programme_measures(s, system, 1))
        d = pm.measures.as_dict()
        print(f"    members {d['members']}, savings {d['savings']}, PAR30 {d['portfolio_at_risk_30']}, "
              f"repayment {d['repayment_rate']}, attendance {d['attendance_rate']}, "
              f"ROS {d['return_on_savings']}, loans after grants {d['loans_after_grants']}")
        flags, flag_time = timed("flags of every group", lambda: audit.programme_flags(s, system, 1))
        counts: dict[str, int] = {}
        for gf in flags:
            for f in gf.flags:
                counts[f.code] = counts.get(f.code, 0) + 1
        print(f"    flags raised: {counts}")
        workers = os.cpu_count() or 1
        report, verify_time = timed(f"verify every chain ({workers} processes)",
                                    lambda: audit.verify_many(s, system, programme_id=1, workers=workers),
                                    repeat=1)
        print(f"    ok={report.ok} {report.entries_checked:,} entries: "
              f"{report.entries_checked / verify_time:,.0f} entries/s")
        per_group = entries // ngroups
        chosen = list(range(1, min(ngroups, -(-args.export_entries // per_group)) + 1))
    out = subprocess.run([sys.executable, __file__, "--export-child", url, *map(str, chosen)],
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    exported = len(chosen) * per_group
    print(f"  export of ~{exported:,} entries ({len(chosen)} groups, CSV): {result['seconds']:.1f} s, "
          f"{result['bytes'] / 1e6:.0f} MB, peak RSS {result['peak_rss_kb'] / 1024:.0f} MB "
          f"(at start {result['rss_before_kb'] / 1024:.0f} MB)")
    print(json.dumps({"groups": ngroups, "entries": entries, "rollup_s": round(rollup, 3),
                      "flags_s": round(flag_time, 3), "verify_entries_per_s": round(report.entries_checked
                                                                                   / verify_time),
                      "export_entries": exported, "export_s": round(result["seconds"], 1),
                      "export_peak_rss_mb": round(result["peak_rss_kb"] / 1024),
                      "load": round(os.getloadavg()[0], 1)}))
    db.engine.dispose()


if __name__ == "__main__":
    main()
