"""Groups, their members and their cycles."""

from __future__ import annotations

from typing import Any

from flask import Response, g

from vision_ledger import constitution, cycles, groups, shareout, statements
from vision_ledger.actors import can_manage, can_read_group
from vision_ledger.pins import set_initial_pin

from .. import queries
from ..idempotency import HEADER_DOC, core_key, idempotent
from ..schemas import (
    CycleCreate,
    CycleSchema,
    EntrySchema,
    GroupPolicyChanges,
    GroupPolicySchema,
    GroupSchema,
    GroupUpdate,
    MemberCreate,
    MemberExit,
    MemberSchema,
    MemberUpdate,
    PinSet,
    StatementQuery,
    StatementSchema,
)
from ..session import session
from . import ID, blueprint

blp = blueprint("groups", "Groups, members and cycles")

GROUP = f"/groups/<{ID}:group_id>"
MEMBER = f"{GROUP}/members/<{ID}:member_id>"


@blp.route(GROUP, methods=["GET"])
@blp.response(200, GroupSchema)
def get_group(group_id: int) -> Any:
    """A group: staff of its programme, its treasurer and its members."""
    return g.group


@blp.route(GROUP, methods=["PATCH"])
@blp.arguments(GroupUpdate)
@blp.response(200, GroupSchema)
def update_group(changes: dict[str, Any], group_id: int) -> Any:
    """Change a group's name, location, language, schedule or policy refinements."""
    return groups.update_group(session(), g.actor, g.group, **changes)


@blp.route(f"{GROUP}/policy", methods=["GET"])
@blp.response(200, GroupPolicySchema)
def get_group_policy(group_id: int) -> Any:
    """The group's constitution: the policy in force and where each setting comes from."""
    return constitution.policy_view(session(), g.actor, g.group)


@blp.route(f"{GROUP}/policy", methods=["PATCH"])
@blp.arguments(GroupPolicyChanges)
@blp.response(200, GroupPolicySchema)
def update_group_policy(changes: dict[str, Any], group_id: int) -> Any:
    """Change the group's own settings within the programme's bounds (admins, the treasurer)."""
    s = session()
    constitution.change_constitution(s, g.actor, g.group, changes)
    return constitution.policy_view(s, g.actor, g.group)


# --- members -------------------------------------------------------------------------------------


@blp.route(f"{GROUP}/members", methods=["GET"])
@blp.response(200, MemberSchema(many=True))
def list_members(group_id: int) -> Any:
    """Every member, active or left, by number."""
    return queries.members(session(), g.actor, g.group)


@blp.route(f"{GROUP}/members", methods=["POST"])
@blp.arguments(MemberCreate)
@blp.response(201, MemberSchema)
def add_member(data: dict[str, Any], group_id: int) -> Any:
    """Add a member (admins, the treasurer); `pin` sets an initial PIN the member must change."""
    return groups.add_member(session(), g.actor, g.group, **data)


@blp.route(MEMBER, methods=["GET"])
@blp.response(200, MemberSchema)
def get_member(group_id: int, member_id: int) -> Any:
    """A member: the group's readers, and the member themselves."""
    return groups.get_member(session(), g.actor, g.group, member_id)


@blp.route(MEMBER, methods=["PATCH"])
@blp.arguments(MemberUpdate)
@blp.response(200, MemberSchema)
def update_member(changes: dict[str, Any], group_id: int, member_id: int) -> Any:
    """Change a member's role, phone, language or attributes (a member: only their language)."""
    s = session()
    member = groups.get_member(s, g.actor, g.group, member_id)
    return groups.update_member(s, g.actor, g.group, member, **changes)


@blp.route(f"{MEMBER}/pin", methods=["PUT"])
@blp.arguments(PinSet)
@blp.response(200, MemberSchema)
def set_pin(data: dict[str, Any], group_id: int, member_id: int) -> Any:
    """Set a member's initial PIN (admins, the treasurer); the member must change it on first use."""
    s = session()
    can_manage(g.actor, g.group)
    member = groups.get_member(s, g.actor, g.group, member_id)
    set_initial_pin(member, data["pin"])
    return member


@blp.route(f"{MEMBER}/exit", methods=["POST"])
@blp.doc(parameters=[HEADER_DOC])
@blp.arguments(MemberExit)
@blp.response(201, EntrySchema)
@blp.alt_response(204, description="The member left; nothing was saved and nothing owed")
@idempotent
def exit_member(data: dict[str, Any], group_id: int, member_id: int) -> Any:
    """A member leaves at the meeting: takes back their savings less what they owe."""
    s = session()
    member = groups.get_member(s, g.actor, g.group, member_id)
    entry = shareout.exit_member(s, g.actor, g.group, member, group_decision=data.get("group_decision"),
                                 idempotency_key=core_key())
    return entry if entry is not None else Response(status=204)


@blp.route(f"{MEMBER}/statement", methods=["GET"])
@blp.arguments(StatementQuery, location="query")
@blp.response(200, StatementSchema)
def statement(query: dict[str, Any], group_id: int, member_id: int) -> Any:
    """The member's position and every entry about them in the date range."""
    s = session()
    member = groups.get_member(s, g.actor, g.group, member_id)
    return statements.member_statement(s, g.actor, g.group, member, **query)


# --- cycles --------------------------------------------------------------------------------------


@blp.route(f"{GROUP}/cycles", methods=["GET"])
@blp.response(200, CycleSchema(many=True))
def list_cycles(group_id: int) -> Any:
    """The group's cycles, oldest first."""
    return queries.cycles(session(), g.actor, g.group)


@blp.route(f"{GROUP}/cycles", methods=["POST"])
@blp.arguments(CycleCreate)
@blp.response(201, CycleSchema)
def start_cycle(data: dict[str, Any], group_id: int) -> Any:
    """Start the group's next cycle (admins, the treasurer): share price, social fund, fines."""
    return cycles.start_cycle(session(), g.actor, g.group, **data)


@blp.route(f"{GROUP}/cycles/<{ID}:cycle_id>", methods=["GET"])
@blp.response(200, CycleSchema)
def get_cycle(group_id: int, cycle_id: int) -> Any:
    """A cycle's settings."""
    can_read_group(g.actor, g.group)
    return cycles.get_cycle(session(), g.group, cycle_id)
