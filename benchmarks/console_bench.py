"""The console's programme dashboard at 1,000 groups, on PostgreSQL.

    .venv/bin/python benchmarks/console_bench.py [--groups 1000] [--weeks 52]
        [--pg postgresql://postgres@127.0.0.1:55400/postgres] [--url <a loaded database>]

Loads a programme like `audit_bench.py` does (N groups of 20 members, a year of weekly meetings,
COPY with valid hash chains) into a new database on the given server (default: scripts/pg.sh's),
signs a console session in with an admin token and times, through the app (the Flask test client:
session, scope, queries, template, no network):

- the dashboard by week and by month (the page staff open), target under 2 s;
- its parts, to show where the time goes: the headline roll-up (`metrics.programme_measures` over
  52 weeks), the history (`metrics.series`: the twelve weeks in one pass; the twelve roll-ups it
  replaced are timed beside it), the flags of every group (`audit.programme_flags`), and the rest
  (template and tables), and within each render the time outside `pages.dashboard` (session,
  scope, template): the parts are timed apart, so under load their sum may stray from the page.
The totals are refreshed after the load (`metrics.refresh`, timed), as the service's timer does
every minute: a page reads stored totals and a short tail, never the whole journal. The
programme's currency is recorded as creating a programme records it (the loader writes the
programme's row directly; unrecorded, every amount on the page asked the database for its digits).
- the page's weight with its stylesheets (target under 200 KB).
The new database is dropped afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import uuid
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from api import create_app  # noqa: E402
from api.auth import create_token  # noqa: E402
from api.console import pages  # noqa: E402
from api.console.texts import Words  # noqa: E402
from benchmarks import audit_bench, durability  # noqa: E402
from benchmarks.audit_bench import MEMBERS, load, pg_url  # noqa: E402
from migrations import upgrade  # noqa: E402
from vision_ledger import audit, currencies, metrics  # noqa: E402
from vision_ledger.actors import Actor  # noqa: E402
from vision_ledger.db import Database, make_engine  # noqa: E402


def _with_group_locale() -> None:
    """audit_bench's loader predates groups.locale (NOT NULL since 0006_group_locale): add it."""
    if "locale" in audit_bench.COLUMNS["groups"]:
        return
    build = audit_bench.build_group
    audit_bench.COLUMNS["groups"] += ", locale"

    def build_group(*args, **kwargs):  # type: ignore[no-untyped-def]
        rows = build(*args, **kwargs)
        rows["groups"] = [(*row, "en_KE") for row in rows["groups"]]
        return rows

    audit_bench.build_group = build_group


def best_of(label: str, fn, repeat: int = 2) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    load = os.getloadavg()[0]
    print(f"  {label}: {', '.join(f'{t:.2f}' for t in times)} s (load {load:.1f})", flush=True)
    return min(times)


