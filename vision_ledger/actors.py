"""Who is acting, through which door; and the permission checks every core operation makes."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import NotFound, PermissionDenied
from .models import Group

ROLES = ("operator", "admin", "auditor", "treasurer", "member", "system")
CHANNELS = ("api", "ussd", "sms", "cli", "system")


@dataclass(frozen=True)
class Actor:
    """An admin or auditor is scoped to a programme; a treasurer or member to a group.

    An `operator` runs the installation: creates programmes and their first staff tokens, reads
    programme records and policies; never a group, a member or the books (those are the programme
    staff's). `system` is the service itself (scheduled reminders, the demo loader): unscoped.
    """

    role: str
    channel: str = "api"
    programme_id: int | None = None
    group_id: int | None = None
    member_id: int | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}")
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}")
        if self.role in ("admin", "auditor") and self.programme_id is None:
            raise ValueError(f"{self.role} needs a programme")
        if self.role in ("treasurer", "member") and self.group_id is None:
            raise ValueError(f"{self.role} needs a group")
        if self.role == "member" and self.member_id is None:
            raise ValueError("member needs a member id")
        if self.role == "operator" and (self.programme_id, self.group_id, self.member_id) != (
                None, None, None):
            raise ValueError("an operator has no programme, group or member scope")

    @property
    def label(self) -> str:
        who = f"member:{self.member_id}" if self.member_id else self.name or "-"
        return f"{self.role}:{who}"[:100]

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(role="system", channel="system", name=name)


def _in_scope(actor: Actor, group: Group) -> bool:
    if actor.role == "system":
        return True
    if actor.role in ("admin", "auditor"):
        return group.programme_id == actor.programme_id
    return group.id == actor.group_id


def can_read_group(actor: Actor, group: Group) -> None:
    """Group-wide reads: staff of the programme, and the group's treasurer. Raises NotFound."""
    if not _in_scope(actor, group) or actor.role == "member":
        raise NotFound("group.not_found", "No such group", group_id=group.id)


def can_read_member(actor: Actor, group: Group, member_id: int) -> None:
    """A member reads only their own records; everyone who reads the group reads all. NotFound."""
    if not _in_scope(actor, group):
        raise NotFound("group.not_found", "No such group", group_id=group.id)
    if actor.role == "member" and actor.member_id != member_id:
        raise NotFound("member.not_found", "No such member", member_id=member_id)


def can_record(actor: Actor, group: Group) -> None:
    """Meeting business (money at the meeting): the group's treasurer only.

    Raises NotFound outside scope, PermissionDenied for staff, auditors and members.
    """
    if not _in_scope(actor, group):
        raise NotFound("group.not_found", "No such group", group_id=group.id)
    if actor.role not in ("treasurer", "system"):
        raise PermissionDenied(
            "permission.treasurer_only", "Only the group's treasurer records meeting business",
            role=actor.role,
        )


def can_manage(actor: Actor, group: Group) -> None:
    """Set-up of a group (members, cycles, settings): programme admins and the group's treasurer."""
    if not _in_scope(actor, group):
        raise NotFound("group.not_found", "No such group", group_id=group.id)
    if actor.role not in ("admin", "treasurer", "system"):
        raise PermissionDenied(
            "permission.read_only" if actor.role == "auditor" else "permission.denied",
            "This role may not change the group", role=actor.role,
        )


def can_operate(actor: Actor) -> None:
    """Installation management (programmes, their first staff tokens): operators and the system.

    Raises permission.operator_only.
    """
    if actor.role not in ("operator", "system"):
        raise PermissionDenied("permission.operator_only",
                               "Only the installation's operators manage programmes", role=actor.role)


def refuse_operator(actor: Actor) -> None:
    """An operator reaches programme records, never their books or settings. permission.staff_only."""
    if actor.role == "operator":
        raise PermissionDenied("permission.staff_only",
                               "Operators manage the installation; programmes' staff run them",
                               role=actor.role)


def can_administer(actor: Actor, group: Group | None = None, programme_id: int | None = None) -> None:
    """Programme staff acts (groups, grants, staff reversals): admins of the programme only."""
    pid = group.programme_id if group is not None else programme_id
    if actor.role == "system":
        return
    if group is None:
        refuse_operator(actor)
    if actor.role in ("admin", "auditor") and actor.programme_id == pid:
        if actor.role == "admin":
            return
        raise PermissionDenied("permission.read_only", "Auditors read; they never write",
                               role=actor.role)
    if group is not None and actor.role in ("treasurer", "member") and actor.group_id == group.id:
        raise PermissionDenied("permission.staff_only", "Only programme staff may do this",
                               role=actor.role)
    raise NotFound("group.not_found" if group is not None else "programme.not_found",
                   "No such group" if group is not None else "No such programme")
