"""Faults: the core's own broken invariants (`errors.LedgerFault`), logged and counted.

A refusal (DomainError) is the rules working; a fault is a bug. Every fault raised through
`record` is logged at ERROR on the `vision_ledger.faults` logger with the entry's facts and the
process's running count, counted here per code (`counts()`), and reported to the telemetry
sinks (`/metrics` exports them as `vision_invariant_faults_total{code=...}`).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any

from . import telemetry
from .errors import LedgerFault

log = logging.getLogger("vision_ledger.faults")
_lock = threading.Lock()
_counts: Counter[str] = Counter()


def record(fault: LedgerFault, **context: Any) -> LedgerFault:
    """Count and log a fault with what the core was doing; returns it for `raise`."""
    with _lock:
        _counts[fault.code] += 1
        total = sum(_counts.values())
    fault.facts.update({k: v for k, v in context.items() if k not in fault.facts})
    log.error("ledger fault %s (%s) faults_total=%d facts=%r", fault.code, fault.message, total,
              fault.facts)
    telemetry.invariant_fault(fault.code)
    return fault


def counts() -> dict[str, int]:
    """Faults recorded by this process since it started, per code."""
    with _lock:
        return dict(_counts)


def total() -> int:
    with _lock:
        return sum(_counts.values())
