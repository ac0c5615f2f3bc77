"""The console's pages: scope exactly as the API's, CSRF on every form, what each page shows,
CSV downloads guarded against formulas, Arabic right to left, the page weight."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from vision_ledger import groups
from vision_ledger.models import Group, OutboxMessage

from .conftest import Console

SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "samples" / "members.csv"


def _rows(response: Any) -> list[list[str]]:
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


# --- scope -----------------------------------------------------------------------------------------


def test_another_programmes_pages_and_files_are_not_found(signed: Console, world: Any) -> None:
    other = world.other
    p, g, m = other.programme.id, other.group.id, other.members[1].id
    for path in (f"/console/programmes/{p}", f"/console/programmes/{p}/groups.csv",
                 f"/console/groups/{g}", f"/console/groups/{g}/members.csv",
                 f"/console/groups/{g}/journal.csv", f"/console/groups/{g}/members/{m}",
                 f"/console/groups/{g}/members/{m}/statement.csv"):
        response = signed.get(path)
        assert response.status_code == 404, path
        assert other.group.name not in response.get_data(as_text=True)


def test_a_treasurer_sees_the_own_group_only(console: Console, world: Any) -> None:
    console.sign_in(world.own.tokens["treasurer"])
    assert console.get("/console/home").headers["Location"] == f"/console/groups/{world.own.group.id}"
    assert console.get(f"/console/groups/{world.own.group.id}").status_code == 200
    assert console.get(f"/console/groups/{world.other.group.id}").status_code == 404
    assert console.get(f"/console/programmes/{world.own.programme.id}").status_code == 404  # staff only
    assert console.get("/console/outbox").status_code == 403


def test_a_member_sees_the_own_statement_only(console: Console, world: Any) -> None:
    own = world.own
    console.sign_in(own.tokens["member"])
    mine = f"/console/groups/{own.group.id}/members/{own.members[1].id}"
    assert console.get("/console/home").headers["Location"] == mine
    assert console.get(mine).status_code == 200
    assert console.get(f"/console/groups/{own.group.id}/members/{own.members[2].id}").status_code == 404


def test_an_operator_is_told_to_use_a_staff_token(console: Console, world: Any, session: Any) -> None:
    from api.auth import create_token

    _, secret = create_token(session, role="operator", name="ops")
    session.commit()
    console.sign_in(secret)
    assert console.get("/console/home").status_code == 403
    # as through the API: an operator sees a programme's record, never its books
    assert console.get(f"/console/programmes/{world.own.programme.id}").status_code == 403


# --- the outbox and CSRF ---------------------------------------------------------------------------


def _status(session: Any, message: OutboxMessage) -> str:
    session.expire_all()
    return session.get(OutboxMessage, message.id).status


def test_an_admin_retries_a_failed_message(signed: Console, world: Any, session: Any) -> None:
    page = signed.get("/console/outbox").get_data(as_text=True)
    assert "InvalidPhoneNumber" in page and f'id="retry-{world.own.failed.id}"' in page
    response = signed.post(f"/console/outbox/{world.own.failed.id}/retry")
    assert response.status_code == 303
    assert _status(session, world.own.failed) == "pending"
    assert "InvalidPhoneNumber" not in signed.get("/console/outbox").get_data(as_text=True)


def test_a_retry_without_csrf_is_refused_and_changes_nothing(signed: Console, world: Any,
                                                             session: Any) -> None:
    signed.get("/console/outbox")
    for form in ({"csrf": "forged"}, {"csrf": ""}):
        assert signed.post(f"/console/outbox/{world.own.failed.id}/retry", form).status_code == 403
    assert signed.post(f"/console/outbox/{world.own.failed.id}/retry", csrf=False).status_code == 403
    assert _status(session, world.own.failed) == "failed"


def test_another_programmes_message_is_not_found_for_retry(signed: Console, world: Any, session: Any) -> None:
    signed.get("/console/outbox")
    assert signed.post(f"/console/outbox/{world.other.failed.id}/retry").status_code == 404
    assert _status(session, world.other.failed) == "failed"


def test_an_auditor_sees_the_outbox_but_may_not_retry(console: Console, world: Any, session: Any) -> None:
    console.sign_in(world.own.tokens["auditor"])
    page = console.get("/console/outbox").get_data(as_text=True)
    assert "InvalidPhoneNumber" in page and "retry-" not in page
    assert console.post(f"/console/outbox/{world.own.failed.id}/retry").status_code == 403
    assert _status(session, world.own.failed) == "failed"


# --- what the pages show ---------------------------------------------------------------------------


def test_the_dashboard_draws_charts_and_lists_their_figures(signed: Console, world: Any) -> None:
    response = signed.get(f"/console/programmes/{world.own.programme.id}")
    page = response.get_data(as_text=True)
    assert page.count("<svg") == 5 and page.count("<polyline") >= 3
    history = _rows(signed.get(f"/console/programmes/{world.own.programme.id}/history.csv"))
    assert history[0][:3] == ["period_start", "period_end", "savings"]
    assert len(history) == 13
    savings = [row[2] for row in history[1:]]
    assert savings[-3:] == ["7000.00", "14500.00", "14500.00"]  # 14 then 15 members bought 5 shares
    weekly = signed.get(f"/console/programmes/{world.own.programme.id}?every=month")
    assert weekly.status_code == 200 and "<svg" in weekly.get_data(as_text=True)
    assert signed.get(f"/console/programmes/{world.own.programme.id}?every=year").status_code == 400


def test_the_dashboard_measures_match_the_api(signed: Console, world: Any, app: Any) -> None:
    api = app.test_client().get(f"/api/programmes/{world.own.programme.id}/measures",
                                headers={"Authorization": f"Bearer {world.own.tokens['admin']}"}).get_json()
    page = signed.get(f"/console/programmes/{world.own.programme.id}").get_data(as_text=True)
    savings = api["measures"]["savings"]["amount"]
    assert f"KES {float(savings):,.2f}" in page
    assert re.search(r"<dt>Members</dt><dd>15</dd>", page)


def test_groups_are_ranked_by_their_flags(signed: Console, world: Any) -> None:
    rows = _rows(signed.get(f"/console/programmes/{world.own.programme.id}/groups.csv"))
    assert rows[0] == ["group_id", "group", "critical", "warnings", "flags"]
    assert [r[0] for r in rows[1:]] == [str(world.own.group.id)]


def test_the_group_page_shows_members_meetings_loans_journal_and_verification(signed: Console,
                                                                              world: Any) -> None:
    page = signed.get(f"/console/groups/{world.own.group.id}").get_data(as_text=True)
    assert "The books verify" in page and "were never verified" in page
    assert "KES 1,100.00" in page  # members[2]'s loan owed: 1,000 and the 10% charge
    assert "14/15" in page and "15/15" in page  # attendance of the two meetings
    members = _rows(signed.get(f"/console/groups/{world.own.group.id}/members.csv"))
    assert members[0] == ["number", "name", "gender", "role", "status", "shares", "savings", "loan_owed"]
    assert {r[7] for r in members[1:]} == {"0.00", "1100.00"}
    loans = _rows(signed.get(f"/console/groups/{world.own.group.id}/loans.csv"))
    assert [r[3] for r in loans[1:]] == ["1000.00"] and loans[1][7] == "active"
    journal = _rows(signed.get(f"/console/groups/{world.own.group.id}/journal.csv"))
    assert [int(r[0]) for r in journal[1:]] == list(range(1, len(journal)))  # every entry, in order
    assert len(journal) - 1 > 50 and 'href="/console/groups/' in page and "Next page" in page
    nxt = re.search(r'href="(/console/groups/\d+\?after=50#journal)"', page).group(1)
    assert signed.get(nxt.split("#")[0]).status_code == 200
    assert signed.get(f"/console/groups/{world.own.group.id}?after=x").status_code == 400


def test_the_member_page_shows_the_statement_with_running_totals(signed: Console, world: Any) -> None:
    own = world.own
    base = f"/console/groups/{own.group.id}/members/{own.members[2].id}"
    assert signed.get(base).status_code == 200
    rows = _rows(signed.get(f"{base}/statement.csv"))
    assert rows[0] == ["seq", "date", "kind", "amount", "shares", "savings", "loan_owed", "social_fund"]
    assert [r[5] for r in rows[1:] if r[2] == "share_purchase"] == ["500.00", "1000.00"]
    assert rows[-1][6] == "1100.00"
    assert _rows(signed.get(f"{base}/loans.csv"))[1][3] == "1000.00"
    assert _rows(signed.get(f"{base}/payouts.csv")) == [["date", "kind", "amount"]]


def test_csv_cells_cannot_run_as_formulas(signed: Console, world: Any, session: Any) -> None:
    group = session.get(Group, world.own.group.id)
    member = world.own.members[3]
    groups.update_member(session, _system(), group, member, name="=HYPERLINK(\"http://x\")")
    session.commit()
    rows = _rows(signed.get(f"/console/groups/{group.id}/members.csv"))
    assert "'=HYPERLINK(\"http://x\")" in [r[1] for r in rows]


def _system() -> Any:
    from vision_ledger.actors import Actor

    return Actor.system("tests")


def test_arabic_pages_read_right_to_left_in_arabic_digits(console: Console, world: Any) -> None:
    console.sign_in(world.own.tokens["admin"], language="ar")
    page = console.get(f"/console/programmes/{world.own.programme.id}").get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in page
    assert "لوحة المتابعة" in page and "١٥" in page and "KES ١٤٬٥٠٠٫٠٠" in page
    dashboard = f"/console/programmes/{world.own.programme.id}"
    assert console.post("/console/language", {"language": "en", "back": dashboard}).status_code == 303
    page = console.get(dashboard).get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in page and "KES 14,500.00" in page


def test_a_page_with_its_assets_is_light_and_asks_no_other_host(signed: Console, world: Any) -> None:
    response = signed.get(f"/console/programmes/{world.own.programme.id}")
    page = response.get_data(as_text=True)
    assets = re.findall(r'(?:href|src)="([^"]+)"', page)
    assert all(a.startswith(("/", "#")) for a in assets), assets
    weight = len(response.data)
    sheets = [a for a in assets if a.endswith(".css")]
    assert len(sheets) == 2
    for sheet in sheets:
        with signed.client.get(sheet) as css:
            assert css.status_code == 200
            weight += len(css.data)
    assert weight < 200 * 1024
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert 'media="print"' in page


# --- the import ------------------------------------------------------------------------------------


def _groups(session: Any) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Group))


def test_the_import_checks_first_and_writes_on_confirmation(signed: Console, session: Any) -> None:
    before = _groups(session)
    signed.get("/console/import")
    dry = signed.post("/console/import", {"file": (io.BytesIO(SAMPLE.read_bytes()), "members.csv")},
                      content_type="multipart/form-data")
    page = dry.get_data(as_text=True)
    assert dry.status_code == 200 and "nothing was written yet" in page
    assert _groups(session) == before
    payload = re.search(r'name="payload" value="([^"]+)"', page).group(1)
    done = signed.post("/console/import/confirm", {"payload": payload})
    assert done.status_code == 200 and "Imported" in done.get_data(as_text=True)
    assert _groups(session) > before


def test_an_import_with_bad_rows_reports_them_and_writes_nothing(signed: Console, session: Any) -> None:
    before = _groups(session)
    signed.get("/console/import")
    bad = b"Group name,Member name,Phone\nUmoja,Asha,not-a-phone\n"
    response = signed.post("/console/import", {"file": (io.BytesIO(bad), "bad.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 422 and 'name="payload"' not in response.get_data(as_text=True)
    assert _groups(session) == before


def test_only_admins_import(console: Console, world: Any) -> None:
    console.sign_in(world.own.tokens["auditor"])
    assert console.get("/console/import").status_code == 403


@pytest.mark.parametrize("payload", ["", "%%%not-base64"])
def test_a_confirmation_without_a_checked_file_is_refused(signed: Console, payload: str) -> None:
    signed.get("/console/import")
    assert signed.post("/console/import/confirm", {"payload": payload}).status_code == 400
