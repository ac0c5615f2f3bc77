"""The REST resources. Each blueprint checks the token and the path's scope before any route of
it validates or does anything else (see `api.auth.check_scope`)."""

from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from ..auth import check_scope
from ..idempotency import check_header

# Ids in paths: positive and small enough for a BIGINT, so no id reaches the database as an error.
ID = "int(min=1, max=999999999999)"


def _before() -> None:
    check_scope(request.view_args)
    check_header()


def blueprint(name: str, description: str) -> Blueprint:
    blp = Blueprint(name, name, url_prefix="/api", description=description)
    blp.before_request(_before)
    return blp
