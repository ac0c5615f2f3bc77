"""Messages nobody asked for at a meeting: loan-due reminders and the monthly statement.

Both are queued into the outbox by the worker's periodic job, each at most once: a key in
`sms_once` (reminder:<loan>:<due date>, monthly:<member>:<year-month>) is written in the same
transaction as the outbox row, so two workers (PostgreSQL) or a restart never queue it twice, and
a worker that was down on the day catches up on its next run.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sms.models import SmsOnce
from vision_ledger import ledger, statements
from vision_ledger.actors import Actor
from vision_ledger.db import Database, utcnow
from vision_ledger.groups import active_members, group_policy, open_cycle
from vision_ledger.loans import loan_facts
from vision_ledger.meetings import local_today
from vision_ledger.models import Group, Loan

log = logging.getLogger("sms.schedule")

MONTHLY_WINDOW_DAYS = 7  # the monthly statement goes out in the first week of the group's month
SYSTEM = Actor.system("sms-scheduler")


def once(session: Session, key: str) -> bool:
    """Claim key in this transaction; False when it was already used."""
    if session.get(SmsOnce, key) is not None:
        return False
    session.add(SmsOnce(key=key))
    return True


def loan_reminders(session: Session, group: Group, now: datetime | None = None) -> int:
    """Queue a reminder for each active loan due within the policy's reminder_days_before_due."""
    cycle = open_cycle(session, group.id)
    days = group_policy(session, group, cycle).reminder_days_before_due
    if days <= 0:
        return 0
    today = local_today(group, now)
    loans = session.scalars(
        select(Loan).where(Loan.group_id == group.id, Loan.status == "active",
                           Loan.due_on >= today, Loan.due_on <= today + timedelta(days=days))
        .order_by(Loan.id)
    ).all()
    queued = 0
    for loan in loans:
        if loan.balance > 0 and once(session, f"reminder:{loan.id}:{loan.due_on.isoformat()}"):
            ledger.queue_message(session, group, loan.member_id, "reminder", payload={
                **loan_facts(loan), "date": today.isoformat()})
            queued += 1
    return queued


def monthly_statements(session: Session, group: Group, now: datetime | None = None) -> int:
    """In the first week of the group's month, queue each active member's monthly statement."""
    today = local_today(group, now)
    if today.day > MONTHLY_WINDOW_DAYS or open_cycle(session, group.id) is None:
        return 0
    queued = 0
    for member in active_members(session, group.id):
        if once(session, f"monthly:{member.id}:{today:%Y-%m}"):
            statements.queue_statement(session, SYSTEM, group, member, reason="monthly")
            queued += 1
    return queued


def run_jobs(db: Database, now: datetime | None = None) -> int:
    """Run both jobs for every group, one transaction per group; return how many were queued."""
    with db.unit_of_work(write=False) as session:
        group_ids = list(session.scalars(select(Group.id).order_by(Group.id)))
    queued = 0
    for group_id in group_ids:
        try:
            with db.unit_of_work() as session:
                group = session.get(Group, group_id)
                assert group is not None
                queued += loan_reminders(session, group, now) + monthly_statements(session, group, now)
        except IntegrityError:
            log.info("group %s: another worker queued these first", group_id)
    return queued


def _nightly_key(now: datetime) -> str:
    return f"verify-all:{now.astimezone(UTC):%Y-%m-%d}"


def claim_nightly_verification(db: Database, hour: int, now: datetime | None = None) -> bool:
    """True (once a UTC day, across every worker) when the nightly `verify --all` is due: the
    day's key is claimed in `sms_once`, so two workers or a restart never run it twice."""
    now = now or utcnow()
    if now.astimezone(UTC).hour < hour:
        return False
    try:
        with db.unit_of_work() as session:
            return once(session, _nightly_key(now))
    except IntegrityError:
        return False  # another worker claimed it first


def release_nightly_verification(db: Database, now: datetime | None = None) -> None:
    """Give the day's claim back after a run that could not finish, so the next job run retries."""
    with db.unit_of_work() as session:
        row = session.get(SmsOnce, _nightly_key(now or utcnow()))
        if row is not None:
            session.delete(row)
