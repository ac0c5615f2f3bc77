"""`among(column, "ids")`: the column is one of a list given at execution, as each database reads
such a list best.

SQLite gets `IN (?, ?, ...)` (an expanding parameter). PostgreSQL gets `= ANY(%(ids)s)`, the
list as one array parameter: the roll-up's statements name a programme's thousand groups in up
to ten places, and as separate placeholders they cost more to render, send, parse and plan than
some of the statements cost to run (psycopg spent 0.4 s converting them in a 1,000-group roll-up).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


class Among(ColumnElement[bool]):
    """`column` is among the values of the execution parameter `name` (a list of ids)."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy's convention: a class-level list
        ("column", InternalTraversal.dp_clauseelement), ("name", InternalTraversal.dp_string)]

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        self.column = column
        self.name = name


@compiles(Among)
def _expanding(element: Among, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column.in_(bindparam(element.name, expanding=True)), **kw))


@compiles(Among, "postgresql")
def _array(element: Among, compiler: Any, **kw: Any) -> str:
    values = bindparam(element.name, type_=ARRAY(BigInteger()))
    return str(compiler.process(element.column == any_(values), **kw))


def among(column: Any, name: str = "ids") -> ColumnElement[bool]:
    return Among(column, name)


__all__ = ["Among", "among"]
