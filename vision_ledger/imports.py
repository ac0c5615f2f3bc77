"""Bulk onboarding: the groups and members of a programme from a programme officer's spreadsheet.

One CSV row is one member, with the group it belongs to. `import_members` checks every row with
the core's own rules (it creates groups with `groups.create_group` and members with
`groups.add_member`, inside a SAVEPOINT) and then keeps everything or nothing:

- a dry run, or any row in error: the SAVEPOINT is rolled back; a dry run returns the report, a
  real run raises `ImportRefused` (code `import.rows_invalid`) whose facts are that same report;
- otherwise the SAVEPOINT is released and the caller commits.

A re-run of the same file changes nothing: a group is matched by programme + name + village and a
member by group + phone; what a row says about a stored group or member must agree with it (a
disagreement is a row error `import.conflict`, never an overwrite).

Knows nothing of HTTP: the API and the command line hand it the file's bytes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import groups
from .actors import Actor, can_administer
from .errors import DomainError
from .models import Group, Member, Programme
from .spreadsheet import (  # noqa: F401  (MAX_BYTES, MAX_ROWS, COLUMNS, canonical_column, schedule_of: callers know them as imports.*)
    COLUMNS,
    GROUP_COLUMNS,
    LENGTHS,
    MAX_BYTES,
    MAX_ROWS,
    MEMBER_ARGS,
    REQUIRED,
    birth_year_of,
    canonical_column,
    disability_of,
    fold,
    gender_of,
    language_of,
    read_csv,
    role_of,
    schedule_of,
)


@dataclass(frozen=True)
class ImportDefaults:
    """What a new group gets when its rows leave a column empty. Today the caller gives them (query
    parameters, command-line flags); a programme's own time zone and languages can fill them."""

    timezone: str | None = None
    schedule: str | None = None
    group_language: str | None = None


@dataclass(frozen=True)
class RowError:
    row: int  # as the spreadsheet numbers it: the header is row 1
    column: str | None
    code: str
    message: str


@dataclass
class GroupOutcome:
    name: str
    village: str | None
    row: int  # where the file first names it
    status: str  # created | unchanged
    id: int | None = None  # None when nothing was written (dry run, refusal) for a new group
    members_created: int = 0
    members_unchanged: int = 0


