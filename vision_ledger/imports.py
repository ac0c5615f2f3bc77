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

import csv
import io
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

import phonenumbers
from babel import Locale
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import groups
from .actors import Actor, can_administer
from .errors import DomainError
from .models import Group, Member, Programme

MAX_BYTES = 1024 * 1024  # the API's request limit too
MAX_ROWS = 5000

# The canonical columns, what each holds, and the longest value the schema stores.
COLUMNS: dict[str, str] = {
    "group_name": "the group's name (required)",
    "village": "the group's village (with the name, identifies the group)",
    "district": "the group's district",
    "member_name": "the member's full name (required)",
    "phone": "the member's mobile number, any local or international form (required)",
    "gender": "female, male or other (F, M)",
    "year_of_birth": "four digits",
    "disability": "yes or no (empty: no)",
    "role": "member (default), chair, treasurer, secretary, money_counter, key_holder, box_keeper",
    "language": "the member's language: en, sw, ar or its name (default: the group's)",
    "region": "the group's region (county, governorate)",
    "country": "the group's country, ISO 3166 code (default: the programme's)",
    "timezone": "the group's time zone, e.g. Africa/Nairobi (default: the import's, else the programme's)",
    "meeting_schedule": "a weekday (Thursday) or an RRULE (default: the import's)",
    "group_language": "the group's language (default: the import's, else the first member's)",
}
REQUIRED = ("group_name", "member_name", "phone")
LENGTHS = {"group_name": 200, "member_name": 200, "village": 100, "district": 100, "region": 100}
GROUP_COLUMNS = ("village", "district", "region", "country", "timezone", "meeting_schedule",
                 "group_language")
MEMBER_COLUMNS = ("member_name", "gender", "year_of_birth", "disability", "role", "language")

# Other spellings of the headers (after lower-casing and joining words with "_").
ALIASES = {
    "group": "group_name", "vsla": "group_name", "vsla_name": "group_name", "name_of_group": "group_name",
    "name": "member_name", "member": "member_name", "full_name": "member_name",
    "name_of_member": "member_name", "member_full_name": "member_name",
    "phone_number": "phone", "mobile": "phone", "mobile_number": "phone", "telephone": "phone",
    "phone_no": "phone", "tel": "phone", "msisdn": "phone",
    "sex": "gender", "birth_year": "year_of_birth", "yob": "year_of_birth",
    "disabled": "disability", "pwd": "disability", "person_with_disability": "disability",
    "living_with_disability": "disability", "disability_status": "disability",
    "position": "role", "committee_role": "role", "preferred_language": "language",
    "member_language": "language", "county": "region", "governorate": "region",
    "country_code": "country", "time_zone": "timezone", "tz": "timezone",
    "schedule": "meeting_schedule", "meeting_day": "meeting_schedule",
}
GENDER_WORDS = {"f": "female", "m": "male"}
ROLE_WORDS = {"chairperson": "chair", "chairman": "chair", "chairwoman": "chair",
              "keyholder": "key_holder", "boxkeeper": "box_keeper", "counter": "money_counter"}
YES = frozenset({"yes", "y", "true", "1", "x", "ndiyo", "ndio", "نعم", "po", "da"})
NO = frozenset({"", "no", "n", "false", "0", "hapana", "لا", "jo", "ne"})
WEEKDAYS = {"monday": "MO", "tuesday": "TU", "wednesday": "WE", "thursday": "TH", "friday": "FR",
            "saturday": "SA", "sunday": "SU"}


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


# --- reading the file -------------------------------------------------------------------------


def _header_key(raw: str) -> str:
    words = re.sub(r"[\W_]+", "_", unicodedata.normalize("NFKC", raw).casefold())
    return words.strip("_")


def canonical_column(raw: str) -> str | None:
    """"Year of birth", "year_of_birth", "YEAR OF BIRTH", "Phone number" -> the canonical name."""
    key = _header_key(raw)
    if key in COLUMNS:
        return key
    return ALIASES.get(key)


def _delimiter(first_line: str) -> str:
    """Comma, semicolon (Excel in comma-decimal locales) or tab: whichever splits the header most."""
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: (counts[d], d == ","))


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > MAX_BYTES:
        raise DomainError("import.too_large", f"The file is larger than {MAX_BYTES} bytes; split it",
                          maximum=MAX_BYTES)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DomainError("import.not_utf8", f"The file is not UTF-8 (byte {exc.start}); save it "
                          "from the spreadsheet as \"CSV UTF-8\"", position=exc.start) from exc
    if "\x00" in text:
        raise DomainError("import.not_csv", "The file holds NUL characters: it is not a CSV text")
    return text


def read_csv(data: bytes | str) -> list[tuple[int, dict[str, str]]]:
    """The rows as (row number, {canonical column: stripped cell}); blank rows are skipped.

    Raises import.too_large, import.not_utf8, import.not_csv, import.empty, import.unknown_columns,
    import.duplicate_column, import.missing_columns, import.too_many_rows, import.extra_cells.
    """
    text = _decode(data)
    if not text.strip():
        raise DomainError("import.empty", "The file is empty")
    reader = csv.reader(io.StringIO(text, newline=""),
                        delimiter=_delimiter(text.lstrip("\r\n").split("\n", 1)[0]))
    try:
        header = next(reader)
        while not any(cell.strip() for cell in header):
            header = next(reader)
        return _records(reader, header)
    except csv.Error as exc:
        raise DomainError("import.not_csv", f"Not a CSV file at line {reader.line_num}: {exc}",
                          line=reader.line_num) from exc


