"""Programmes, groups and members: who belongs, with which role, under which policy."""

from __future__ import annotations

from datetime import date
from typing import Any

import phonenumbers
from dateutil.rrule import rrulestr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import ledger
from .actors import Actor, can_administer, can_manage, can_read_group
from .amounts import check_locale, default_locale
from .errors import DomainError, NotFound, PermissionDenied
from .models import Cycle, Group, Member, Programme
from .pins import set_initial_pin
from .policy import Policy, from_dict, refine
from .programmes import (  # noqa: F401  (re-exported: the doors and tests know them as groups.*)
    LANGUAGES,
    check_timezone,
    create_programme,
    get_programme,
    update_programme_policy,
)

MEMBER_ROLES = ("chair", "treasurer", "secretary", "money_counter", "key_holder", "box_keeper",
                "member")
COMMITTEE_ROLES = ("chair", "treasurer", "secretary", "money_counter")
# How many members hold each office: a committee of chair, treasurer, secretary and two money
# counters; three key holders (one padlock key each) and one box keeper.
ROLE_SEATS = {"chair": 1, "treasurer": 1, "secretary": 1, "money_counter": 2, "key_holder": 3,
              "box_keeper": 1}
GENDERS = ("female", "male", "other")


def normalise_phone(raw: str, country: str) -> str:
    """E.164 from any form a person types ("0712 345678" in KE is +254712345678).

    Raises member.invalid_phone.
    """
    try:
        number = phonenumbers.parse(str(raw), country.upper())
    except phonenumbers.NumberParseException as exc:
        raise DomainError("member.invalid_phone", f"Not a phone number: {raw}", phone=raw) from exc
    if not phonenumbers.is_valid_number(number):
        raise DomainError("member.invalid_phone", f"Not a valid phone number: {raw}", phone=raw)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise DomainError("member.unknown_language", f"Language must be one of {', '.join(LANGUAGES)}",
                          language=language, allowed=list(LANGUAGES))
    return language


def check_schedule(schedule: str) -> str:
    """A meeting schedule is an RFC 5545 RRULE ("FREQ=WEEKLY;BYDAY=TH"). Raises group.invalid_schedule."""
    try:
        rrulestr(schedule, dtstart=date(2024, 1, 1))
    except (ValueError, TypeError) as exc:
        raise DomainError("group.invalid_schedule", f"Not a meeting schedule: {schedule}",
                          schedule=schedule) from exc
    return schedule


# --- groups -----------------------------------------------------------------------------------


def check_group_language(programme: Programme, language: str) -> str:
    """A group speaks one of its programme's languages. Raises member.unknown_language,
    group.language_not_in_programme."""
    check_language(language)
    if language not in programme.languages:
        raise DomainError("group.language_not_in_programme",
                          f"The programme's groups speak {', '.join(programme.languages)}",
                          language=language, allowed=list(programme.languages))
    return language


def create_group(session: Session, actor: Actor, programme: Programme, *, name: str,
                 schedule: str, timezone: str | None = None, language: str | None = None,
                 region: str | None = None, district: str | None = None, village: str | None = None,
                 country: str | None = None, policy: dict[str, Any] | None = None,
                 locale: str | None = None) -> Group:
    """Create a group (it is forming until it has enough members). Its time zone defaults to the
    programme's, its language to the programme's first, its locale (how amounts are written) to
    its language in its country. Raises policy.*, group.* (group.unknown_locale for a locale
    Babel does not know)."""
    can_administer(actor, programme_id=programme.id)
    refine(from_dict(programme.policy), policy)
    country = (country or programme.country).upper()
    language = check_group_language(programme, language or programme.languages[0])
    group = Group(
        programme_id=programme.id, name=name, country=country,
        locale=check_locale(locale) if locale else default_locale(language, country),
        region=region, district=district, village=village, currency=programme.currency,
        timezone=check_timezone(timezone or programme.timezone), language=language,
        schedule=check_schedule(schedule), policy=dict(policy or {}), last_seq=0,
        last_hash="0" * 64, lock_version=0,
    )
    session.add(group)
    session.flush()
    ledger.open_group_accounts(session, group)
    session.flush()
    return group


def get_group(session: Session, actor: Actor, group_id: int) -> Group:
    """The group, if the actor may see it. Raises group.not_found."""
    group = session.get(Group, group_id)
    if group is None:
        raise NotFound("group.not_found", "No such group", group_id=group_id)
    if actor.role == "member":
        if actor.group_id != group_id:
            raise NotFound("group.not_found", "No such group", group_id=group_id)
    else:
        can_read_group(actor, group)
    return group


def group_policy(session: Session, group: Group, cycle: Cycle | None = None) -> Policy:
    """The policy in force: programme, refined by the group, refined by the cycle."""
    programme = session.get(Programme, group.programme_id)
    assert programme is not None
    return policy_in_force(programme.policy, group.policy, cycle.policy if cycle is not None else None)