@dataclass
class ImportReport:
    dry_run: bool
    rows: int = 0
    written: bool = False
    groups_created: int = 0
    groups_unchanged: int = 0
    members_created: int = 0
    members_unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    groups: list[GroupOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ImportRefused(DomainError):
    """A real run with row errors: nothing was written; the facts are the whole report."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__("import.rows_invalid",
                         f"{len(report.errors)} problem(s) in the file's {report.rows} rows; "
                         "nothing was written", **report.as_dict())
        self.report = report


# --- reading a row ----------------------------------------------------------------------------


@dataclass
class _Row:
    row: int
    values: dict[str, str]
    errors: list[RowError] = field(default_factory=list)
    member: dict[str, Any] = field(default_factory=dict)  # add_member's keyword arguments

    def fail(self, column: str | None, code: str, message: str) -> None:
        self.errors.append(RowError(self.row, column, code, message))

    def given(self, column: str) -> str:
        return self.values.get(column, "")


def _check_row(row: _Row) -> None:
    """Each cell on its own: required values, lengths, and the core's lists."""
    for column in REQUIRED:
        if not row.given(column):
            row.fail(column, "import.missing_value", f"The {column} is empty")
    for column, longest in LENGTHS.items():
        if len(row.given(column)) > longest:
            row.fail(column, "import.too_long", f"The {column} is longer than {longest} characters")
    checks = (("gender", gender_of), ("year_of_birth", birth_year_of), ("disability", disability_of),
              ("role", role_of), ("language", language_of))
    for column, parse in checks:
        raw = row.given(column)
        if not raw and column != "disability":
            continue
        try:
            row.member[MEMBER_ARGS[column]] = parse(raw)
        except DomainError as exc:
            row.fail(column, exc.code, exc.message)
    country = row.given("country").upper()
    if country and country not in phonenumbers.SUPPORTED_REGIONS:
        row.fail("country", "import.unknown_country", f"Not a country code: {row.given('country')}")


# --- the import -------------------------------------------------------------------------------

# Which column a core refusal is about.
_CODE_COLUMNS = {
    "member.invalid_phone": "phone", "member.duplicate_phone": "phone",
    "member.unknown_gender": "gender", "member.invalid_birth_year": "year_of_birth",
    "member.unknown_role": "role", "member.role_taken": "role", "member.unknown_language": "language",
    "member.name_required": "member_name", "group.invalid_timezone": "timezone",
    "group.invalid_schedule": "meeting_schedule",
}


@dataclass
class _GroupState:
    group: Group
    outcome: GroupOutcome
    members: dict[str, Member]  # active members by phone
    rows_of_phone: dict[str, int] = field(default_factory=dict)


def import_members(session: Session, actor: Actor, programme: Programme, data: bytes | str, *,
                   dry_run: bool = False, defaults: ImportDefaults | None = None) -> ImportReport:
    """Import a CSV of groups and members into the programme (its admins).

    Returns the report (a dry run writes nothing whatever it finds). A real run with any row in
    error writes nothing and raises ImportRefused. Raises permission.*, programme.not_found and the
    file-level import.* errors of `read_csv`.
    """
    can_administer(actor, programme_id=programme.id)
    records = read_csv(data)
    report = ImportReport(dry_run=dry_run, rows=len(records))
    savepoint = session.begin_nested()
    try:
        states = _Importer(session, actor, programme, defaults or ImportDefaults(), report).run(records)
        keep = not dry_run and report.ok
        created = [s for s in states if s.outcome.status == "created"]
        if keep:
            savepoint.commit()
        else:
            savepoint.rollback()
            for state in created:
                state.outcome.id = None
    except BaseException:
        if savepoint.is_active:
            savepoint.rollback()
        raise
    report.written = keep and bool(report.groups_created or report.members_created)
    if not report.ok and not dry_run:
        raise ImportRefused(report)
    return report


class _Importer:
    def __init__(self, session: Session, actor: Actor, programme: Programme,
                 defaults: ImportDefaults, report: ImportReport) -> None:
        self.session = session
        self.actor = actor
        self.programme = programme
        self.defaults = defaults
        self.report = report
        self.states: dict[tuple[str, str], _GroupState | None] = {}
        self.stored: dict[tuple[str, str], list[Group]] = {}
        for group in session.scalars(select(Group).where(Group.programme_id == programme.id)):
            self.stored.setdefault(self._key(group.name, group.village), []).append(group)

    @staticmethod
    def _key(name: str, village: str | None) -> tuple[str, str]:
        return fold(" ".join(name.split())), fold(" ".join((village or "").split()))

    def run(self, records: list[tuple[int, dict[str, str]]]) -> list[_GroupState]:
        for number, values in records:
            row = _Row(number, values)
            _check_row(row)
            state = self._group(row) if row.given("group_name") else None
            if state is not None and not row.errors:
                self._member(row, state)
            self.report.errors.extend(row.errors)
        return [s for s in self.states.values() if s is not None]

    # --- groups

    def _group(self, row: _Row) -> _GroupState | None:
        key = self._key(row.given("group_name"), row.given("village"))
        if key in self.states:
            state = self.states[key]
            if state is not None:
                self._agrees(row, state)
            return state
        stored = self.stored.get(key, [])
        state = None
        if len(stored) > 1:
            row.fail("group_name", "import.ambiguous_group",
                     f"The programme has {len(stored)} groups named {row.given('group_name')} in "
                     f"this village; give each its own name first")
        elif stored:
            state = self._open(row, stored[0], "unchanged")
            self._agrees(row, state)
        elif not any(e.column in GROUP_COLUMNS or e.column == "group_name" for e in row.errors):
            state = self._create(row)
        self.states[key] = state
        return state

    def _open(self, row: _Row, group: Group, status: str) -> _GroupState:
        members = {m.phone: m for m in self.session.scalars(
            select(Member).where(Member.group_id == group.id, Member.status == "active"))}
        outcome = GroupOutcome(name=group.name, village=group.village, row=row.row, status=status,
                               id=group.id)
        self.report.groups.append(outcome)
        if status == "created":
            self.report.groups_created += 1
        else:
            self.report.groups_unchanged += 1
        return _GroupState(group=group, outcome=outcome, members=members)

    @staticmethod
    def _group_settings(row: _Row) -> dict[str, Any] | None:
        """The group-level columns of the row, parsed (empty ones left out); None if one is wrong."""
        out: dict[str, Any] = {}
        for column in ("village", "district", "region"):
            if row.given(column):
                out[column] = row.given(column)
        if row.given("country"):
            out["country"] = row.given("country").upper()
        if row.given("timezone"):
            out["timezone"] = row.given("timezone")
        for column, setting, parse in (("meeting_schedule", "schedule", schedule_of),
                                       ("group_language", "language", language_of)):
            if row.given(column):
                try:
                    out[setting] = parse(row.given(column))
                except DomainError as exc:
                    row.fail(column, exc.code, exc.message)
                    return None
        return out

    def _create(self, row: _Row) -> _GroupState | None:
        settings = self._group_settings(row)
        if settings is None:
            return None
        # The import's defaults, else the programme's own time zone; the language the import names,
        # else the first member's (create_group refuses one the programme does not use).
        settings.setdefault("timezone", self.defaults.timezone or self.programme.timezone)
        settings.setdefault("schedule", self.defaults.schedule)
        settings.setdefault("language", self.defaults.group_language or row.member.get("language"))
        wrong = False
        for column, setting, flag, parse in (
                ("timezone", "timezone", "timezone", str),
                ("meeting_schedule", "schedule", "schedule", schedule_of),
                ("group_language", "language", "group_language", language_of)):
            if not settings[setting]:
                wrong = True
                row.fail(column, f"import.{setting}_required",
                         f"The new group {row.given('group_name')} needs a {column}: fill the "
                         f"column or give the import's default ({flag})")
                continue
            try:  # a default given as a weekday or a language's name
                settings[setting] = parse(settings[setting])
            except DomainError as exc:
                wrong = True
                row.fail(column, exc.code, exc.message)
        if wrong:
            return None
        try:
            group = groups.create_group(self.session, self.actor, self.programme,
                                        name=row.given("group_name"), **settings)
        except DomainError as exc:
            row.fail(_CODE_COLUMNS.get(exc.code), exc.code, exc.message)
            return None
        return self._open(row, group, "created")

    def _agrees(self, row: _Row, state: _GroupState) -> None:
        """What a row says about a group it names must be what the group is."""
        settings = self._group_settings(row)
        if settings is None:
            return
        group = state.group
        for setting, given in settings.items():
            stored = getattr(group, setting)
            if setting != "village" and fold(str(stored or "")) != fold(given):
                column = {"schedule": "meeting_schedule", "language": "group_language"}.get(setting, setting)
                where = (f"row {state.outcome.row}" if state.outcome.status == "created"
                         else "the stored group")
                row.fail(column, "import.conflict",
                         f"{group.name}: {where} has {column} {stored or '(empty)'}, this row {given}")

    # --- members

    def _member(self, row: _Row, state: _GroupState) -> None:
        try:
            phone = groups.normalise_phone(row.given("phone"), state.group.country)
        except DomainError as exc:
            row.fail("phone", exc.code, exc.message)
            return
        earlier = state.rows_of_phone.get(phone)
        if earlier is not None:
            row.fail("phone", "import.duplicate_row",
                     f"Row {earlier} already has {phone} in {state.group.name}")
            return
        state.rows_of_phone[phone] = row.row
        stored = state.members.get(phone)
        if stored is not None:
            self._same_member(row, stored)
            if not row.errors:
                state.outcome.members_unchanged += 1
                self.report.members_unchanged += 1
            return
        try:
            groups.add_member(self.session, self.actor, state.group, name=row.given("member_name"),
                              phone=phone, **row.member)
        except DomainError as exc:
            row.fail(_CODE_COLUMNS.get(exc.code), exc.code, exc.message)
            return
        state.outcome.members_created += 1
        self.report.members_created += 1

    def _same_member(self, row: _Row, member: Member) -> None:
        given = {"member_name": row.given("member_name"), **{
            column: row.member[arg] for column, arg in MEMBER_ARGS.items() if arg in row.member}}
        if not row.given("disability"):
            given.pop("disability", None)  # an empty cell says nothing about a stored member
        for column, value in given.items():
            stored = getattr(member, MEMBER_ARGS[column])
            same = (fold(" ".join(stored.split())) == fold(value) if column == "member_name"
                    else stored == value)
            if not same:
                row.fail(column, "import.conflict",
                         f"Member {member.phone} of {row.given('group_name')} is stored with "
                         f"{column} {stored}, this row says {value}; an import never overwrites "
                         "(change the member itself)")