def _records(reader: Any, header: list[str]) -> list[tuple[int, dict[str, str]]]:
    columns: list[str | None] = []
    unknown: list[str] = []
    for cell in header:
        name = canonical_column(cell) if cell.strip() else None
        if cell.strip() and name is None:
            unknown.append(cell.strip())
        if name is not None and name in columns:
            raise DomainError("import.duplicate_column", f"The column {name} appears twice",
                              column=name)
        columns.append(name)
    if unknown:
        raise DomainError("import.unknown_columns", f"Unknown column(s): {', '.join(unknown)}. "
                          f"Known: {', '.join(COLUMNS)}", columns=unknown, known=list(COLUMNS))
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise DomainError("import.missing_columns", f"The file needs the column(s) {', '.join(missing)}",
                          columns=missing)
    records: list[tuple[int, dict[str, str]]] = []
    row = 1  # the header
    for cells in reader:
        row += 1
        if not any(cell.strip() for cell in cells):
            continue
        if len(records) == MAX_ROWS:
            raise DomainError("import.too_many_rows", f"At most {MAX_ROWS} rows in one file; split it",
                              maximum=MAX_ROWS)
        values: dict[str, str] = {}
        for index, cell in enumerate(cells):
            name = columns[index] if index < len(columns) else None
            if name is not None:
                values[name] = " ".join(cell.split())
            elif cell.strip():
                raise DomainError("import.extra_cells", f"Row {row} has a value in column "
                                  f"{index + 1}, which has no header", row=row, column=index + 1)
        records.append((row, values))
    return records


# --- reading a row ----------------------------------------------------------------------------


def _fold(value: str | None) -> str:
    return unicodedata.normalize("NFC", value or "").casefold()


def _language_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for code in groups.LANGUAGES:
        names[code] = code
        names[_fold(Locale("en").languages.get(code, code))] = code
        names[_fold(Locale(code).display_name)] = code
    return names


def _language(raw: str) -> str:
    return groups.check_language(_language_names().get(_fold(raw), raw))


def schedule_of(raw: str) -> str:
    """A weekday ("Thursday", "every Thu") or an RRULE -> an RRULE. Raises group.invalid_schedule."""
    words = _fold(raw).removeprefix("every ").strip()
    for day, code in WEEKDAYS.items():
        if len(words) >= 3 and day.startswith(words):
            return f"FREQ=WEEKLY;BYDAY={code}"
    return groups.check_schedule(raw.upper() if raw.upper().startswith("FREQ=") else raw)


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
    checks = (("gender", _gender), ("year_of_birth", _birth_year), ("disability", _disability),
              ("role", _role), ("language", _language))
    for column, parse in checks:
        raw = row.given(column)
        if not raw and column != "disability":
            continue
        try:
            row.member[_MEMBER_ARGS[column]] = parse(raw)
        except DomainError as exc:
            row.fail(column, exc.code, exc.message)
    country = row.given("country").upper()
    if country and country not in phonenumbers.SUPPORTED_REGIONS:
        row.fail("country", "import.unknown_country", f"Not a country code: {row.given('country')}")


_MEMBER_ARGS = {"gender": "gender", "year_of_birth": "birth_year", "disability": "disability",
                "role": "role", "language": "language", "member_name": "name"}


def _gender(raw: str) -> str:
    value = GENDER_WORDS.get(_fold(raw), _fold(raw))
    groups.check_member_fields(gender=value)
    return value


def _birth_year(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise DomainError("member.invalid_birth_year", f"Not a year of birth: {raw}") from None
    groups.check_member_fields(birth_year=value)
    return value


def _disability(raw: str) -> bool:
    value = _fold(raw)
    if value in YES or value in NO:
        return value in YES
    raise DomainError("import.invalid_disability", f"Disability is yes or no, not {raw}")


def _role(raw: str) -> str:
    value = _header_key(raw)
    value = ROLE_WORDS.get(value.replace("_", ""), value)
    groups.check_member_fields(role=value)
    return value


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
        return _fold(" ".join(name.split())), _fold(" ".join((village or "").split()))

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
                                       ("group_language", "language", _language)):
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
                ("group_language", "language", "group_language", _language)):
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
            if setting != "village" and _fold(str(stored or "")) != _fold(given):
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
            column: row.member[arg] for column, arg in _MEMBER_ARGS.items() if arg in row.member}}
        if not row.given("disability"):
            given.pop("disability", None)  # an empty cell says nothing about a stored member
        for column, value in given.items():
            stored = getattr(member, _MEMBER_ARGS[column])
            same = (_fold(" ".join(stored.split())) == _fold(value) if column == "member_name"
                    else stored == value)
            if not same:
                row.fail(column, "import.conflict",
                         f"Member {member.phone} of {row.given('group_name')} is stored with "
                         f"{column} {stored}, this row says {value}; an import never overwrites "
                         "(change the member itself)")
