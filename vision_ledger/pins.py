"""Treasurer and member PINs: a slow, peppered hash, and a lock after repeated failures.

A 4-digit PIN has 10,000 values, so no hash of it alone survives a stolen database: the hash is
keyed by a server-side secret, the *pepper* (`VISION_PIN_PEPPER`, never stored in the database),
before the slow scrypt runs. Without the pepper the stored hashes are useless to an attacker;
with it, each guess still costs one scrypt.

The stored string names everything needed to check it:
`vlpin1$scrypt$n=32768,r=8,p=1$<pepper id>$<salt b64>$<digest b64>`. When the parameters or the
current pepper change, the next successful check rehashes the PIN. Earlier peppers stay usable
while listed in `VISION_PIN_PEPPER_PREVIOUS` (comma-separated); hashes of the first version
(`scrypt$salt$digest`, no pepper) are still read and rehashed on their next success.

Failures are counted by the database itself (`pin_failures = pin_failures + 1 ... RETURNING`),
so concurrent guesses each count once and none is checked after the lock took hold.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_, update
from sqlalchemy.orm import Session, object_session
from sqlalchemy.orm.attributes import set_committed_value

from . import telemetry
from .db import utcnow
from .errors import DomainError
from .models import Member

# scrypt with n=2**14, r=8 (16 MiB, 20-40 ms here): one check per USSD session. The pepper is
# what protects a stolen table; these parameters are stored in each hash and may be raised.
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_LEGACY = {"n": 2**14, "r": 8, "p": 1}
_VERSION = "vlpin1"
PEPPER_ENV = "VISION_PIN_PEPPER"
PREVIOUS_ENV = "VISION_PIN_PEPPER_PREVIOUS"
MIN_PEPPER_LENGTH = 32


@dataclass(frozen=True)
class Peppers:
    """The current pepper (new hashes) and the previous ones (still accepted, rehashed on use)."""

    current: bytes
    previous: tuple[bytes, ...] = ()

    def by_id(self, pepper_id: str) -> bytes | None:
        for key in (self.current, *self.previous):
            if pepper_id_of(key) == pepper_id:
                return key
        return None


def pepper_id_of(key: bytes) -> str:
    """A short public name of a pepper (which key made a hash), revealing nothing of it."""
    return hashlib.sha256(b"vision-ledger pin pepper id|" + key).hexdigest()[:12]


_configured: dict[str, Peppers] = {}  # "peppers" when set by configure()


def configure(current: str | None, previous: tuple[str, ...] = ()) -> None:
    """Set the process's peppers (from its settings, where it starts; None: no pepper, so no PIN
    can be hashed or checked). Raises pin.pepper_too_short."""
    _configured.pop("peppers", None)
    if current is not None:
        _configured["peppers"] = _peppers_of(current, previous)


def _peppers_of(current: str, previous: tuple[str, ...] | list[str]) -> Peppers:
    if len(current) < MIN_PEPPER_LENGTH:
        raise DomainError("pin.pepper_too_short",
                          f"{PEPPER_ENV} must be at least {MIN_PEPPER_LENGTH} characters",
                          minimum=MIN_PEPPER_LENGTH)
    return Peppers(current.encode(), tuple(p.encode() for p in previous if p))


def peppers() -> Peppers:
    """The configured peppers. Raises pin.no_pepper."""
    if "peppers" in _configured:
        return _configured["peppers"]
    raise DomainError("pin.no_pepper", f"{PEPPER_ENV} is not set: PINs cannot be hashed or checked")


def generate_pepper() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def _check_format(pin: str) -> None:
    if not (isinstance(pin, str) and len(pin) == 4 and pin.isdigit()):
        raise DomainError("pin.invalid_format", "A PIN is 4 digits")


def _derive(pin: str, pepper: bytes, salt: bytes, params: dict[str, int]) -> bytes:
    keyed = hmac.new(pepper, pin.encode(), hashlib.sha256).digest()
    return hashlib.scrypt(keyed, salt=salt, n=params["n"], r=params["r"], p=params["p"], dklen=32,
                          maxmem=256 * 1024 * 1024)


def hash_pin(pin: str) -> str:
    """The stored form of a PIN under the current pepper and parameters. Raises pin.invalid_format,
    pin.no_pepper."""
    _check_format(pin)
    pepper = peppers().current
    salt = os.urandom(16)
    digest = _derive(pin, pepper, salt, SCRYPT)
    params = ",".join(f"{k}={v}" for k, v in SCRYPT.items())
    return "$".join((_VERSION, "scrypt", params, pepper_id_of(pepper),
                     base64.b64encode(salt).decode(), base64.b64encode(digest).decode()))


def _matches(pin: str, stored: str) -> bool:
    parts = stored.split("$")
    if parts[0] == "scrypt" and len(parts) == 3:  # the first version: no pepper, fixed parameters
        _, salt_b64, digest_b64 = parts
        digest = hashlib.scrypt(pin.encode(), salt=base64.b64decode(salt_b64), dklen=32, **_LEGACY)
        return hmac.compare_digest(digest, base64.b64decode(digest_b64))
    if len(parts) != 6 or parts[0] != _VERSION or parts[1] != "scrypt":
        raise DomainError("pin.unknown_hash", "The stored PIN hash has an unknown format")
    _, _, params_text, pepper_id, salt_b64, digest_b64 = parts
    pepper = peppers().by_id(pepper_id)
    if pepper is None:
        raise DomainError("pin.unknown_pepper", "The PIN was hashed with a pepper this server does not "
                          f"have (add it to {PREVIOUS_ENV})", pepper_id=pepper_id)
    params = {k: int(v) for k, v in (item.split("=") for item in params_text.split(","))}
    digest = _derive(pin, pepper, base64.b64decode(salt_b64), params)
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


def needs_rehash(stored: str) -> bool:
    """True when the hash was made with other parameters or another pepper than the current ones."""
    params = ",".join(f"{k}={v}" for k, v in SCRYPT.items())
    parts = stored.split("$")
    return not (len(parts) == 6 and parts[0] == _VERSION and parts[2] == params
                and parts[3] == pepper_id_of(peppers().current))


def set_initial_pin(member: Member, pin: str) -> None:
    """A PIN given by staff: the member must change it on first use."""
    member.pin_hash = hash_pin(pin)
    member.pin_must_change = True
    member.pin_failures = 0
    member.pin_locked_until = None


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def is_locked(member: Member, now: datetime | None = None) -> bool:
    now = now or utcnow()
    until = member.pin_locked_until
    return until is not None and _aware(until) > now


def pin_matches(pin: str, stored: str) -> bool:
    """The slow comparison alone (scrypt), changing nothing: a door may run it before it takes a
    write lock and hand the answer to check_pin as `matched`."""
    return _matches(pin, stored)


def _locked_error(until: datetime | None, **facts: object) -> DomainError:
    return DomainError("pin.locked", "Too many wrong PINs; try again later", until=until, **facts)


def check_pin(member: Member, pin: str, *, attempts: int = 3, lock_minutes: int = 30,
              now: datetime | None = None, matched: bool | None = None) -> None:
    """Accept the member's PIN or raise; `attempts` wrong PINs lock it for `lock_minutes`.

    `matched` is pin_matches(pin, member.pin_hash) when the caller already computed it. The
    verdict is applied by one atomic UPDATE of the member's row guarded by "not locked", so
    concurrent checks each count once and none passes once the lock is set. The caller commits
    even when this raises, so a failure is counted. Raises pin.locked, pin.not_set, pin.wrong.
    """
    now = now or utcnow()
    if is_locked(member, now):
        raise _locked_error(member.pin_locked_until)
    if not member.pin_hash:
        raise DomainError("pin.not_set", "No PIN is set for this member")
    ok = matched if matched is not None else _matches(pin, member.pin_hash)
    session = object_session(member)
    if session is None:
        raise RuntimeError("check_pin needs a member loaded by a session")
    session.flush()
    table = Member.__table__
    unlocked = and_(table.c.id == member.id,
                    or_(table.c.pin_locked_until.is_(None), table.c.pin_locked_until <= now))
    if ok:
        row = session.execute(update(table).where(unlocked).values(pin_failures=0)
                              .returning(table.c.id)).first()
        if row is None:  # locked by a concurrent wrong guess after this check began
            _reload(session, member)
            raise _locked_error(member.pin_locked_until)
        set_committed_value(member, "pin_failures", 0)
        if needs_rehash(member.pin_hash):
            member.pin_hash = hash_pin(pin)
            session.flush()
        return
    counted = session.execute(update(table).where(unlocked)
                              .values(pin_failures=table.c.pin_failures + 1)
                              .returning(table.c.pin_failures)).scalar()
    if counted is None:
        _reload(session, member)
        raise _locked_error(member.pin_locked_until)
    if counted >= attempts:
        until = now + timedelta(minutes=lock_minutes)
        session.execute(update(table).where(table.c.id == member.id)
                        .values(pin_failures=0, pin_locked_until=until))
        set_committed_value(member, "pin_failures", 0)
        set_committed_value(member, "pin_locked_until", until)
        telemetry.pin_locked()
        raise _locked_error(until, minutes=lock_minutes)
    set_committed_value(member, "pin_failures", counted)
    raise DomainError("pin.wrong", "Wrong PIN", attempts_left=attempts - counted)


def _reload(session: Session, member: Member) -> None:
    session.refresh(member, ["pin_failures", "pin_locked_until"])


def change_pin(member: Member, old: str, new: str, *, attempts: int = 3, lock_minutes: int = 30,
               now: datetime | None = None) -> None:
    """The member replaces their PIN (the old one checked as `check_pin` does, with the same
    limits). Raises pin.wrong, pin.locked, pin.invalid_format, pin.same."""
    _check_format(new)
    if new == old:
        raise DomainError("pin.same", "Choose a PIN different from the old one")
    check_pin(member, old, attempts=attempts, lock_minutes=lock_minutes, now=now)
    member.pin_hash = hash_pin(new)
    member.pin_must_change = False
