"""Bulk onboarding (vision_ledger.imports): the file's format, the core's rules per row, all or
nothing, and a re-run that changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from vision_ledger import groups, imports
from vision_ledger.errors import DomainError
from vision_ledger.imports import ImportDefaults, ImportRefused, import_members
from vision_ledger.models import Group, Member

SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "samples" / "members.csv"
HEADER = "group_name,village,district,member_name,phone,gender,year_of_birth,disability,role,language"
KENYA = ImportDefaults(timezone="Africa/Nairobi", schedule="Thursday")


def csv_of(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def umoja(n: int, *, group: str = "Umoja", village: str = "Mtwapa", start: int = 0,
          officers: bool = True) -> list[str]:
    roles = ["chair", "treasurer", "secretary", "money_counter", "money_counter"] if officers else []
    return [f"{group},{village},Kilifi,Member {i},07123{i:05d},{'F' if i % 3 else 'M'},{1970 + i % 30},"
            f"{'yes' if i % 7 == 0 else 'no'},{roles[i - start] if i - start < len(roles) else 'member'},sw"
            for i in range(start, start + n)]


def counts(session, programme) -> tuple[int, int]:
    group_count = session.scalar(select(func.count()).select_from(Group)
                                 .where(Group.programme_id == programme.id))
    member_count = session.scalar(select(func.count()).select_from(Member).join(Group)
                                  .where(Group.programme_id == programme.id))
    return group_count, member_count


def errors_of(report) -> list[tuple[int, str | None, str]]:
    return [(e.row, e.column, e.code) for e in report.errors]


def run(session, factory, programme, data, **kw):
    kw.setdefault("defaults", KENYA)
    return import_members(session, factory.admin(programme), programme, data, **kw)


def test_a_file_creates_its_groups_and_members_and_a_rerun_changes_nothing(session, factory):
    programme = factory.programme()
    data = csv_of(*umoja(12), *umoja(10, group="Tujenge", village="Watamu", start=100))
    report = run(session, factory, programme, data)
    assert report.ok and report.written
    assert (report.groups_created, report.members_created) == (2, 22)
    assert counts(session, programme) == (2, 22)
    group = session.scalars(select(Group).where(Group.name == "Umoja")).one()
    assert (group.village, group.district, group.timezone, group.schedule, group.language) == (
        "Mtwapa", "Kilifi", "Africa/Nairobi", "FREQ=WEEKLY;BYDAY=TH", "sw")
    chair = session.scalars(select(Member).where(Member.group_id == group.id, Member.number == 1)).one()
    assert (chair.name, chair.phone, chair.gender, chair.birth_year, chair.disability, chair.role,
            chair.language) == ("Member 0", "+254712300000", "male", 1970, True, "chair", "sw")
    assert groups.group_status(session, group) == "active"

    again = run(session, factory, programme, data)
    assert again.ok and not again.written
    assert (again.groups_created, again.groups_unchanged) == (0, 2)
    assert (again.members_created, again.members_unchanged) == (0, 22)
    assert [g.id for g in again.groups] == [g.id for g in report.groups]
    assert counts(session, programme) == (2, 22)


def test_a_rerun_with_more_rows_adds_only_the_new_members(session, factory):
    programme = factory.programme()
    run(session, factory, programme, csv_of(*umoja(10)))
    report = run(session, factory, programme, csv_of(*umoja(10), *umoja(2, start=10, officers=False)))
    assert (report.members_created, report.members_unchanged, report.groups_unchanged) == (2, 10, 1)
    assert counts(session, programme) == (1, 12)


def test_the_sample_file_imports_kenyan_yemeni_and_kosovar_groups(session, factory):
    programme = factory.programme()
    report = run(session, factory, programme, SAMPLE.read_bytes(), defaults=None)
    assert report.ok, report.errors
    assert (report.groups_created, report.members_created) == (3, 10)
    yemen = session.scalars(select(Group).where(Group.country == "YE")).one()
    assert (yemen.name, yemen.timezone, yemen.schedule, yemen.language) == (
        "جمعية الأمل للادخار", "Asia/Aden", "FREQ=WEEKLY;BYDAY=SA", "ar")
    phones = set(session.scalars(select(Member.phone).where(Member.group_id == yemen.id)))
    assert phones == {"+967771234501", "+967771234502", "+967771234503"}
    kosovo = session.scalars(select(Group).where(Group.country == "XK")).one()
    assert set(session.scalars(select(Member.phone).where(Member.group_id == kosovo.id))) == {
        "+38344123401", "+38349123402", "+38344123403"}


def test_human_headers_semicolons_a_bom_and_crlf_are_read(session, factory):
    programme = factory.programme()
    header = "Group Name;Village;District;Member name;Phone number;Sex;Year of birth;Disability;Role;Language"
    rows = [r.replace(",", ";") for r in umoja(3)]
    data = "\ufeff".encode() + ("\r\n".join([header, *rows, ";;;;;;;;;"]) + "\r\n").encode()
    report = run(session, factory, programme, data)
    assert report.ok and report.members_created == 3 and report.rows == 3


def test_arabic_names_and_arabic_indic_digits_are_read(session, factory):
    programme = factory.programme()
    header = HEADER + ",country,timezone"
    row = "جمعية النور,المنصورة,عدن,خديجة محمد,٠٧٧١٢٣٤٥٦٧,أنثى,١٩٩٠,لا,member,العربية,YE,Asia/Aden"
    report = run(session, factory, programme, csv_of(row, header=header), dry_run=True)
    assert errors_of(report) == [(2, "gender", "member.unknown_gender")]
    report = run(session, factory, programme, csv_of(row.replace("أنثى", "F"), header=header))
    assert report.ok
    member = session.scalars(select(Member).where(Member.name == "خديجة محمد")).one()
    assert (member.phone, member.birth_year, member.language) == ("+967771234567", 1990, "ar")


def test_a_dry_run_reports_every_row_error_and_writes_nothing(session, factory):
    programme = factory.programme()
    rows = umoja(12)
    rows[2] = rows[2].replace("0712300002", "12")  # row 4
    rows[3] = rows[3].replace(",1973,", ",1850,").replace(",money_counter,", ",banker,")  # row 5
    rows[5] = rows[5].replace(",no,", ",maybe,")  # row 7
    rows[6] = rows[6].replace(",sw", ",fr")  # row 8
    rows[7] = rows[7].replace("Member 7", "")  # row 9
    report = run(session, factory, programme, csv_of(*rows), dry_run=True)
    assert errors_of(report) == [
        (4, "phone", "member.invalid_phone"),
        (5, "year_of_birth", "member.invalid_birth_year"), (5, "role", "member.unknown_role"),
        (7, "disability", "import.invalid_disability"),
        (8, "language", "member.unknown_language"),
        (9, "member_name", "import.missing_value"),
    ]
    assert all(e.message for e in report.errors)
    assert report.dry_run and not report.written
    assert report.groups[0].id is None and report.members_created == 7
    assert counts(session, programme) == (0, 0)


def test_a_clean_dry_run_counts_what_it_would_create_and_writes_nothing(session, factory):
    programme = factory.programme()
    report = run(session, factory, programme, csv_of(*umoja(15)), dry_run=True)
    assert report.ok and not report.written
    assert (report.groups_created, report.members_created) == (1, 15)
    assert counts(session, programme) == (0, 0)


def test_a_real_run_with_one_bad_row_writes_nothing_and_refuses_with_the_dry_run_report(session, factory):
    programme = factory.programme()
    rows = umoja(15)
    rows[14] = rows[14].replace("0712300014", "0712300000")  # row 16 repeats row 2's phone
    dry = run(session, factory, programme, csv_of(*rows), dry_run=True)
    with pytest.raises(ImportRefused) as refused:
        run(session, factory, programme, csv_of(*rows))
    assert refused.value.code == "import.rows_invalid"
    assert errors_of(refused.value.report) == errors_of(dry) == [(16, "phone", "import.duplicate_row")]
    facts = refused.value.facts
    assert facts["errors"][0]["row"] == 16 and facts["written"] is False
    assert counts(session, programme) == (0, 0)


def test_a_row_that_disagrees_with_a_stored_member_is_a_conflict_not_an_overwrite(session, factory):
    programme = factory.programme()
    run(session, factory, programme, csv_of(*umoja(10)))
    rows = umoja(10)
    rows[1] = rows[1].replace("Member 1", "Someone Else")
    rows[2] = rows[2].replace(",secretary,", ",member,")
    rows[3] = rows[3].replace(",sw", ",en")
    with pytest.raises(ImportRefused) as refused:
        run(session, factory, programme, csv_of(*rows))
    assert errors_of(refused.value.report) == [(3, "member_name", "import.conflict"),
                                               (4, "role", "import.conflict"),
                                               (5, "language", "import.conflict")]
    stored = session.scalars(select(Member).where(Member.phone == "+254712300001")).one()
    assert stored.name == "Member 1"
    # The name matches whatever its case and spacing.
    rows = umoja(10)
    rows[1] = rows[1].replace("Member 1", "  MEMBER   1 ")
    assert run(session, factory, programme, csv_of(*rows)).members_unchanged == 10


def test_a_row_that_disagrees_with_its_group_is_a_conflict(session, factory):
    programme = factory.programme()
    rows = umoja(10)
    rows[4] = rows[4].replace(",Kilifi,", ",Mombasa,")
    header = HEADER + ",timezone"
    rows = [r + ",Africa/Nairobi" for r in rows]
    rows[6] = rows[6].replace("Africa/Nairobi", "Asia/Aden")
    report = run(session, factory, programme, csv_of(*rows, header=header), dry_run=True)
    assert errors_of(report) == [(6, "district", "import.conflict"), (8, "timezone", "import.conflict")]


def test_a_21st_active_member_is_refused(session, factory):
    programme = factory.programme()
    report = run(session, factory, programme, csv_of(*umoja(21)), dry_run=True)
    assert errors_of(report) == [(22, None, "group.full")]
    # Also against members already stored.
    run(session, factory, programme, csv_of(*umoja(20)))
    report = run(session, factory, programme, csv_of(*umoja(1, start=40, officers=False)), dry_run=True)
    assert errors_of(report) == [(2, None, "group.full")]


def test_a_second_treasurer_is_refused_by_the_role_seats(session, factory):
    programme = factory.programme()
    rows = umoja(10)
    rows[6] = rows[6].replace(",member,", ",Treasurer,")
    rows[7] = rows[7].replace(",member,", ",Money counter,")
    report = run(session, factory, programme, csv_of(*rows), dry_run=True)
    assert errors_of(report) == [(8, "role", "member.role_taken"), (9, "role", "member.role_taken")]


def test_a_phone_may_be_in_two_groups_of_the_programme_as_add_member_allows(session, factory):
    programme = factory.programme()
    rows = umoja(10) + umoja(1, group="Tujenge", village="Watamu")
    report = run(session, factory, programme, csv_of(*rows))
    assert report.ok and report.groups_created == 2
    assert len(groups.groups_of_phone(session, "+254712300000")) == 2


def test_a_new_group_needs_a_schedule_and_takes_the_programmes_timezone_by_default(session, factory):
    programme = factory.programme()
    programme.timezone = ""  # a programme without a time zone of its own (none is, since 0004)
    report = run(session, factory, programme, csv_of(*umoja(2)), defaults=None, dry_run=True)
    assert errors_of(report) == [(2, "timezone", "import.timezone_required"),
                                 (2, "meeting_schedule", "import.schedule_required")]
    programme.timezone = "Africa/Nairobi"
    only_schedule = ImportDefaults(schedule="Thursday")
    report = run(session, factory, programme, csv_of(*umoja(2)), defaults=only_schedule, dry_run=True)
    assert report.ok and errors_of(report) == []
    header = HEADER + ",time_zone,schedule"
    rows = [r + ",Asia/Aden,FREQ=WEEKLY;BYDAY=SU" for r in umoja(2)]
    data = "\n".join([header.replace(",", "\t"), *(r.replace(",", "\t") for r in rows)]).encode()
    report = run(session, factory, programme, data, defaults=None)
    assert report.ok
    group = session.scalars(select(Group).where(Group.programme_id == programme.id)).one()
    assert (group.timezone, group.schedule) == ("Asia/Aden", "FREQ=WEEKLY;BYDAY=SU")


def test_an_unknown_timezone_or_schedule_is_refused(session, factory):
    programme = factory.programme()
    bad_zone = ImportDefaults(timezone="Africa/Atlantis", schedule="Thursday")
    report = run(session, factory, programme, csv_of(*umoja(2)), defaults=bad_zone, dry_run=True)
    assert errors_of(report) == [(2, "timezone", "group.invalid_timezone")]
    bad_day = ImportDefaults(timezone="Africa/Nairobi", schedule="Thorsday")
    report = run(session, factory, programme, csv_of(*umoja(2)), defaults=bad_day, dry_run=True)
    assert errors_of(report) == [(2, "meeting_schedule", "group.invalid_schedule")]


def test_an_unknown_country_is_refused(session, factory):
    programme = factory.programme()
    header = HEADER + ",country"
    report = run(session, factory, programme, csv_of(*(r + ",ZZ" for r in umoja(1)), header=header),
                 dry_run=True)
    assert errors_of(report) == [(2, "country", "import.unknown_country")]


def test_two_stored_groups_of_the_same_name_and_village_are_ambiguous(session, factory):
    programme = factory.programme()
    factory.group(programme, members=0, name="Umoja")
    factory.group(programme, members=0, name="Umoja")
    report = run(session, factory, programme, csv_of(*umoja(1)), dry_run=True)
    assert errors_of(report) == [(2, "group_name", "import.ambiguous_group")]


def test_a_value_longer_than_the_schema_stores_is_refused(session, factory):
    programme = factory.programme()
    row = umoja(1)[0].replace("Mtwapa", "M" * 101)
    report = run(session, factory, programme, csv_of(row), dry_run=True)
    assert errors_of(report) == [(2, "village", "import.too_long")]


@pytest.mark.parametrize(("data", "code"), [
    (b"", "import.empty"),
    (b"\n\n", "import.empty"),
    ("group_name,member_name,phone\nUmoja,Zaw\xe9di,0712345678\n".encode("latin-1"), "import.not_utf8"),
    (b"group_name,member_name,phone\x00\n", "import.not_csv"),
    (b"group_name,member_name,phone,shoe size\n", "import.unknown_columns"),
    (b"Group name,group_name,member_name,phone\n", "import.duplicate_column"),
    (b"group_name,member_name\nUmoja,Asha\n", "import.missing_columns"),
    (b"group_name,member_name,phone\nUmoja,Asha,0712345678,surplus\n", "import.extra_cells"),
    (b"group_name,member_name,phone\n" + b"Umoja,Asha,0712345678\n" * (imports.MAX_ROWS + 1),
     "import.too_many_rows"),
    (b"group_name,member_name,phone\n" + b"x" * imports.MAX_BYTES, "import.too_large"),
])
def test_a_file_that_is_not_a_readable_csv_is_refused_whole(session, factory, data, code):
    programme = factory.programme()
    with pytest.raises(DomainError) as refused:
        run(session, factory, programme, data, dry_run=True)
    assert refused.value.code == code and refused.value.message
    assert counts(session, programme) == (0, 0)


def test_only_the_programmes_admins_import(session, factory):
    programme = factory.programme()
    other = factory.programme()
    data = csv_of(*umoja(2))
    with pytest.raises(DomainError) as refused:
        import_members(session, factory.auditor(programme), programme, data, defaults=KENYA, dry_run=True)
    assert refused.value.code == "permission.read_only"
    with pytest.raises(DomainError) as refused:
        import_members(session, factory.admin(other), programme, data, defaults=KENYA)
    assert refused.value.code == "programme.not_found"
    assert counts(session, programme) == (0, 0)


@pytest.mark.parametrize(("raw", "column"), [
    ("Group name", "group_name"), ("YEAR OF BIRTH", "year_of_birth"), ("Phone No.", "phone"),
    ("Sex", "gender"), ("Meeting day", "meeting_schedule"), ("Time zone", "timezone"),
    ("Person with disability", "disability"), ("Name", "member_name"), ("Shoe size", None),
])
def test_headers_are_read_in_their_human_spellings(raw, column):
    assert imports.canonical_column(raw) == column


@pytest.mark.parametrize(("raw", "rrule"), [
    ("Thursday", "FREQ=WEEKLY;BYDAY=TH"), ("every Mon", "FREQ=WEEKLY;BYDAY=MO"),
    ("freq=weekly;byday=fr", "FREQ=WEEKLY;BYDAY=FR"),
])
def test_a_schedule_is_a_weekday_or_an_rrule(raw, rrule):
    assert imports.schedule_of(raw) == rrule
