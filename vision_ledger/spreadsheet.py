"""Reading a programme officer's spreadsheet (the import of `imports.py`): the canonical columns
and the other spellings of their headers, what a cell may say (weekdays, yes/no, roles,
languages), the file's encoding (UTF-8, with or without a BOM), its
delimiter (comma, semicolon or tab: the one that splits the header most), and its rows, numbered
as the spreadsheet numbers them.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from typing import Any

from babel import Locale

from . import groups
from .errors import DomainError
from .programmes import LANGUAGES

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



def header_key(raw: str) -> str:
    words = re.sub(r"[\W_]+", "_", unicodedata.normalize("NFKC", raw).casefold())
    return words.strip("_")


def canonical_column(raw: str) -> str | None:
    """"Year of birth", "year_of_birth", "YEAR OF BIRTH", "Phone number" -> the canonical name."""
    key = header_key(raw)
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


# --- reading a cell ------------------------------------------------------------------------------


def fold(value: str | None) -> str:
    return unicodedata.normalize("NFC", value or "").casefold()


def _language_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for code in LANGUAGES:
        names[code] = code
        names[fold(Locale("en").languages.get(code, code))] = code
        names[fold(Locale(code).display_name)] = code
    return names


def language_of(raw: str) -> str:
    return groups.check_language(_language_names().get(fold(raw), raw))


def schedule_of(raw: str) -> str:
    """A weekday ("Thursday", "every Thu") or an RRULE -> an RRULE. Raises group.invalid_schedule."""
    words = fold(raw).removeprefix("every ").strip()
    for day, code in WEEKDAYS.items():
        if len(words) >= 3 and day.startswith(words):
            return f"FREQ=WEEKLY;BYDAY={code}"
    return groups.check_schedule(raw.upper() if raw.upper().startswith("FREQ=") else raw)


MEMBER_ARGS = {"gender": "gender", "year_of_birth": "birth_year", "disability": "disability",
                "role": "role", "language": "language", "member_name": "name"}


def gender_of(raw: str) -> str:
    value = GENDER_WORDS.get(fold(raw), fold(raw))
    groups.check_member_fields(gender=value)
    return value


def birth_year_of(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise DomainError("member.invalid_birth_year", f"Not a year of birth: {raw}") from None
    groups.check_member_fields(birth_year=value)
    return value


def disability_of(raw: str) -> bool:
    value = fold(raw)
    if value in YES or value in NO:
        return value in YES
    raise DomainError("import.invalid_disability", f"Disability is yes or no, not {raw}")


def role_of(raw: str) -> str:
    value = header_key(raw)
    value = ROLE_WORDS.get(value.replace("_", ""), value)
    groups.check_member_fields(role=value)
    return value
