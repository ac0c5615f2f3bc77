"""Fixtures shared by the core's tests."""

import pytest

from .helpers import ago, save


@pytest.fixture
def meeting_group(session, factory):
    """15 members, each with 5 shares (KES 500) bought at a meeting 10 weeks ago, still open."""
    group = factory.ready()
    factory.meeting(group, on=ago(10))
    save(session, factory, group, 5)
    return group
