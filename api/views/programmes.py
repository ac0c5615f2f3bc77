"""Programmes, their policy and their groups; and who the caller is."""

from __future__ import annotations

from typing import Any

from flask import g

from vision_ledger import groups

from .. import queries
from ..schemas import GroupCreate, GroupSchema, MeSchema, PolicyChanges, PolicySchema, ProgrammeSchema
from ..session import session
from . import ID, blueprint

blp = blueprint("programmes", "Programmes, their policy and groups")


@blp.route("/me", methods=["GET"])
@blp.response(200, MeSchema)
def me() -> dict[str, Any]:
    """The token's role and scope."""
    actor = g.actor
    return {"role": actor.role, "name": actor.name, "programme_id": actor.programme_id,
            "group_id": actor.group_id, "member_id": actor.member_id}


@blp.route(f"/programmes/<{ID}:programme_id>", methods=["GET"])
@blp.response(200, ProgrammeSchema)
def get_programme(programme_id: int) -> Any:
    """A programme (admins and auditors of it)."""
    return g.programme


@blp.route(f"/programmes/<{ID}:programme_id>/policy", methods=["GET"])
@blp.response(200, PolicySchema)
def get_policy(programme_id: int) -> Any:
    """The programme's policy: every number of the domain."""
    return g.programme.policy


@blp.route(f"/programmes/<{ID}:programme_id>/policy", methods=["PATCH"])
@blp.arguments(PolicyChanges)
@blp.response(200, PolicySchema)
def update_policy(changes: dict[str, Any], programme_id: int) -> Any:
    """Change programme settings (admins); every group's refinements must still fit."""
    return groups.update_programme_policy(session(), g.actor, g.programme, changes).policy


@blp.route(f"/programmes/<{ID}:programme_id>/groups", methods=["GET"])
@blp.response(200, GroupSchema(many=True))
def list_groups(programme_id: int) -> Any:
    """The programme's groups."""
    return queries.programme_groups(session(), g.actor, g.programme)


@blp.route(f"/programmes/<{ID}:programme_id>/groups", methods=["POST"])
@blp.arguments(GroupCreate)
@blp.response(201, GroupSchema)
def create_group(data: dict[str, Any], programme_id: int) -> Any:
    """Create a group (admins). It is forming until it has enough members."""
    return groups.create_group(session(), g.actor, g.programme, **data)