def policy_in_force(programme: dict[str, Any], group: dict[str, Any],
                    cycle: dict[str, Any] | None) -> Policy:
    """The policy of the stored settings: the programme's, refined by the group's and the cycle's."""
    policy = refine(from_dict(programme), group)
    return policy if cycle is None else refine(policy, cycle)


def check_refinements(session: Session, group: Group, programme: Programme,
                      refinements: dict[str, Any] | None) -> Policy:
    """The policy a group would have with these refinements; refused outside the programme's
    bounds or when the open cycle would no longer fit. Raises policy.unknown_setting,
    policy.out_of_range, policy.open_cycle_outside."""
    in_force = refine(from_dict(programme.policy), refinements)
    cycle = open_cycle(session, group.id)
    if cycle is not None:
        refine(in_force, cycle.policy)
        _check_open_cycle(in_force, cycle)
    return in_force


def _check_open_cycle(p: Policy, cycle: Cycle) -> None:
    fixed = [
        ("share_price_max", cycle.share_price, cycle.share_price <= p.share_price_max),
        ("social_fund_max", cycle.social_fund_contribution,
         cycle.social_fund_contribution <= p.social_fund_max),
        ("fine_max", max(cycle.fines.values(), default=0), max(cycle.fines.values(), default=0)
         <= p.fine_max),
        ("service_charge_bp", cycle.service_charge_bp,
         p.service_charge_min_bp <= cycle.service_charge_bp <= p.service_charge_max_bp),
        ("charge_method", cycle.charge_method, cycle.charge_method in p.charge_methods),
        ("loan_term_max_months", cycle.loan_term_months,
         cycle.loan_term_months <= p.loan_term_max_months),
        ("cycle_weeks", cycle.weeks, p.cycle_weeks_min <= cycle.weeks <= p.cycle_weeks_max),
    ]
    for setting, value, ok in fixed:
        if not ok:
            raise DomainError(
                "policy.open_cycle_outside",
                f"The open cycle's {setting.replace('_', ' ')} ({value}) would be outside the "
                "group's constitution; change it at the next cycle",
                setting=setting, value=value, cycle_id=cycle.id)


def update_group(session: Session, actor: Actor, group: Group, **changes: Any) -> Group:
    """Change a group's name, location, language, locale, schedule or policy refinements (its
    constitution: within the programme's bounds, and still fitting its open cycle's settings).

    Raises group.*, policy.out_of_range, policy.unknown_setting, cycle.settings_outside_policy.
    """
    can_manage(actor, group)
    programme = session.get(Programme, group.programme_id)
    assert programme is not None
    if "policy" in changes:
        check_refinements(session, group, programme, changes["policy"])
    for key, given in changes.items():
        value = given
        if key == "schedule":
            value = check_schedule(given)
        elif key == "timezone":
            value = check_timezone(given)
        elif key == "language":
            value = check_group_language(programme, given)
        elif key == "locale":
            value = check_locale(given)
        elif key not in ("name", "region", "district", "village", "policy"):
            raise DomainError("group.unknown_field", f"Cannot change {key}", field=key)
        setattr(group, key, value)
    session.flush()
    return group


def active_count(session: Session, group_id: int) -> int:
    return session.scalar(
        select(func.count()).select_from(Member).where(Member.group_id == group_id,
                                                       Member.status == "active")
    ) or 0


def group_status(session: Session, group: Group) -> str:
    """forming (too few members to meet) or active."""
    minimum = group_policy(session, group).members_min
    return "forming" if active_count(session, group.id) < minimum else "active"


def open_cycle(session: Session, group_id: int) -> Cycle | None:
    return session.scalars(select(Cycle).where(Cycle.group_id == group_id, Cycle.status == "open")).first()


# --- members ----------------------------------------------------------------------------------


def add_member(session: Session, actor: Actor, group: Group, *, name: str, phone: str,
               gender: str | None = None, birth_year: int | None = None,
               disability: bool = False, language: str | None = None, role: str = "member",
               joined_on: date | None = None, pin: str | None = None) -> Member:
    """Add a member; a group of `members_max` active members refuses the next one.

    Raises group.full, member.invalid_phone, member.duplicate_phone, member.*.
    """
    can_manage(actor, group)
    ledger.lock_group(session, group.id)
    policy = group_policy(session, group)
    count = active_count(session, group.id)
    if count >= policy.members_max:
        raise DomainError("group.full", f"The group already has {count} members (at most "
                          f"{policy.members_max})", maximum=policy.members_max, active=count)
    phone = normalise_phone(phone, group.country)
    duplicate = session.scalar(
        select(Member.id).where(Member.group_id == group.id, Member.phone == phone,
                                Member.status == "active")
    )
    if duplicate:
        raise DomainError("member.duplicate_phone", "Another member of this group has this phone",
                          phone=phone)
    check_member_fields(gender=gender, birth_year=birth_year, role=role)
    _check_seat(session, group, role)
    number = (session.scalar(select(func.max(Member.number)).where(Member.group_id == group.id)) or 0) + 1
    member = Member(
        group_id=group.id, number=number, name=name.strip(), phone=phone, gender=gender,
        birth_year=birth_year, disability=bool(disability),
        language=check_language(language or group.language), role=role, status="active",
        joined_on=joined_on or date.today(), pin_must_change=True, pin_failures=0,  # noqa: DTZ011
    )
    if not member.name:
        raise DomainError("member.name_required", "A member needs a name")
    session.add(member)
    session.flush()
    ledger.open_member_accounts(session, group, member)
    if pin is not None:
        set_initial_pin(member, pin)
    session.flush()
    return member


