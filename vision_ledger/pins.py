"""Treasurer and member PINs: a slow hash (scrypt), and a lock after repeated failures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from datetime import datetime, timedelta

from . import telemetry
from .db import utcnow
from .errors import DomainError
from .models import Member

# scrypt with n=2**14, r=8: about 20-40 ms a check here; slow enough against guessing a 4-digit
# PIN from a stolen table combined with the per-member salt, cheap enough for one check per session.
_N, _R, _P = 2**14, 8, 1


def _check_format(pin: str) -> None:
    if not (isinstance(pin, str) and len(pin) == 4 and pin.isdigit()):
        raise DomainError("pin.invalid_format", "A PIN is 4 digits")


def hash_pin(pin: str) -> str:
    _check_format(pin)
    salt = os.urandom(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def _matches(pin: str, stored: str) -> bool:
    _, salt_b64, digest_b64 = stored.split("$")
    digest = hashlib.scrypt(pin.encode(), salt=base64.b64decode(salt_b64), n=_N, r=_R, p=_P,
                            dklen=32)
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


def set_initial_pin(member: Member, pin: str) -> None:
    """A PIN given by staff: the member must change it on first use."""
    member.pin_hash = hash_pin(pin)
    member.pin_must_change = True
    member.pin_failures = 0
    member.pin_locked_until = None


def is_locked(member: Member, now: datetime | None = None) -> bool:
    now = now or utcnow()
    until = member.pin_locked_until
    if until is None:
        return False
    if until.tzinfo is None:
        from datetime import UTC

        until = until.replace(tzinfo=UTC)
    return until > now


def pin_matches(pin: str, stored: str) -> bool:
    """The slow comparison alone (scrypt), changing nothing: a door may run it before it takes a
    write lock and hand the answer to check_pin as `matched`."""
    return _matches(pin, stored)


def check_pin(member: Member, pin: str, *, attempts: int = 3, lock_minutes: int = 30,
              now: datetime | None = None, matched: bool | None = None) -> None:
    """Accept the member's PIN or raise; `attempts` wrong PINs lock it for `lock_minutes`.

    `matched` is pin_matches(pin, member.pin_hash) when the caller already computed it.
    The caller commits even when this raises, so a failure is counted. Raises pin.locked,
    pin.not_set, pin.wrong.
    """
    now = now or utcnow()
    if is_locked(member, now):
        raise DomainError("pin.locked", "Too many wrong PINs; try again later",
                          until=member.pin_locked_until)
    if not member.pin_hash:
        raise DomainError("pin.not_set", "No PIN is set for this member")
    if matched if matched is not None else _matches(pin, member.pin_hash):
        member.pin_failures = 0
        return
    member.pin_failures = (member.pin_failures or 0) + 1
    left = attempts - member.pin_failures
    if left <= 0:
        member.pin_failures = 0
        member.pin_locked_until = now + timedelta(minutes=lock_minutes)
        telemetry.pin_locked()
        raise DomainError("pin.locked", "Too many wrong PINs; try again later",
                          until=member.pin_locked_until, minutes=lock_minutes)
    raise DomainError("pin.wrong", "Wrong PIN", attempts_left=left)


def change_pin(member: Member, old: str, new: str, **limits: int) -> None:
    """The member replaces their PIN. Raises pin.wrong, pin.locked, pin.invalid_format, pin.same."""
    check_pin(member, old, **limits)
    _check_format(new)
    if new == old:
        raise DomainError("pin.same", "Choose a PIN different from the old one")
    member.pin_hash = hash_pin(new)
    member.pin_must_change = False
