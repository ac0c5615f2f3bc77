"""Tables of the console: what a page shows and what its CSV download holds are the same rows.

A cell holds a value (Money, a date, a `Ratio`, a number, text); the page formats it for the staff
member's language (`Words.value`), the CSV file writes it plainly (`texts.plain`) through the
project's CSV-injection guard (`vision_ledger.exports.SafeCsvWriter`).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Response

from vision_ledger.exports import SafeCsvWriter

from .texts import plain


@dataclass
class Table:
    name: str  # the CSV file's name and the anchor on the page
    caption: str
    columns: Sequence[str]  # headers in the reader's language
    rows: list[list[Any]] = field(default_factory=list)
    links: list[str | None] = field(default_factory=list)  # per row, where its first cell leads
    numeric: frozenset[int] = frozenset()  # columns aligned as figures
    more: str | None = None  # a link to the next page of rows
    csv_columns: Sequence[str] | None = None  # machine headers for the CSV file (default: columns)

    def add(self, row: list[Any], link: str | None = None) -> None:
        self.rows.append(row)
        self.links.append(link)


def csv_response(table: Table, filename: str) -> Response:
    out = io.StringIO()
    writer = SafeCsvWriter(out)
    writer.writerow(table.csv_columns or table.columns)
    for row in table.rows:
        writer.writerow([plain(cell) for cell in row])
    response = Response(out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response
