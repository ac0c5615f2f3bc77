"""Fixtures of the SMS door's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sms.standin import StandIn


@pytest.fixture
def at_standin() -> Iterator[StandIn]:
    """Yield a started Africa's Talking SMS stand-in on 127.0.0.1; stop it afterwards."""
    with StandIn() as server:
        yield server
