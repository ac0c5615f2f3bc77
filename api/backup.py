"""Backups that restore: `vision-ledger backup DEST` and `vision-ledger restore SRC`.

SQLite: the library's online backup API copies one consistent snapshot while the service goes on
writing (WAL: the copy reads a snapshot, writers are not stopped). PostgreSQL: `pg_dump` in its
custom format (one consistent snapshot) and `pg_restore` into an empty database, with the client
programs of the server's own major version.

A restore is not reported as done until every group's books have been recomputed from the
postings (`ledger.verify`: balances, the hash chain, the entries' own rules): a backup that does
not verify is refused loudly, whatever pg_restore said.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import inspect, select, text
from sqlalchemy.engine import make_url

from vision_ledger import ledger
from vision_ledger.db import Database
from vision_ledger.models import Group

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"


class BackupError(Exception):
    """A backup or restore that cannot be done as asked (wrong kind of file, target not empty...)."""


@dataclass
class GroupCheck:
    group_id: int
    name: str
    entries: int
    problem: dict[str, object] | None


@dataclass
class RestoreReport:
    groups: list[GroupCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(g.problem is None for g in self.groups)

    @property
    def entries(self) -> int:
        return sum(g.entries for g in self.groups)


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(parsed.database)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL as pg_dump/pg_restore take it (no driver name), and their environment: a password
    goes in PGPASSWORD, never on a command line that `ps` shows."""
    parsed = make_url(url).set(drivername="postgresql")
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
        parsed = parsed.set(password=None)
    return parsed.render_as_string(hide_password=False), env


def _pg_tool(db: Database, name: str) -> str:
    """pg_dump/pg_restore of the server's major version (Debian keeps one per version)."""
    with db.engine.connect() as conn:
        major = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    candidate = Path(f"/usr/lib/postgresql/{major}/bin/{name}")
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found: install the PostgreSQL {major} client programs")
    return found


def backup(url: str, dest: str | os.PathLike[str]) -> Path:
    """Write a consistent copy of the database at `url` to `dest` (never half a file)."""
    dest = Path(dest)
    if dest.exists():
        raise BackupError(f"{dest} exists; a backup never overwrites a file")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    source = _sqlite_path(url)
    if source is not None:
        if not source.exists():
            raise BackupError(f"no database at {source}")
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # one step: a single read snapshot, writers carry on (WAL)
        finally:
            dst.close()
            src.close()
    else:
        db = Database(url)
        try:
            tool = _pg_tool(db, "pg_dump")
        finally:
            db.engine.dispose()
        dsn, env = _libpq(url)
        _run([tool, "--format=custom", "--no-owner", f"--file={partial}", f"--dbname={dsn}"], env)
    os.replace(partial, dest)
    return dest


def restore(src: str | os.PathLike[str], url: str) -> RestoreReport:
    """Restore the backup `src` into the empty database at `url`, then verify every group.

    Raises BackupError when the file is not a backup of the target's kind or the target is not
    empty. Returns the verification report; the caller must treat `not report.ok` as failure.
    """
    src = Path(src)
    if not src.is_file():
        raise BackupError(f"no backup at {src}")
    with src.open("rb") as f:
        head = f.read(16)
    target = _sqlite_path(url)
    if target is not None:
        if not head.startswith(SQLITE_MAGIC):
            raise BackupError(f"{src} is not a SQLite backup; the target is SQLite")
        if target.exists() and target.stat().st_size > 0:
            raise BackupError(f"{target} exists; restore only into an empty database")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        s, d = sqlite3.connect(f"file:{src}?mode=ro", uri=True), sqlite3.connect(partial)
        try:
            s.backup(d)
        finally:
            d.close()
            s.close()
        os.replace(partial, target)
    else:
        if not head.startswith(PGDUMP_MAGIC):
            raise BackupError(f"{src} is not a pg_dump custom-format backup; the target is PostgreSQL")
        db = Database(url)
        try:
            if inspect(db.engine).get_table_names():
                raise BackupError("the target database has tables; restore only into an empty database")
            tool = _pg_tool(db, "pg_restore")
        finally:
            db.engine.dispose()
        dsn, env = _libpq(url)
        _run([tool, "--no-owner", "--exit-on-error", "--single-transaction", f"--dbname={dsn}",
              str(src)], env)
    return verify_all(url)


def verify_all(url: str) -> RestoreReport:
    """Recompute every group's books from its postings (what `verify --all` does)."""
    report = RestoreReport()
    db = Database(url)
    try:
        with db.unit_of_work(write=False) as s:
            for group in s.scalars(select(Group).order_by(Group.id)):
                checked = ledger.verify(s, group)
                report.groups.append(GroupCheck(group.id, group.name, checked.entries_checked,
                                                None if checked.ok else dict(checked.problem or {})))
    finally:
        db.engine.dispose()
    return report


def _run(argv: list[str], env: dict[str, str]) -> None:
    with tempfile.TemporaryFile() as err:
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=err, env=env, check=False)  # noqa: S603
        if done.returncode != 0:
            err.seek(0)
            message = err.read().decode(errors="replace").strip().splitlines()
            raise BackupError(f"{Path(argv[0]).name} failed: {message[-1] if message else done.returncode}")
