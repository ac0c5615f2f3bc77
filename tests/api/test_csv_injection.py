"""CSV exports never hand a spreadsheet a formula (OWASP CSV injection), on every export route;
amounts stay numbers."""

from __future__ import annotations

import csv
import io
import re

import pytest

from vision_ledger.exports import FORMULA_STARTS, neutralise

HOSTILE = ('=HYPERLINK("http://x")', "+1+1", "-1+cmd|' /C calc'!A0", "@SUM(A1)", "\tTAB", "\rCR")
NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def _routes(world):
    own = world.own
    return (f"{own.g}/journal.csv", f"{own.p}/export/journal.csv", f"{own.g}/export/statements.csv")


@pytest.fixture
def hostile_world(world, session):
    world.own.group.name = HOSTILE[0]
    for member, name in zip(world.own.members, HOSTILE, strict=False):
        member.name = name
    session.commit()
    return world


def test_no_export_route_writes_a_cell_a_spreadsheet_would_run(hostile_world):
    admin = hostile_world.as_("admin")
    seen_negative = False
    for route in _routes(hostile_world):
        response = admin.get(route)
        assert response.status_code == 200, (route, response.get_data(as_text=True))
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True), newline="")))
        assert len(rows) > 1, route
        for row in rows:
            for cell in row:
                assert not (cell.startswith(FORMULA_STARTS) and not NUMBER.fullmatch(cell)), (route, cell)
                seen_negative = seen_negative or (cell.startswith("-") and NUMBER.fullmatch(cell))
    assert seen_negative  # credits such as -500.00 are still written as numbers
    text = admin.get(_routes(hostile_world)[2]).get_data(as_text=True)
    assert "'=HYPERLINK" in text and "'@SUM(A1)" in text  # neutralised, not dropped


@pytest.mark.parametrize("cell", HOSTILE)
def test_a_cell_starting_like_a_formula_is_written_as_text(cell):
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["-12.50", "+3", "0", "1250", 12, None, "KES", "Amina"])
def test_numbers_and_plain_text_are_written_unchanged(cell):
    assert neutralise(cell) == cell