def check_member_fields(*, gender: str | None = None, birth_year: int | None = None,
                        role: str | None = None) -> None:
    """A member's gender, year of birth and role by the core's lists. Raises member.unknown_gender,
    member.invalid_birth_year, member.unknown_role."""
    if gender is not None and gender not in GENDERS:
        raise DomainError("member.unknown_gender", "Gender must be female, male or other",
                          gender=gender)
    if birth_year is not None and not 1900 <= birth_year <= date.today().year:  # noqa: DTZ011
        raise DomainError("member.invalid_birth_year", "Not a plausible year of birth",
                          birth_year=birth_year)
    if role is not None and role not in MEMBER_ROLES:
        raise DomainError("member.unknown_role", f"Role must be one of {', '.join(MEMBER_ROLES)}",
                          role=role, allowed=list(MEMBER_ROLES))


def _check_seat(session: Session, group: Group, role: str, member_id: int | None = None) -> None:
    """An office has a fixed number of seats (one treasurer, three key holders...). member.role_taken."""
    seats = ROLE_SEATS.get(role)
    if seats is None:
        return
    held = session.scalar(
        select(func.count()).select_from(Member).where(
            Member.group_id == group.id, Member.status == "active", Member.role == role,
            Member.id != (member_id or 0))
    ) or 0
    if held >= seats:
        raise DomainError("member.role_taken", f"The group already has {held} {role.replace('_', ' ')}(s)",
                          role=role, seats=seats)


def get_member(session: Session, actor: Actor, group: Group, member_id: int) -> Member:
    """A member of the group the actor may read. Raises member.not_found."""
    member = session.get(Member, member_id)
    if member is None or member.group_id != group.id:
        raise NotFound("member.not_found", "No such member", member_id=member_id)
    if actor.role == "member" and actor.member_id != member_id:
        raise NotFound("member.not_found", "No such member", member_id=member_id)
    return member


def member_by_number(session: Session, group: Group, number: int) -> Member:
    """The active member with this short number. Raises member.not_found."""
    member = session.scalars(
        select(Member).where(Member.group_id == group.id, Member.number == number)
    ).first()
    if member is None or member.status != "active":
        raise NotFound("member.not_found", f"No member number {number}", number=number)
    return member


def active_members(session: Session, group_id: int) -> list[Member]:
    return list(session.scalars(
        select(Member).where(Member.group_id == group_id, Member.status == "active")
        .order_by(Member.number)
    ))


def update_member(session: Session, actor: Actor, group: Group, member: Member,
                  **changes: Any) -> Member:
    """Change a member's name, role, phone, language or attributes.

    A member may change only their own language. Raises member.*, permission.*.
    """
    if actor.role == "member":
        if actor.member_id != member.id or set(changes) - {"language"}:
            raise PermissionDenied("permission.denied", "Members may change only their language")
    else:
        can_manage(actor, group)
    if member.group_id != group.id:
        raise NotFound("member.not_found", "No such member", member_id=member.id)
    for key, given in changes.items():
        value = given
        if key == "phone":
            value = normalise_phone(given, group.country)
            clash = session.scalar(select(Member.id).where(
                Member.group_id == group.id, Member.phone == value, Member.status == "active",
                Member.id != member.id))
            if clash:
                raise DomainError("member.duplicate_phone",
                                  "Another member of this group has this phone", phone=value)
        elif key == "language":
            value = check_language(given)
        elif key in ("gender", "birth_year", "role"):
            check_member_fields(**{key: given})
            if key == "role" and member.status == "active":
                _check_seat(session, group, given, member.id)
        elif key == "disability":
            value = bool(given)
        elif key != "name":
            raise DomainError("member.unknown_field", f"Cannot change {key}", field=key)
        setattr(member, key, value)
    session.flush()
    return member


def groups_of_phone(session: Session, phone: str) -> list[tuple[Member, Group]]:
    """Every active membership of a phone number (a phone may belong to members of two groups)."""
    rows = session.execute(
        select(Member, Group).join(Group, Group.id == Member.group_id)
        .where(Member.phone == phone, Member.status == "active").order_by(Group.name)
    ).all()
    return [(m, g) for m, g in rows]
