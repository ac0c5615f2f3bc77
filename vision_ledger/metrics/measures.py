"""The measures programme staff look at: their additive facts and the ratios computed from them.

A period is two dates, `start` and `end`, both included, compared with entries' effective dates
and meetings' dates (the group's local calendar). Balances "at the end of the period" are the
sums of postings dated on or before `end`, read before a share-out dated `end` itself, so the
measures of a whole cycle show what was shared out. Flows "in the period" (income, grants,
write-offs) exclude share-out entries, which only close the cycle's accounts.

Definitions (each ratio is None when its denominator is zero):

- members: members on the register at the end of the period (joined on or before `end`, not
  left by then); `female`, `male`, `youth` (age in the year of `end` at most the policy's
  `youth_age_max`, 29 by default) and `disability` count the members carrying those attributes.
- savings: members' share balances at the end of the period (shares bought, less exits and
  reversals); savings per member = savings / members.
- total assets = loan-fund cash + loans outstanding + social-fund cash, at the end of the period.
- loans outstanding: the loans-receivable balances (principal and service charge still owed).
- loan fund utilisation = loans outstanding / (loans outstanding + loan-fund cash).
- portfolio at risk (1 and 30 days) = outstanding balance of the loans more than 0 (resp. 29)
  days past their contractual due date (issue date + term, before any roll-over) at the end of the
  period / loans outstanding. A rolled-over loan is a loan that was not repaid when due: at risk.
- loans disbursed: count and principal of the loans issued in the period (cancelled loans, i.e.
  reversed ones, excluded); average loan size = principal / count.
- repayment rate = amount repaid / amount that fell due, over the loans whose contractual due date
  lies in the period. What fell due on a loan is its principal plus the service charge posted up
  to its due date; what was repaid is what the member paid on it (repayments and settlement at an
  exit) up to the end of the period, capped at what fell due. Reversals are netted.
- write-off rate = amount written off in the period (principal and charge still owed) / principal
  of the loans disbursed in the period.
- attendance rate = members present / (meetings x active members), over the period's meetings:
  the number of `attendance` rows marked present over the number of rows (one per active member
  per meeting).
- member retention = members on the register at the start of the period who are still members at
  its end / members on the register at its start.
- return on savings (annualised) = (service charges + fines - write-offs - cash variance) earned
  in the period / savings at the end of the period x 52 / weeks elapsed, where weeks elapsed is
  the period's days / 7 (at least one week). This is SAVIX's "annualised return on savings": the
  5-25% a year that programmes consider healthy is calibrated on savings, not on average savings.
- grants: seed-capital grants received in the period; loans after grants: principal of the loans
  disbursed in the period in a group on or after the date of its first grant.

Programme and region roll-ups add up the counts and amounts of their groups and recompute each
ratio from the summed numerator and denominator (a pooled ratio: a big group weighs more).
Disaggregations (female, male, youth, disability) use the same definitions restricted to members
with the attribute; measures of the whole group (assets, utilisation, return on savings) are not
disaggregated.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal
from typing import Any

from ..money import Money

SEGMENTS = ("female", "male", "youth", "disability")
ROS_BAND = (Decimal("0.05"), Decimal("0.25"))  # a healthy annual return on savings


@dataclass
class Facts:
    """Additive facts of a group, a segment of its members, or a whole programme."""

    members: int = 0
    female: int = 0
    male: int = 0
    youth: int = 0
    disability: int = 0
    members_at_start: int = 0
    retained: int = 0
    savings: int = 0
    loan_fund_cash: int = 0
    social_fund_cash: int = 0
    loans_outstanding: int = 0
    par1_outstanding: int = 0
    par30_outstanding: int = 0
    loans_count: int = 0
    loans_amount: int = 0
    fell_due: int = 0
    repaid: int = 0
    written_off: int = 0
    present: int = 0
    attendance_rows: int = 0
    meetings: int = 0
    service_charges: int = 0
    fines: int = 0
    cash_variance: int = 0
    grants: int = 0
    loans_after_grants: int = 0

    def add(self, other: Facts) -> None:
        mine, theirs = self.__dict__, other.__dict__
        for name in FACTS:
            mine[name] += theirs[name]


FACTS = tuple(f.name for f in fields(Facts))


def _ratio(numerator: int, denominator: int) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"))


@dataclass
class Measures:
    """The measures of one group, segment or roll-up; money in minor units of `currency`."""

    currency: str
    days: int
    facts: Facts
    whole_group: bool = True  # False for a segment of members: group-wide measures are None

    def money(self, minor: int) -> Money:
        return Money(minor, self.currency)

    @property
    def savings_per_member(self) -> Money | None:
        return self.money(self.facts.savings // self.facts.members) if self.facts.members else None

    @property
    def total_assets(self) -> Money | None:
        f = self.facts
        return self.money(f.loan_fund_cash + f.loans_outstanding + f.social_fund_cash) \
            if self.whole_group else None

    @property
    def loan_fund_utilisation(self) -> Decimal | None:
        f = self.facts
        return _ratio(f.loans_outstanding, f.loans_outstanding + f.loan_fund_cash) \
            if self.whole_group else None

    @property
    def portfolio_at_risk_1(self) -> Decimal | None:
        return _ratio(self.facts.par1_outstanding, self.facts.loans_outstanding)

    @property
    def portfolio_at_risk_30(self) -> Decimal | None:
        return _ratio(self.facts.par30_outstanding, self.facts.loans_outstanding)

    @property
    def average_loan_size(self) -> Money | None:
        f = self.facts
        return self.money(f.loans_amount // f.loans_count) if f.loans_count else None

    @property
    def repayment_rate(self) -> Decimal | None:
        return _ratio(self.facts.repaid, self.facts.fell_due)

    @property
    def write_off_rate(self) -> Decimal | None:
        return _ratio(self.facts.written_off, self.facts.loans_amount)

    @property
    def attendance_rate(self) -> Decimal | None:
        return _ratio(self.facts.present, self.facts.attendance_rows)

    @property
    def member_retention(self) -> Decimal | None:
        return _ratio(self.facts.retained, self.facts.members_at_start)

    @property
    def net_income(self) -> int:
        f = self.facts
        return f.service_charges + f.fines - f.written_off - f.cash_variance

    @property
    def return_on_savings(self) -> Decimal | None:
        if not self.whole_group or self.facts.savings <= 0:
            return None
        weeks = max(Decimal(self.days) / 7, Decimal(1))
        value = Decimal(self.net_income) / Decimal(self.facts.savings) * 52 / weeks
        return value.quantize(Decimal("0.0001"))

    def as_dict(self) -> dict[str, Any]:
        """Plain values: Money, Decimal (ratios) or None; the doors render them."""
        f = self.facts
        data: dict[str, Any] = {
            "members": f.members, "female": f.female, "male": f.male, "youth": f.youth,
            "disability": f.disability, "savings": self.money(f.savings),
            "savings_per_member": self.savings_per_member, "total_assets": self.total_assets,
            "loan_fund_cash": self.money(f.loan_fund_cash) if self.whole_group else None,
            "social_fund_cash": self.money(f.social_fund_cash) if self.whole_group else None,
            "loans_outstanding": self.money(f.loans_outstanding),
            "loan_fund_utilisation": self.loan_fund_utilisation,
            "portfolio_at_risk_1": self.portfolio_at_risk_1,
            "portfolio_at_risk_30": self.portfolio_at_risk_30,
            "loans_disbursed": f.loans_count, "loans_disbursed_amount": self.money(f.loans_amount),
            "average_loan_size": self.average_loan_size, "amount_fell_due": self.money(f.fell_due),
            "amount_repaid": self.money(f.repaid), "repayment_rate": self.repayment_rate,
            "written_off": self.money(f.written_off), "write_off_rate": self.write_off_rate,
            "meetings": f.meetings if self.whole_group else None,
            "attendance_rate": self.attendance_rate, "member_retention": self.member_retention,
            "return_on_savings": self.return_on_savings,
        }
        if self.whole_group:
            data.update(service_charges=self.money(f.service_charges), fines=self.money(f.fines),
                        cash_variance=self.money(f.cash_variance), net_income=self.money(self.net_income),
                        grants=self.money(f.grants), loans_after_grants=self.money(f.loans_after_grants))
        return data


@dataclass
class GroupMeasures:
    group_id: int
    name: str
    region: str | None
    start: date
    end: date
    cycle_id: int | None
    measures: Measures
    segments: dict[str, Measures] = field(default_factory=dict)


@dataclass
class ProgrammeMeasures:
    programme_id: int
    region: str | None
    start: date
    end: date
    groups: int
    measures: Measures
    segments: dict[str, Measures]
    groups_ros_outside_band: int
    per_group: list[GroupMeasures]

