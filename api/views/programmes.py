"""Programmes, their policy and their groups; and who the caller is."""

from __future__ import annotations

from typing import Any

from flask import g

from vision_ledger import groups, programmes
from vision_ledger.actors import can_operate, refuse_operator

from .. import queries
from ..auth import create_token
from ..schemas import (
    GroupCreate,
    GroupSchema,
    MeSchema,
    PolicyPatch,
    PolicySchema,
    ProgrammeCreate,
    ProgrammeSchema,
    ProgrammeTokenCreate,
    ProgrammeTokenSchema,
)
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


@blp.route("/programmes", methods=["GET"])
@blp.response(200, ProgrammeSchema(many=True))
def list_programmes() -> Any:
    """Every programme of the installation (operators)."""
    return programmes.list_programmes(session(), g.actor)


@blp.route("/programmes", methods=["POST"])
@blp.arguments(ProgrammeCreate)
@blp.response(201, ProgrammeSchema)
def create_programme(data: dict[str, Any]) -> Any:
    """Create a programme (operators): its money defaults are the USD ones at `usd_rate`."""
    return programmes.create_programme(session(), g.actor, **data)


@blp.route(f"/programmes/<{ID}:programme_id>", methods=["GET"])
@blp.response(200, ProgrammeSchema)
def get_programme(programme_id: int) -> Any:
    """A programme (admins and auditors of it; operators)."""
    return g.programme


@blp.route(f"/programmes/<{ID}:programme_id>/tokens", methods=["POST"])
@blp.arguments(ProgrammeTokenCreate)
@blp.response(201, ProgrammeTokenSchema)
def create_programme_token(data: dict[str, Any], programme_id: int) -> Any:
    """A token for the programme's staff (operators): its first admin, or an auditor. The secret
    is in this response only."""
    can_operate(g.actor)
    token, secret = create_token(session(), role=data["role"], name=data["name"],
                                 programme_id=programme_id)
    return {"id": token.id, "role": token.role, "name": token.name,
            "programme_id": token.programme_id, "secret": secret}


@blp.route(f"/programmes/<{ID}:programme_id>/policy", methods=["GET"])
@blp.response(200, PolicySchema)
def get_policy(programme_id: int) -> Any:
    """The programme's policy: every number of the domain."""
    return g.programme.policy


@blp.route(f"/programmes/<{ID}:programme_id>/policy", methods=["PATCH"])
@blp.arguments(PolicyPatch)
@blp.response(200, PolicySchema)
def update_policy(changes: dict[str, Any], programme_id: int) -> Any:
    """Change programme settings (admins); every group's refinements must still fit."""
    return programmes.update_programme_policy(session(), g.actor, g.programme, changes).policy


@blp.route(f"/programmes/<{ID}:programme_id>/groups", methods=["GET"])
@blp.response(200, GroupSchema(many=True))
def list_groups(programme_id: int) -> Any:
    """The programme's groups (its staff)."""
    refuse_operator(g.actor)
    return queries.programme_groups(session(), g.actor, g.programme)


@blp.route(f"/programmes/<{ID}:programme_id>/groups", methods=["POST"])
@blp.arguments(GroupCreate)
@blp.response(201, GroupSchema)
def create_group(data: dict[str, Any], programme_id: int) -> Any:
    """Create a group (admins). It is forming until it has enough members."""
    return groups.create_group(session(), g.actor, g.programme, **data)
