"""The installation's settings: every environment variable the service reads, parsed and checked
once where a process starts (the app factory, the SMS worker, the command line) and passed on from
there; nothing else reads the environment.

`Settings.from_env(os.environ)` refuses a bad value with a `SettingsError` naming the variable.
Each field names its variable (`VARIABLES` maps one to the other); README's configuration table
lists the same variables with the same defaults (tests/core/test_settings.py compares them). The
doors find the process's settings in the Flask config (`settings_of(app.config)`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .pins import MIN_PEPPER_LENGTH
from .ratelimits import Limit


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot use."""


def _text(raw: str) -> str:
    return raw


def _whole(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if value < minimum or (maximum is not None and value > maximum):
            raise ValueError
        return value
    parse.__doc__ = (f"a whole number from {minimum} to {maximum}" if maximum is not None
                     else f"a whole number, at least {minimum}")
    return parse


def _seconds(raw: str) -> float:
    """a number of seconds, not negative"""
    value = float(raw)
    if not value >= 0 or value == float("inf"):
        raise ValueError
    return value


def _deadline(raw: str) -> float:
    """a number of seconds, more than 0 and at most 30"""
    value = float(raw)
    if not 0 < value <= 30:
        raise ValueError
    return value


def _limit(raw: str) -> Limit:
    """COUNT/SECONDS, both positive (e.g. 20/300)"""
    return Limit.parse(raw)


def _switch(raw: str) -> bool:
    """on or off"""
    chosen = raw.strip().lower()
    if chosen in ("on", "1", "true", "yes"):
        return True
    if chosen in ("off", "0", "false", "no"):
        return False
    raise ValueError


def _log_format(raw: str) -> str:
    """json or text"""
    chosen = raw.strip().lower()
    if chosen not in ("json", "text"):
        raise ValueError
    return chosen


def _log_level(raw: str) -> str:
    """a logging level: DEBUG, INFO, WARNING, ERROR or CRITICAL"""
    chosen = raw.strip().upper()
    if chosen not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError
    return chosen


def _pepper(raw: str) -> str:
    if len(raw) < MIN_PEPPER_LENGTH:
        raise ValueError
    return raw


_pepper.__doc__ = f"at least {MIN_PEPPER_LENGTH} characters"


def _list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _networks(raw: str) -> tuple[str, ...]:
    """comma-separated CIDRs (e.g. 127.0.0.1/32,10.0.0.0/8)"""
    parts = _list(raw)
    for part in parts:
        ipaddress.ip_network(part, strict=False)
    return parts


def _timeout(raw: str) -> tuple[float, float]:
    """connect,read seconds (or one number for both), positive"""
    parts = [float(x) for x in raw.split(",")]
    if len(parts) not in (1, 2) or not all(0 < p < float("inf") for p in parts):
        raise ValueError
    return (parts[0], parts[-1])


def _env(name: str, parse: Callable[[str], Any] = _text, *, secret: bool = False) -> dict[str, Any]:
    """A field's metadata: its variable, how its value is read, whether it is a secret."""
    return {"env": name, "parse": parse, "secret": secret}


@dataclass(frozen=True)
class Settings:
    """What the environment says, typed; None where a variable is unset and has no default."""

    database_url: str | None = field(default=None, metadata=_env("VISION_DATABASE_URL"))
    database_replica_url: str | None = field(default=None, metadata=_env("VISION_DATABASE_REPLICA_URL"))
    replica_max_lag: float = field(default=30.0, metadata=_env("VISION_REPLICA_MAX_LAG", _seconds))
    secret_key: str | None = field(default=None, metadata=_env("VISION_SECRET_KEY", secret=True))
    ussd_secret: str | None = field(default=None, metadata=_env("VISION_USSD_SECRET", secret=True))
    sms_secret: str | None = field(default=None, metadata=_env("VISION_SMS_SECRET", secret=True))
    pin_pepper: str | None = field(default=None, metadata=_env("VISION_PIN_PEPPER", _pepper, secret=True))
    pin_pepper_previous: tuple[str, ...] = field(default=(),
        metadata=_env("VISION_PIN_PEPPER_PREVIOUS", _list, secret=True))
    # Failed API authentications allowed per client address and per token prefix.
    auth_failure_limit: Limit = field(default=Limit(20, 300),
        metadata=_env("VISION_AUTH_FAILURE_LIMIT", _limit))
    # USSD hops allowed per phone: a person on a handset manages about one hop in two seconds
    # (the network's round trip plus typing); more is a script.
    ussd_hop_limit: Limit = field(default=Limit(30, 60), metadata=_env("VISION_USSD_HOP_LIMIT", _limit))
    # Seconds a USSD hop may take before it answers "busy" and writes nothing (ussd/admission.py):
    # Africa's Talking waits about 5 s for a page.
    ussd_hop_deadline: float = field(default=4.0, metadata=_env("VISION_USSD_HOP_DEADLINE", _deadline))
    # Replies to inbound SMS commands allowed per phone: each one spends SMS budget.
    sms_reply_limit: Limit = field(default=Limit(10, 3600), metadata=_env("VISION_SMS_REPLY_LIMIT", _limit))
    at_username: str | None = field(default=None, metadata=_env("AT_USERNAME"))
    at_api_key: str | None = field(default=None, metadata=_env("AT_API_KEY", secret=True))
    at_sender_id: str | None = field(default=None, metadata=_env("AT_SENDER_ID"))
    at_base_url: str | None = field(default=None, metadata=_env("AT_BASE_URL"))
    at_timeout: tuple[float, float] | None = field(default=None, metadata=_env("AT_TIMEOUT", _timeout))
    sms_concurrency: int = field(default=8, metadata=_env("VISION_SMS_CONCURRENCY", _whole(1)))
    sms_max_attempts: int = field(default=8, metadata=_env("VISION_SMS_MAX_ATTEMPTS", _whole(1)))
    sms_backoff_base: float = field(default=5.0, metadata=_env("VISION_SMS_BACKOFF_BASE", _seconds))
    sms_backoff_cap: float = field(default=900.0, metadata=_env("VISION_SMS_BACKOFF_CAP", _seconds))
    sms_held_delay: float = field(default=1800.0, metadata=_env("VISION_SMS_HELD_DELAY", _seconds))
    sms_uncertain_delay: float = field(default=600.0, metadata=_env("VISION_SMS_UNCERTAIN_DELAY", _seconds))
    sms_stale_after: float = field(default=120.0, metadata=_env("VISION_SMS_STALE_AFTER", _seconds))
    sms_poll: float = field(default=0.5, metadata=_env("VISION_SMS_POLL", _seconds))
    sms_jobs_every: float = field(default=600.0, metadata=_env("VISION_SMS_JOBS_EVERY", _seconds))
    sms_heartbeat: float = field(default=10.0, metadata=_env("VISION_SMS_HEARTBEAT", _seconds))
    verify_hour: int = field(default=1, metadata=_env("VISION_VERIFY_HOUR", _whole(0, 23)))
    log_level: str = field(default="INFO", metadata=_env("VISION_LOG_LEVEL", _log_level))
    log_format: str = field(default="json", metadata=_env("VISION_LOG_FORMAT", _log_format))
    metrics: bool = field(default=False, metadata=_env("VISION_METRICS", _switch))
    metrics_allow: tuple[str, ...] = field(default=("127.0.0.1/32", "::1/128"),
        metadata=_env("VISION_METRICS_ALLOW", _networks))
    worker_metrics_port: int | None = field(default=None,
        metadata=_env("VISION_WORKER_METRICS_PORT", _whole(1, 65535)))
    worker_metrics_addr: str = field(default="127.0.0.1", metadata=_env("VISION_WORKER_METRICS_ADDR"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """The settings of these variables; an unset or empty one keeps its default.

        Raises SettingsError naming the first variable whose value cannot be used."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw is None or not raw.strip():
                continue
            parse = f.metadata["parse"]
            try:
                values[f.name] = parse(raw.strip())
            except ValueError:
                shown = "(hidden)" if f.metadata["secret"] else repr(raw)
                raise SettingsError(f"{f.metadata['env']} must be {parse.__doc__}, not {shown}") from None
        return cls(**values)

    def secrets(self) -> tuple[str, ...]:
        """Every secret value set: what no log line may carry."""
        out: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.metadata["secret"] and value:
                out.extend(value if isinstance(value, tuple) else (value,))
        return tuple(out)


# Environment variable -> Settings field.
VARIABLES: dict[str, str] = {f.metadata["env"]: f.name for f in fields(Settings)}


def settings_of(config: Mapping[str, Any]) -> Settings:
    """The Settings an application's configuration holds (`SETTINGS`, where `api.create_app` puts
    them): how the doors' request handlers read theirs (`settings_of(current_app.config)`)."""
    settings: Settings = config["SETTINGS"]
    return settings
