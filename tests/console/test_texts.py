"""The console's words: every message it shows has its Arabic translation with the same
placeholders; numbers, money and dates in the reader's locale; charts drawn on the server."""

from __future__ import annotations

import itertools
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from api.console import charts, pages
from api.console.texts import LANGUAGES, Ratio, Words, plain
from vision_ledger import i18n
from vision_ledger.money import Money

PACKAGE = Path(pages.__file__).resolve().parent
CALL = re.compile(r'\bt(?:\.n)?\(\s*"((?:[^"\\]|\\.)*)"')
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def used_messages() -> set[str]:
    """Every message id the console passes through its catalog."""
    found = set()
    for path in [*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.html")]:
        found.update(m.group(1) for m in CALL.finditer(path.read_text(encoding="utf-8")))
    found.update(label for _, label in pages.HEADLINE)
    found.update(pages.SEGMENT_LABELS.values())
    found.update(label for _, label, _ in pages.CHARTS)
    found.update(pages.FLAG_LABELS.values())
    found.update(pages.VALUE_WORDS)
    return found


def test_the_shared_extraction_finds_every_console_message_in_its_context() -> None:
    """`python -m vision_ledger.i18n` (and tests/core/test_catalogs.py) check what it extracts: it
    must see every message the console passes through its catalog, templates and tables too."""
    extracted = {m.msgid for m in i18n.message_ids([i18n.CONSOLE]) if m.context == i18n.CONSOLE_CONTEXT}
    assert extracted == used_messages()


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_message_has_its_translation_with_the_same_placeholders(language: str) -> None:
    messages = {i18n.Message(i18n.CONSOLE_CONTEXT, m) for m in used_messages()}
    assert i18n.problems(language, messages) == []


def test_arabic_readers_get_arabic_digits_and_their_words() -> None:
    t = Words("ar")
    assert t.rtl and t("Sign in") == "تسجيل الدخول"
    assert t.number(1500) == "١٬٥٠٠"
    assert t.percent(Decimal("0.1234")) == "١٢٫٣%"
    assert t.money(Money(150000, "KES")) == "KES ١٬٥٠٠٫٠٠"
    assert t("Message {n} will be sent again.", n=12) == "ستعاد محاولة إرسال الرسالة ١٢."
    assert re.fullmatch(r"[٠-٩]{2}\W*/\W*[٠-٩]{2}\W*/\W*[٠-٩]{4}", t.date(date(2026, 12, 2)))


def test_english_readers_get_the_source_words() -> None:
    t = Words("en")
    assert not t.rtl and t("Sign in") == "Sign in"
    assert t.value(Ratio(Decimal("0.5"))) == "50.0%" and t.value(Ratio(None)) == "–"
    assert t.value(date(2026, 12, 2)) == "2 Dec 2026" and t.value(True) == "yes"
    assert Words("xx").language == "en"


def test_csv_cells_are_plain_machine_values() -> None:
    assert plain(Money(150050, "KES")) == "1500.50"
    assert plain(date(2026, 12, 2)) == "2026-12-02"
    assert plain(Ratio(Decimal("0.2500"))) == "0.2500" and plain(None) == ""


def test_a_chart_leaves_a_gap_where_a_period_has_no_figure() -> None:
    data = [charts.Point(str(i), v, str(v)) for i, v in enumerate([1.0, 2.0, None, 3.0, 4.0])]
    svg = charts.line_chart("Savings", data, empty="none")
    assert svg.count("<polyline") == 2 and svg.count("<circle") == 4
    assert 'aria-label="Savings"' in svg and "<title>4: 4.0</title>" in svg


def test_a_chart_escapes_its_labels_and_says_when_it_has_nothing() -> None:
    svg = charts.line_chart("<b>", [charts.Point("<i>", 1.0, "1"), charts.Point("x", 2.0, "2")], empty="-")
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "&lt;i&gt;" in svg
    empty = charts.line_chart("Savings", [charts.Point("a", None, "–")], empty="No figures <yet>")
    assert "<svg" not in empty and "No figures &lt;yet&gt;" in empty


def test_weekly_and_monthly_periods_end_today_and_follow_each_other() -> None:
    weeks = pages.periods(date(2026, 12, 2), "week")
    assert len(weeks) == 12 and weeks[-1] == (date(2026, 11, 26), date(2026, 12, 2))
    assert all(b + pages.timedelta(days=1) == c for (_, b), (c, _) in itertools.pairwise(weeks))
    months = pages.periods(date(2026, 12, 2), "month")
    assert months[0] == (date(2026, 1, 1), date(2026, 1, 31))
    assert months[-1] == (date(2026, 12, 1), date(2026, 12, 2))
