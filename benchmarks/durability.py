"""Whether a benchmark's database keeps what it commits, and the refusal when it does not.

A figure taken on a database that does not sync its commits (PostgreSQL with fsync or
synchronous_commit off, SQLite without WAL and synchronous=FULL) is not the service's figure, so
every bench refuses such a database unless told with --allow-non-durable, and prints what it
measured on.
"""

from __future__ import annotations

import argparse

from sqlalchemy import text

from vision_ledger.db import Database


def settings(db: Database) -> dict[str, str]:
    """The settings that decide whether a commit is durable."""
    with db.engine.connect() as c:
        if db.dialect == "postgresql":
            return {k: c.execute(text(f"SHOW {k}")).scalar_one()
                    for k in ("fsync", "synchronous_commit", "full_page_writes")}
        return {"synchronous": str(c.execute(text("PRAGMA synchronous")).scalar_one()),
                "journal_mode": c.execute(text("PRAGMA journal_mode")).scalar_one()}


def is_durable(found: dict[str, str]) -> bool:
    if "fsync" in found:
        return all(v == "on" for v in found.values())
    return found["synchronous"] in ("2", "3") and found["journal_mode"] == "wal"


def add_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-non-durable", action="store_true",
                        help="measure a database whose commits are not durable (say so beside the figures)")


def require(db: Database, allowed: bool) -> dict[str, str]:
    """The database's settings, printed; exits when they are not durable and that was not allowed."""
    found = settings(db)
    if is_durable(found):
        print(f"  database: {db.dialect} {found} (durable)")
    elif allowed:
        print(f"  NOT DURABLE: {db.dialect} {found} (--allow-non-durable)")
    else:
        raise SystemExit(f"refusing to measure a non-durable {db.dialect} database {found}: "
                         "its figures are not the service's (--allow-non-durable to measure anyway)")
    return found


def require_url(url: str, allowed: bool) -> dict[str, str]:
    """`require` on the database at url (opened and closed here)."""
    db = Database(url)
    try:
        return require(db, allowed)
    finally:
        db.dispose()
