"""The staff console: server-rendered pages under /console for programme officers and auditors,
over the same core and with the same tokens, roles and scope as the REST API."""

from __future__ import annotations

from flask import Flask

from . import models  # noqa: F401 - the ORM knows the console's tables
from .views import blueprint


def register(app: Flask) -> None:
    app.register_blueprint(blueprint)
