"""The worker's settings and the gateway, both taken from the installation's settings (read from
the environment once, where the worker starts: `vision_ledger.settings`)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from sms.gateway import DEFAULT_TIMEOUT, AfricasTalkingGateway
from vision_ledger.settings import Settings as InstallationSettings

# The defaults of the installation's settings (vision_ledger/settings.py), where they are written.
_DEFAULTS = InstallationSettings()


@dataclass(frozen=True)
class Settings:
    """How the worker sends: seconds for every delay, counts for the rest (VISION_SMS_*)."""

    concurrency: int = _DEFAULTS.sms_concurrency  # sends on the wire at once (a thread each)
    poll: float = _DEFAULTS.sms_poll  # how often an idle worker looks for due rows
    max_attempts: int = _DEFAULTS.sms_max_attempts  # sends of one message before it is failed
    backoff_base: float = _DEFAULTS.sms_backoff_base  # first retry within 5 s, then 10, 20... (full jitter)
    backoff_cap: float = _DEFAULTS.sms_backoff_cap
    held_delay: float = _DEFAULTS.sms_held_delay  # AT refused the account (balance, risk hold, key)
    uncertain_delay: float = _DEFAULTS.sms_uncertain_delay  # a send that may have gone out is repeated
    stale_after: float = _DEFAULTS.sms_stale_after  # a 'sending' row older than this lost its worker
    jobs_every: float = _DEFAULTS.sms_jobs_every  # loan-due reminders and monthly statements
    heartbeat_every: float = _DEFAULTS.sms_heartbeat  # the worker writes its heartbeat this often
    verify_hour: int = _DEFAULTS.verify_hour  # the nightly `verify --all` starts after this UTC hour

    @classmethod
    def of(cls, settings: InstallationSettings) -> Settings:
        """The worker's part of the installation's settings."""
        return cls(concurrency=settings.sms_concurrency, poll=settings.sms_poll,
                   max_attempts=settings.sms_max_attempts, backoff_base=settings.sms_backoff_base,
                   backoff_cap=settings.sms_backoff_cap, held_delay=settings.sms_held_delay,
                   uncertain_delay=settings.sms_uncertain_delay, stale_after=settings.sms_stale_after,
                   jobs_every=settings.sms_jobs_every, heartbeat_every=settings.sms_heartbeat,
                   verify_hour=settings.verify_hour)


def gateway_of(settings: InstallationSettings) -> AfricasTalkingGateway:
    """The AT gateway of AT_USERNAME, AT_API_KEY, AT_SENDER_ID, AT_BASE_URL and AT_TIMEOUT."""
    if not settings.at_username or not settings.at_api_key:
        raise SystemExit("AT_USERNAME and AT_API_KEY must be set to send SMS")
    return AfricasTalkingGateway(
        settings.at_username, settings.at_api_key, sender_id=settings.at_sender_id,
        base_url=settings.at_base_url, timeout=settings.at_timeout or DEFAULT_TIMEOUT,
    )


def worker_name() -> str:
    """host:pid, so an operator can tell which worker claimed a row."""
    return f"{socket.gethostname()}:{os.getpid()}"[:100]
