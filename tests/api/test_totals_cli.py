"""`vision-ledger totals refresh` folds what is new into the per-period totals, and `verify`
(the command, the nightly run, the auditors' request) names a total that differs from the postings."""

from __future__ import annotations

from sqlalchemy import select, update

from api import cli
from tests.conftest import fresh_database_url
from vision_ledger.db import Database
from vision_ledger.metrics import MemberDayTotal, TotalsMark
from vision_ledger.models import Group, VerificationRun


def _run(url, *argv):
    return cli.main(["--database", url, *argv])


def test_refresh_folds_once_and_verify_names_a_tampered_total(tmp_path_factory, capsys):
    url = fresh_database_url(tmp_path_factory, "totals_cli")
    assert _run(url, "demo") == 0
    capsys.readouterr()
    assert _run(url, "totals", "refresh") == 0
    assert "totals: 1 of 1 groups had something new" in capsys.readouterr().out
    assert _run(url, "totals", "refresh", "--group", "1") == 0
    assert "totals: 0 of 1 groups had something new" in capsys.readouterr().out
    database = Database(url)
    try:
        with database.unit_of_work(write=False) as s:
            group = s.scalars(select(Group)).one()
            assert s.get(TotalsMark, group.id).seq == group.last_seq
        assert _run(url, "verify", "--all") == 0
        assert ": ok (run " in capsys.readouterr().out
        with database.unit_of_work() as s:
            row = s.scalars(select(MemberDayTotal).where(MemberDayTotal.shares != 0)
                            .order_by(MemberDayTotal.day)).first()
            s.execute(update(MemberDayTotal).where(MemberDayTotal.member_id == row.member_id,
                                                   MemberDayTotal.day == row.day)
                      .values(shares=row.shares - 1))
        assert _run(url, "verify", "--programme", "1") == 1
        out = capsys.readouterr().out
        assert "FAILED in 1 group(s)" in out
        assert f"totals_mismatch for member {row.member_id}" in out and "'field': 'shares'" in out
        with database.unit_of_work(write=False) as s:
            kept = s.scalars(select(VerificationRun).order_by(VerificationRun.id.desc())).first()
            assert kept.failed_groups == 1
            assert kept.failures[0]["problem"]["table"] == "member_day_totals"
    finally:
        database.dispose()
