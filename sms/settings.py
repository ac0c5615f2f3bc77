"""The worker's settings and the gateway, both read from the environment (or a test's dict)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, fields

from sms.gateway import DEFAULT_TIMEOUT, AfricasTalkingGateway

# Environment variable -> Settings field.
ENV: dict[str, str] = {
    "VISION_SMS_CONCURRENCY": "concurrency",
    "VISION_SMS_POLL": "poll",
    "VISION_SMS_MAX_ATTEMPTS": "max_attempts",
    "VISION_SMS_BACKOFF_BASE": "backoff_base",
    "VISION_SMS_BACKOFF_CAP": "backoff_cap",
    "VISION_SMS_HELD_DELAY": "held_delay",
    "VISION_SMS_UNCERTAIN_DELAY": "uncertain_delay",
    "VISION_SMS_STALE_AFTER": "stale_after",
    "VISION_SMS_JOBS_EVERY": "jobs_every",
    "VISION_SMS_HEARTBEAT": "heartbeat_every",
    "VISION_VERIFY_HOUR": "verify_hour",
}


@dataclass(frozen=True)
class Settings:
    """How the worker sends: seconds for every delay, counts for the rest."""

    concurrency: int = 8  # sends on the wire at once (a thread each)
    poll: float = 0.5  # how often an idle worker looks for due rows
    max_attempts: int = 8  # sends of one message before it is failed (retry and uncertain outcomes)
    backoff_base: float = 5.0  # first retry within 5 s, then 10, 20... (full jitter)
    backoff_cap: float = 900.0
    held_delay: float = 1800.0  # AT refused the account (balance, risk hold, key): try again later
    uncertain_delay: float = 600.0  # a send that may have gone out is repeated after this long
    stale_after: float = 120.0  # a 'sending' row older than this lost its worker (PostgreSQL)
    jobs_every: float = 600.0  # loan-due reminders and monthly statements are looked for this often
    heartbeat_every: float = 10.0  # the worker writes its heartbeat this often
    verify_hour: int = 1  # the nightly `verify --all` starts at the first job run after this UTC hour

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from VISION_SMS_* variables; anything unset keeps its default."""
        env = os.environ if env is None else env
        types = {f.name: f.type for f in fields(cls)}
        values: dict[str, float | int] = {}
        for var, name in ENV.items():
            raw = env.get(var)
            if raw not in (None, ""):
                values[name] = int(raw) if types[name] in (int, "int") else float(raw)
        # Each value was converted to its own field's type just above; mypy sees only the union.
        settings = cls(**values)  # type: ignore[arg-type]
        if settings.concurrency < 1 or settings.max_attempts < 1:
            raise ValueError("VISION_SMS_CONCURRENCY and VISION_SMS_MAX_ATTEMPTS must be >= 1")
        return settings


def parse_timeout(raw: str | None) -> tuple[float, float]:
    """AT_TIMEOUT: "connect,read" or one number for both (seconds); the SDK's default when unset."""
    if not raw:
        return DEFAULT_TIMEOUT
    parts = [float(x) for x in raw.split(",")]
    return (parts[0], parts[-1])


def gateway_from_env(env: Mapping[str, str] | None = None) -> AfricasTalkingGateway:
    """The AT gateway from AT_USERNAME, AT_API_KEY, AT_SENDER_ID, AT_BASE_URL and AT_TIMEOUT."""
    env = os.environ if env is None else env
    username, api_key = env.get("AT_USERNAME"), env.get("AT_API_KEY")
    if not username or not api_key:
        raise SystemExit("AT_USERNAME and AT_API_KEY must be set to send SMS")
    return AfricasTalkingGateway(
        username, api_key, sender_id=env.get("AT_SENDER_ID") or None,
        base_url=env.get("AT_BASE_URL") or None, timeout=parse_timeout(env.get("AT_TIMEOUT")),
    )


def worker_name() -> str:
    """host:pid, so an operator can tell which worker claimed a row."""
    return f"{socket.gethostname()}:{os.getpid()}"[:100]
