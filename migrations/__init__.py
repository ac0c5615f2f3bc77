"""Alembic migrations: the schema's only author in production."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

HERE = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    """An Alembic config for the given database URL, with this package's scripts."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the database at `url` to the newest schema (every branch head)."""
    command.upgrade(alembic_config(url), revision)


def upgrade_connection(connection: object, revision: str = "heads") -> None:
    """Migrate through an existing connection (tests, the embedded default)."""
    config = alembic_config(str(connection.engine.url.render_as_string(hide_password=False)))  # type: ignore[attr-defined]
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
