"""System tests (servers, backups, replicas, concurrent processes) are marked slow; scripts/test.sh
still runs them in both passes (`-m "not slow"` leaves them out of a quick local run)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.slow)
