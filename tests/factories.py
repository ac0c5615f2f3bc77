"""Factories: a test says only what matters to it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from vision_ledger import cycles, groups, meetings
from vision_ledger.actors import Actor
from vision_ledger.models import Cycle, Group, Meeting, Member, Programme
from vision_ledger.money import Money

NAMES = ["Asha", "Juma", "Wanjiru", "Otieno", "Achieng", "Kamau", "Njeri", "Mutua", "Akinyi",
         "Kiprop", "Zawadi", "Baraka", "Neema", "Omondi", "Halima", "Said", "Fatuma", "Mwangi",
         "Chebet", "Wekesa", "Amina", "Rashid"]


class Factory:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.system = Actor.system("tests")
        self.phones_used = 0  # numbers handed out by next_phone; a shared world sets it past its own

    def programme(self, currency: str = "KES", **policy: Any) -> Programme:
        if currency != "USD":
            policy.setdefault("loan_min", 65000)  # KES 650 ~ USD 5
            policy.setdefault("loan_max", 260000)  # KES 2,600 ~ USD 20
        return groups.create_programme(self.session, self.system, name="Test programme",
                                       country="KE", currency=currency, policy=policy,
                                       timezone="Africa/Nairobi")

    def admin(self, programme: Programme | int) -> Actor:
        pid = programme if isinstance(programme, int) else programme.id
        return Actor(role="admin", programme_id=pid, name="officer")

    def auditor(self, programme: Programme | int) -> Actor:
        pid = programme if isinstance(programme, int) else programme.id
        return Actor(role="auditor", programme_id=pid, name="auditor")

    def treasurer(self, group: Group, channel: str = "api") -> Actor:
        return Actor(role="treasurer", group_id=group.id, channel=channel, name="treasurer")

    def member_actor(self, member: Member) -> Actor:
        return Actor(role="member", group_id=member.group_id, member_id=member.id)

    def next_phone(self) -> str:
        self.phones_used += 1
        return f"+2547{self.phones_used:08d}"

    def group(self, programme: Programme | None = None, members: int = 15, *,
              policy: dict[str, Any] | None = None, **kw: Any) -> Group:
        programme = programme or self.programme()
        group = groups.create_group(
            self.session, self.admin(programme), programme, name=kw.pop("name", "Umoja VSLA"),
            schedule=kw.pop("schedule", "FREQ=WEEKLY;BYDAY=TH"),
            timezone=kw.pop("timezone", "Africa/Nairobi"), language=kw.pop("language", "en"),
            region="Coast", district="Kilifi", village="Mtwapa", policy=policy, **kw,
        )
        for i in range(members):
            self.member(group, role="treasurer" if i == 0 else "member")
        return group

    def member(self, group: Group, **kw: Any) -> Member:
        index = groups.active_count(self.session, group.id)
        kw.setdefault("name", NAMES[index % len(NAMES)])
        kw.setdefault("phone", self.next_phone())
        kw.setdefault("gender", "female" if index % 3 else "male")
        kw.setdefault("birth_year", 1980 + index)
        kw.setdefault("joined_on", date(2024, 1, 1))
        return groups.add_member(self.session, self.system, group, **kw)

    def cycle(self, group: Group, *, start: date | None = None, share_price: str = "100",
              social: str = "20", **kw: Any) -> Cycle:
        kw.setdefault("fines", {"late": Money.parse("50", group.currency),
                                "absent": Money.parse("100", group.currency)})
        return cycles.start_cycle(
            self.session, self.system, group, share_price=Money.parse(share_price, group.currency),
            social_fund_contribution=Money.parse(social, group.currency),
            start_date=start or date.today() - timedelta(weeks=30), **kw,
        )

    def ready(self, members: int = 15, **kw: Any) -> Group:
        """A group with members and an open cycle that started 30 weeks ago."""
        group = self.group(members=members, **{k: v for k, v in kw.items() if k in ("programme", "policy")})
        self.cycle(group, **{k: v for k, v in kw.items() if k not in ("programme", "policy")})
        return group

    def meeting(self, group: Group, on: date | None = None, absent: tuple[int, ...] = ()) -> Meeting:
        return meetings.open_meeting(self.session, self.treasurer(group), group,
                                     absent_member_ids=absent, meeting_date=on)

    def close(self, group: Group, reason: str | None = None) -> Meeting:
        loan, social = meetings.expected_cash(self.session, group)
        return meetings.close_meeting(self.session, self.treasurer(group), group,
                                      counted_loan_fund=loan, counted_social_fund=social,
                                      variance_reason=reason)

    def members(self, group: Group) -> list[Member]:
        return groups.active_members(self.session, group.id)

    def money(self, group: Group, text: str) -> Money:
        return Money.parse(text, group.currency)
