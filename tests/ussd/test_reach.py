"""Pages that reach every treasurer: short names that tell members apart, plural forms per
language, the savings round's page fitting Arabic's 80 characters."""

from __future__ import annotations

import pytest

from ussd.session import NAME_SIZE, short_names
from ussd.texts import Texts, fits

# No database: runs in the SQLite pass of scripts/test.sh only (marker nodb).
pytestmark = pytest.mark.nodb

SHARES = ("OK {name}: {n} share.", "OK {name}: {n} shares.")
SOCIAL = ("OK {name}: {n} share + social fund.", "OK {name}: {n} shares + social fund.")


def test_a_first_name_no_one_else_has_is_enough():
    names = short_names({1: "Mwanaisha Abdallah Mohamed", 2: "Juma Ali", 3: "Mwanaisha Omar"})
    assert names[2] == "Juma"


def test_members_sharing_a_first_name_are_told_apart_by_initials_then_letters():
    names = short_names({1: "Mwanaisha Abdallah", 2: "Mwanaisha Omar", 3: "Mwanaisha Amina",
                         4: "Fatuma Hassan Ali", 5: "Fatuma Hassan Omar"})
    assert names[2] == "Mwanaisha O"
    assert names[1] == "Mwanaisha Ab" and names[3] == "Mwanaisha Am"  # same initial: more letters
    assert names[4] == "Fatuma HA" and names[5] == "Fatuma HO"  # same second initial: a third
    assert len(set(names.values())) == len(names)
    assert all(len(name) <= NAME_SIZE for name in names.values())


def test_long_names_stay_short_and_distinct():
    names = short_names({n: f"Mwanaishaabdallahmohamed {n:02d} Abdallah" for n in range(1, 21)})
    assert len(set(names.values())) == 20
    assert all(len(name) <= NAME_SIZE for name in names.values())


@pytest.mark.parametrize(("language", "count", "expected"), [
    ("en", 1, "OK Juma: 1 share."), ("en", 3, "OK Juma: 3 shares."),
    ("sw", 1, "Sawa Juma: hisa 1."), ("sw", 3, "Sawa Juma: hisa 3."),
    ("ar", 1, "تم Juma: سهم واحد."), ("ar", 2, "تم Juma: سهمان."), ("ar", 3, "تم Juma: ٣ أسهم."),
    ("ar", 11, "تم Juma: ١١ سهما."), ("ar", 100, "تم Juma: ١٠٠ سهم."),
])
def test_share_counts_take_the_languages_plural_form(language, count, expected):
    assert Texts(language).n(*SHARES, count, name="Juma") == expected


def test_every_plural_form_of_the_round_fits_an_arabic_page_with_the_next_member():
    t = Texts("ar")
    for count in range(0, 11):
        for forms in (SHARES, SOCIAL):
            done = t.n(*forms, count, name="12")
            page = "\n".join([done, t("[{done}/{present}] {name}: shares {low}-{high}?", done=12,
                                      present=30, name="13 Mwanaisha Ab", low=1, high=10)])
            assert fits(page), page
