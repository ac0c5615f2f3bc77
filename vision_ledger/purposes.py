"""Loan purposes: what a loan is for, from a list the programme keeps.

A programme that has set no list uses the defaults below: starting or growing a business in one
of six sectors, then school fees, health, food and household, emergency, other. The order is the
order the treasurer's USSD menu numbers them in. A purpose taken off a programme's list stays
known (inactive), so loans recorded with it keep their title; loans recorded before purposes were
kept have none (`Loan.purpose` is None) and reports count them as "not recorded".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .actors import Actor, can_administer
from .errors import DomainError
from .models import Programme
from .results_models import LoanPurpose

CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")
TITLE_MAX = 40  # characters; the USSD menu pages a list whose titles do not fit one page
LIST_MAX = 40  # purposes on one list: a USSD number of at most two digits, below "98 More"
NOT_RECORDED = "not_recorded"  # the row of loans without a purpose in reports


@dataclass(frozen=True)
class Purpose:
    code: str
    titles: dict[str, str]
    business: bool  # an income-generating activity ("members with a business loan")

    def title(self, language: str) -> str:
        """The title in a language, else in English, else the code."""
        return self.titles.get(language) or self.titles.get("en") or self.code


_SECTORS = (
    ("agriculture", "Farming", "Kilimo", "زراعة"),
    ("livestock", "Livestock", "Mifugo", "مواشي"),
    ("trade", "Trade", "Biashara", "تجارة"),
    ("transport", "Transport", "Usafiri", "نقل"),
    ("crafts", "Crafts/tailoring", "Ufundi/ushonaji", "حرف وخياطة"),
    ("services", "Services", "Huduma", "خدمات"),
)
_STAGES = (("start", "start", "kuanza", "بدء"), ("expand", "grow", "kukuza", "توسيع"))

DEFAULTS: tuple[Purpose, ...] = (
    *(Purpose(f"{stage}_{sector}", {"en": f"{en}: {en_s}", "sw": f"{sw}: {sw_s}", "ar": f"{ar}: {ar_s}"},
              business=True)
      for sector, en, sw, ar in _SECTORS for stage, en_s, sw_s, ar_s in _STAGES),
    Purpose("school_fees", {"en": "School fees", "sw": "Karo ya shule", "ar": "رسوم مدرسية"}, False),
    Purpose("health", {"en": "Health", "sw": "Afya", "ar": "صحة"}, False),
    Purpose("household", {"en": "Food/household", "sw": "Chakula/nyumbani", "ar": "غذاء ومنزل"}, False),
    Purpose("emergency", {"en": "Emergency", "sw": "Dharura", "ar": "طوارئ"}, False),
    Purpose("other", {"en": "Other", "sw": "Mengineyo", "ar": "أخرى"}, False),
)


def _rows(session: Session, programme_id: int) -> list[LoanPurpose]:
    return list(session.scalars(select(LoanPurpose).where(LoanPurpose.programme_id == programme_id)
                                .order_by(LoanPurpose.position, LoanPurpose.id)))


def programme_purposes(session: Session, programme_id: int, *, include_inactive: bool = False
                       ) -> list[Purpose]:
    """The programme's list in menu order (the defaults if it has set none)."""
    rows = _rows(session, programme_id)
    if not rows:
        return list(DEFAULTS)
    return [Purpose(r.code, dict(r.titles), r.business) for r in rows if r.active or include_inactive]


def check_purpose(session: Session, programme_id: int, code: str) -> Purpose:
    """The purpose `code` on the programme's current list. Raises loan.unknown_purpose."""
    listed = programme_purposes(session, programme_id)
    for purpose in listed:
        if purpose.code == code:
            return purpose
    raise DomainError("loan.unknown_purpose", f"{code!r} is not on the programme's list of loan purposes",
                      purpose=code, allowed=[p.code for p in listed])


def _checked(items: Any, languages: list[str]) -> list[Purpose]:
    if not isinstance(items, list) or not items or len(items) > LIST_MAX:
        raise DomainError("purpose.invalid_list", f"A list of 1 to {LIST_MAX} purposes", maximum=LIST_MAX)
    seen: set[str] = set()
    result = []
    for item in items:
        code, titles, business = item.get("code"), item.get("titles"), item.get("business")
        if not isinstance(code, str) or not CODE.fullmatch(code):
            raise DomainError("purpose.invalid_code", "A purpose code is lower-case letters, digits and _ "
                              "(at most 40), starting with a letter", purpose=code)
        if code == NOT_RECORDED or code in seen:
            raise DomainError("purpose.duplicate_code", f"The code {code} is taken", purpose=code)
        seen.add(code)
        if not isinstance(business, bool):
            raise DomainError("purpose.business_required", "Say whether the purpose is a business",
                              purpose=code)
        missing = [lang for lang in languages
                   if not isinstance(titles, dict) or not str(titles.get(lang) or "").strip()]
        if missing:
            raise DomainError("purpose.title_required", "A title in each of the programme's languages",
                              purpose=code, missing=missing)
        clean = {lang: " ".join(str(t).split()) for lang, t in titles.items() if lang in languages}
        too_long = [lang for lang, t in clean.items() if len(t) > TITLE_MAX]
        if too_long:
            raise DomainError("purpose.title_too_long", f"A title has at most {TITLE_MAX} characters",
                              purpose=code, languages=too_long, maximum=TITLE_MAX)
        result.append(Purpose(code, clean, business))
    return result


def set_purposes(session: Session, actor: Actor, programme: Programme, items: Any) -> list[Purpose]:
    """Replace the programme's list (admins): `items` are {code, titles, business} in menu order.
    Codes left out are kept as inactive purposes, so loans recorded with them keep their title.

    Raises permission.*, purpose.invalid_list, purpose.invalid_code, purpose.duplicate_code,
    purpose.business_required, purpose.title_required, purpose.title_too_long.
    """
    can_administer(actor, programme_id=programme.id)
    wanted = _checked(items, list(programme.languages))
    rows = {r.code: r for r in _rows(session, programme.id)}
    if not rows:  # the defaults were in force: keep them known, so their loans keep titles
        for position, purpose in enumerate(DEFAULTS):
            row = LoanPurpose(programme_id=programme.id, code=purpose.code, titles=purpose.titles,
                              business=purpose.business, position=len(wanted) + position, active=False)
            session.add(row)
            rows[purpose.code] = row
    for row in rows.values():
        row.active = False
    for position, purpose in enumerate(wanted):
        found = rows.get(purpose.code)
        if found is None:
            found = LoanPurpose(programme_id=programme.id, code=purpose.code)
            session.add(found)
        row = found
        row.titles, row.business, row.position, row.active = \
            purpose.titles, purpose.business, position, True
    session.flush()
    return programme_purposes(session, programme.id)
