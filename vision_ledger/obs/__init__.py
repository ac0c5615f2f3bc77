"""What the service says about itself, shared by every process that runs it: the JSON log lines
and their masking (`logs`), and the Prometheus metrics (`metrics`).

Not a door: the API (`serve`) and the SMS worker both use it, and neither imports the other for
it. It may import the core; the core's own reports go through `vision_ledger.telemetry` and never
import this package. This module imports neither prometheus_client nor Flask: prometheus_client
picks its storage when it is first imported, so `serve` must be able to read these settings and
set the directory before anything imports `vision_ledger.obs.metrics`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # named in a type only; the CLI imports this module before anything heavy
    from sqlalchemy.orm import Session

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True)
class Gauge:
    """A figure a door adds to every scrape, read from the database at scrape time: its name,
    help text and label names, and `read(session, now)` giving (label values, value) pairs."""

    name: str
    documentation: str
    labels: tuple[str, ...]
    read: Callable[[Session, datetime], list[tuple[list[str], float]]]
