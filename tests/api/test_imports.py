"""POST /api/programmes/{id}/imports: a CSV body or a form upload; dry run, all or nothing, re-run."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from tests.api.conftest import assert_problem
from tests.core.test_imports import SAMPLE, csv_of, umoja
from vision_ledger import imports
from vision_ledger.models import Group, Member

KENYA = "timezone=Africa/Nairobi&schedule=Thursday"


def _post(world, role, data, query="", content_type="text/csv", side="own"):
    api = world.as_(role, side)
    path = f"{world.own.p}/imports" + (f"?{query}" if query else "")
    return world.client.post(path, data=data, content_type=content_type, headers=api.headers())


def _members(session, world) -> int:
    return session.scalar(select(func.count()).select_from(Member).join(Group)
                          .where(Group.programme_id == world.own.programme.id))


def test_an_admin_imports_a_csv_body_and_a_rerun_changes_nothing(world, session):
    before = _members(session, world)
    data = csv_of(*umoja(12))
    first = _post(world, "admin", data, KENYA)
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert (body["groups_created"], body["members_created"], body["written"]) == (1, 12, True)
    assert body["errors"] == [] and body["groups"][0]["id"] is not None
    assert _members(session, world) == before + 12
    again = _post(world, "admin", data, KENYA)
    assert again.status_code == 200
    assert (again.get_json()["members_unchanged"], again.get_json()["written"]) == (12, False)
    assert _members(session, world) == before + 12


def test_a_multipart_upload_of_the_sample_file_is_imported(world):
    upload = {"file": (io.BytesIO(SAMPLE.read_bytes()), "members.csv")}
    response = _post(world, "admin", upload, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    assert (response.get_json()["groups_created"], response.get_json()["members_created"]) == (3, 10)


def test_a_dry_run_answers_the_row_errors_and_writes_nothing(world, session):
    before = _members(session, world)
    rows = umoja(10)
    rows[3] = rows[3].replace("0712300003", "0712")
    response = _post(world, "admin", csv_of(*rows), KENYA + "&dry_run=true")
    assert response.status_code == 200
    body = response.get_json()
    assert body["dry_run"] is True and body["written"] is False
    assert [(e["row"], e["column"], e["code"]) for e in body["errors"]] == [
        (5, "phone", "member.invalid_phone")]
    assert _members(session, world) == before


def test_a_real_run_with_a_row_error_is_a_422_problem_with_the_report_and_writes_nothing(world, session):
    before = _members(session, world)
    rows = umoja(10)
    rows[3] = rows[3].replace("0712300003", "0712")
    body = assert_problem(_post(world, "admin", csv_of(*rows), KENYA), 422, "import.rows_invalid")
    assert [(e["row"], e["column"], e["code"]) for e in body["facts"]["errors"]] == [
        (5, "phone", "member.invalid_phone")]
    assert body["facts"]["members_created"] == 9 and body["facts"]["written"] is False
    assert _members(session, world) == before


def test_a_new_group_without_a_schedule_is_refused_when_no_default_is_given(world):
    body = assert_problem(_post(world, "admin", csv_of(*umoja(2))), 422, "import.rows_invalid")
    # The time zone comes from the programme; the meeting day has no default.
    assert {e["code"] for e in body["facts"]["errors"]} == {"import.schedule_required"}


def test_a_file_that_is_not_a_csv_is_refused_with_its_code(world):
    assert_problem(_post(world, "admin", b"\xff\xfe\x00g"), 422, "import.not_utf8")
    assert_problem(_post(world, "admin", b"a,b,c\n1,2,3\n"), 422, "import.unknown_columns")


def test_other_media_types_are_refused(world):
    assert_problem(_post(world, "admin", b"{}", content_type="application/json"), 415,
                   "http.unsupported_media_type")
    assert_problem(_post(world, "admin", {"other": (io.BytesIO(b"x"), "x.csv")},
                         content_type="multipart/form-data"), 400, "import.file_required")


def test_a_body_over_the_size_limit_is_refused(world):
    data = csv_of(*umoja(1)) + b"#" * imports.MAX_BYTES
    assert_problem(_post(world, "admin", data, KENYA), 413, "http.too_large")


def test_only_the_programmes_admins_import(world, session):
    data = csv_of(*umoja(10))
    assert_problem(_post(world, "auditor", data, KENYA), 403, "permission.read_only")
    assert_problem(_post(world, "auditor", b"{}", content_type="application/json"), 403,
                   "permission.read_only")
    assert_problem(_post(world, "treasurer", data, KENYA), 404, "programme.not_found")
    assert_problem(_post(world, "admin", data, KENYA, side="other"), 404, "programme.not_found")


def test_unknown_query_parameters_are_refused(world):
    assert_problem(_post(world, "admin", csv_of(*umoja(1)), "dryrun=1"), 422, "request.invalid")