def sign_in(app, token: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    page = client.get("/console/").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    response = client.post("/console/sign-in", data={"csrf": csrf, "token": token, "language": "en"})
    assert response.status_code == 303, response.status_code
    return client


def record_currencies(url: str) -> None:
    """Record the programmes' currencies as creating a programme does (`currencies.record`).

    audit_bench's loader writes the programme row directly, so its currency was never recorded:
    every amount the page formats then asked the database for its digits (a transaction each,
    0.7 s of the page at 1,000 groups), which a service's programmes never do.
    """
    db = Database(url)
    try:
        with db.unit_of_work() as s:
            for code in s.scalars(text("SELECT DISTINCT currency FROM programmes")):
                currencies.record(s, code, currencies.fix_digits(s, code))
    finally:
        db.dispose()


def measure(url: str, repeat: int) -> None:
    record_currencies(url)
    app = create_app({"VISION_DATABASE_URL": url})
    db = app.config["DATABASE"]
    try:
        with db.unit_of_work() as s:
            ngroups = s.scalar(text("SELECT count(*) FROM groups"))
            entries = s.scalar(text("SELECT count(*) FROM entries"))
            _, secret = create_token(s, role="admin", name="console bench", programme_id=1)
        print(f"scale: {ngroups} groups, {entries:,} entries")
        client = sign_in(app, secret)
        sizes = {}
        inside: list[float] = []  # per render: the time spent in pages.dashboard, the rest is the page's
        build = pages.dashboard

        def timed_build(*args, **kwargs):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            try:
                return build(*args, **kwargs)
            finally:
                inside.append(time.perf_counter() - t0)

        def render(every: str) -> None:
            t0 = time.perf_counter()
            response = client.get(f"/console/programmes/1?every={every}")
            assert response.status_code == 200, response.status_code
            sizes[every] = len(response.data)
            around.append(time.perf_counter() - t0 - inside[-1])

        around: list[float] = []
        pages.dashboard = timed_build  # the view calls pages.dashboard: timed within each render
        try:
            week = best_of("dashboard by week (the whole page)", lambda: render("week"), repeat)
            month = best_of("dashboard by month (the whole page)", lambda: render("month"), repeat)
        finally:
            pages.dashboard = build
        page_own = min(around)
        print(f"  of which outside pages.dashboard (session, scope, template): "
              f"{', '.join(f'{t:.2f}' for t in around)} s", flush=True)
        css = 0
        for sheet in ("/console/static/console.css", "/console/static/print.css"):
            with client.get(sheet) as response:
                css += len(response.data)
        print(f"  page weight: {sizes['week'] / 1024:.0f} KB HTML + {css / 1024:.1f} KB CSS")

        actor, today = Actor(role="admin", programme_id=1, name="bench"), date.today()
        with db.unit_of_work(write=False) as s:
            per_group = []
            headline = best_of("  part: headline roll-up (52 weeks)", lambda: per_group.extend(
                metrics.programme_measures(s, actor, 1, end=today, per_group=True).per_group), repeat=1)
            spans = pages.periods(today, "week")
            history = best_of("  part: the history (metrics.series, 12 weeks in one pass)",
                              lambda: metrics.series(s, actor, 1, spans), repeat=1)
            rollups = best_of("  (before: 12 weekly roll-ups of the history)", lambda: [
                metrics.programme_measures(s, actor, 1, start=a, end=b) for a, b in spans], repeat=1)
            flags = best_of("  part: flags of every group (on the headline's measures, as the page)",
                            lambda: audit.programme_flags(s, actor, 1, end=today, measures=per_group),
                            repeat=1)
            whole = best_of("  part: pages.dashboard (all of the above and the tables)",
                            lambda: pages.dashboard(s, actor, 1, Words("en")), repeat=1)
        print(json.dumps({"groups": ngroups, "entries": entries, "dashboard_week_s": round(week, 2),
                          "dashboard_month_s": round(month, 2), "headline_s": round(headline, 2),
                          "history_series_s": round(history, 2),
                          "history_12_rollups_s": round(rollups, 2), "flags_s": round(flags, 2),
                          "rest_s": round(whole - headline - history - flags, 2),
                          "page_outside_dashboard_s": round(page_own, 2),
                          "html_kb": round(sizes["week"] / 1024), "css_kb": round(css / 1024, 1)}))
    finally:
        db.dispose()

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--pg", help="a PostgreSQL server's URL (default: scripts/pg.sh start)")
    parser.add_argument("--url", help="an existing, loaded database (skips the load)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--repeat", type=int, default=2, help="renders of each page (the best is kept)")
    durability.add_flag(parser)
    args = parser.parse_args()

    name = None
    base = (args.pg or pg_url()).rsplit("/", 1)[0]
    url = args.url
    try:
        if url is None:
            name = f"console_bench_{uuid.uuid4().hex[:8]}"
            admin = make_engine(base + "/postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            url = f"{base}/{name}"
            upgrade(url)
            durability.require_url(url, args.allow_non_durable)
            print(f"loading {args.groups} groups x {MEMBERS} members x {args.weeks} weeks into {name}")
            t0 = time.perf_counter()
            _with_group_locale()
            _, entries = load(url, args.groups, args.weeks)
            print(f"  load: {time.perf_counter() - t0:.0f} s for {entries:,} entries")
            t0 = time.perf_counter()
            totals = Database(url)
            with totals.unit_of_work() as s:
                refreshed = metrics.refresh(s)
            totals.dispose()
            print(f"  totals refresh: {time.perf_counter() - t0:.0f} s for {refreshed} groups")
        else:
            durability.require_url(url, args.allow_non_durable)
        measure(url, args.repeat)
    finally:
        if name is not None and not args.keep:  # dropped also when the load or a render failed
            admin = make_engine(base + "/postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            admin.dispose()

if __name__ == "__main__":
    main()
