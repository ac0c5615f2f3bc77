"""Demo data: a programme, a group of 15 members and a few weeks of past meetings, made only
through core functions as the system actor."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from vision_ledger import cycles, groups, indicators, loans, meetings, programmes, purposes, savings
from vision_ledger.actors import Actor
from vision_ledger.models import Group, Member, Programme
from vision_ledger.money import Money

from .auth import create_token

PROGRAMME_NAME = "VISION demo programme"
TREASURER_PIN = "1234"
MEMBER_PIN = "4321"
NAMES = ["Asha Mwende", "Juma Otieno", "Wanjiru Kamau", "Achieng Odhiambo", "Kamau Njoroge",
         "Njeri Wambui", "Mutua Musyoka", "Akinyi Adhiambo", "Kiprop Kiptoo", "Zawadi Chebet",
         "Baraka Omondi", "Neema Halima", "Said Rashid", "Fatuma Ali", "Mwangi Wekesa"]
WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


@dataclass
class Demo:
    programme_id: int
    group_id: int
    created: bool
    phones: list[tuple[str, str, str]] = field(default_factory=list)  # (phone, name, role)
    tokens: dict[str, tuple[int, str]] = field(default_factory=dict)  # role -> (id, secret)


def existing(s: Session) -> Programme | None:
    return s.scalars(select(Programme).where(Programme.name == PROGRAMME_NAME)).first()


def load(s: Session, today: date | None = None) -> Demo:
    """Create the demo (or find it, if it was loaded before) and issue a fresh token per role."""
    programme = existing(s)
    if programme is None:
        demo = _create(s, today or date.today())  # noqa: DTZ011 (the group's own calendar)
    else:
        group = s.scalars(select(Group).where(Group.programme_id == programme.id).order_by(Group.id)).first()
        assert group is not None
        demo = Demo(programme_id=programme.id, group_id=group.id, created=False)
    members = list(s.scalars(select(Member).where(Member.group_id == demo.group_id).order_by(Member.number)))
    demo.phones = [(m.phone, m.name, m.role) for m in members]
    made = {
        "admin": create_token(s, role="admin", name="demo admin", programme_id=demo.programme_id),
        "auditor": create_token(s, role="auditor", name="demo auditor", programme_id=demo.programme_id),
        "treasurer": create_token(s, role="treasurer", name="demo treasurer", group_id=demo.group_id),
        "member": create_token(s, role="member", name="demo member", member_id=members[1].id),
    }
    for role, (token, secret) in made.items():
        demo.tokens[role] = (token.id, secret)
    return demo


def _create(s: Session, today: date) -> Demo:
    system = Actor.system("demo")
    programme = programmes.create_programme(
        s, system, name=PROGRAMME_NAME, country="KE", currency="KES", timezone="Africa/Nairobi",
        languages=["en", "sw"], usd_rate="130")  # loans KES 650-2,600: USD 5-20 at 130
    start = today - timedelta(weeks=6)
    group = groups.create_group(
        s, system, programme, name="Umoja Demo VSLA",
        schedule=f"FREQ=WEEKLY;BYDAY={WEEKDAYS[start.weekday()]}",
        timezone="Africa/Nairobi", language="en", region="Coast", district="Kilifi", village="Mtwapa")
    members = []
    for i, name in enumerate(NAMES):
        members.append(groups.add_member(
            s, system, group, name=name, phone=f"+2547110000{i + 1:02d}",
            gender="female" if i % 3 else "male", birth_year=1975 + 2 * i, disability=i in (4, 11),
            language="sw" if i % 4 == 3 else "en",
            role="treasurer" if i == 0 else "member", joined_on=start,
            pin=TREASURER_PIN if i == 0 else MEMBER_PIN))
    cycles.start_cycle(s, system, group, share_price=Money.parse("100", "KES"),
                       social_fund_contribution=Money.parse("20", "KES"), start_date=start,
                       fines={"late": Money.parse("50", "KES"), "absent": Money.parse("100", "KES")})
    for week in range(5):
        on = start + timedelta(weeks=week)
        absent = [members[(week * 4 + 5) % 15].id] if week % 2 else []
        meetings.open_meeting(s, system, group, absent_member_ids=absent, meeting_date=on)
        for i, m in enumerate(members):
            if m.id in absent:
                savings.charge_fine(s, system, group, m, "absent")
                continue
            savings.buy_shares(s, system, group, m, 1 + (i + week) % 5)
            savings.pay_social_fund(s, system, group, m)
        if week == 1:
            loans.disburse_loan(s, system, group, members[3], Money.parse("1000", "KES"),
                                purpose="start_trade")
        if week == 2:
            loans.disburse_loan(s, system, group, members[6], Money.parse("1500", "KES"),
                                purpose="school_fees")
            loans.disburse_loan(s, system, group, members[1], Money.parse("800", "KES"),
                                purpose="expand_agriculture")
            savings.charge_fine(s, system, group, members[9], "late")
        if week == 4:
            loans.repay_loan(s, system, group, members[3], Money.parse("1100", "KES"))
        if week == 3:
            savings.pay_welfare(s, system, group, members[11], Money.parse("300", "KES"), "hospital bill")
        loan_cash, social_cash = meetings.expected_cash(s, group)
        meetings.close_meeting(s, system, group, counted_loan_fund=loan_cash, counted_social_fund=social_cash)
    _indicators(s, system, programme.id, today)
    return Demo(programme_id=programme.id, group_id=group.id, created=True)


# The demo's indicators: (code, English title, Swahili title, measure, breakdowns, purposes,
# target of the quarter, target of the year), targets in the measure's unit (see README).
BUSINESS = [p.code for p in purposes.DEFAULTS if p.business]
INDICATORS = [
    ("reach", "Members reached", "Wanachama waliofikiwa", "members_reached",
     ["gender", "youth", "disability"], [], "20", "60"),
    ("active", "Members active", "Wanachama hai", "members_active", ["gender"], [], "18", "54"),
    ("groups", "Groups formed", "Vikundi vilivyoundwa", "groups_formed", ["region"], [], "1", "3"),
    ("groups_active", "Groups active", "Vikundi hai", "groups_active", ["region"], [], "1", "3"),
    ("savings", "Savings mobilised", "Akiba iliyokusanywa", "savings_mobilised", ["gender", "youth"], [],
     "30000.00", "120000.00"),
    ("business_loans", "Business loans", "Mikopo ya biashara", "loans_disbursed_count", ["gender"],
     BUSINESS, "4", "16"),
    ("business_loan_value", "Business loans value", "Thamani ya mikopo ya biashara",
     "loans_disbursed_value", ["gender"], BUSINESS, "4000.00", "16000.00"),
    ("borrowers", "Members with a business loan", "Wenye mkopo wa biashara", "members_business_loan",
     ["gender", "youth"], [], "3", "12"),
    ("share_out", "Share-out value", "Thamani ya mgao", "share_out_value", [], [], "0.00", "60000.00"),
    ("ros", "Return on savings", "Faida kwa akiba", "return_on_savings", ["region"], [], "0.15", "0.15"),
]


def quarter_of(day: date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def _indicators(s: Session, system: Actor, programme_id: int, today: date) -> None:
    """The demo programme's indicators, with targets for the quarter and the year of `today`."""
    for code, en, sw, measure, breakdowns, codes, quarter, year in INDICATORS:
        indicators.create_indicator(s, system, programme_id, code=code, titles={"en": en, "sw": sw},
                                    measure=measure, breakdowns=breakdowns, purposes=codes)
        indicators.set_target(s, system, programme_id, code, period=quarter_of(today), value=quarter)
        indicators.set_target(s, system, programme_id, code, period=str(today.year), value=year)
