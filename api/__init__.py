"""The web door: the REST API for programme staff and treasurers, and the command line."""

from .app import create_app

__all__ = ["create_app"]
