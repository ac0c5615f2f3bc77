"""PINs on USSD: checked once per session, remembered as authentication state for 180 s.

The PIN travels in `text` on every later hop of the session (AT repeats the whole input), and the
walk meets it each time. Checking it with scrypt every hop would cost 30-50 ms per hop and grow with
every entry a treasurer records, so the first successful check leaves a proof keyed by
(session id, member) that expires after 180 s, the longest a USSD session lives. The proof holds
a random nonce and HMAC(proof key, nonce | session | member | PIN), where the proof key is derived
from the PIN pepper (`VISION_PIN_PEPPER`), never from the USSD callback secret and never stored:
a stolen database, even with the USSD secret, cannot test PIN guesses against a proof. Later hops
compare one HMAC and read one indexed row. The proof also carries a digest of the PIN hash it was
made against, so a changed PIN voids it, and a locked PIN refuses even a proven session. Every
hop that writes a proof deletes all expired proofs (one indexed DELETE).

A wrong PIN is counted once: the failure is kept at its position in the text, so a retried hop or
a later hop walking past it does not count it again. The hop commits after a wrong PIN (the
failure count is on the member's row) and writes nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from datetime import timedelta

from sqlalchemy import delete, select

from vision_ledger import pins
from vision_ledger.errors import DomainError

from .models import PinProof
from .session import Ctx, Stay, Who
from .texts import Texts, refusal

PROOF_SECONDS = 180


def proof_key() -> bytes:
    """The key of PIN proofs: derived from the PIN pepper. Raises pin.no_pepper."""
    return hmac.new(pins.peppers().current, b"vision-ledger ussd pin proofs", hashlib.sha256).digest()


def new_nonce() -> str:
    return secrets.token_hex(16)


def mac_of(ctx: Ctx, who: Who, pin: str, nonce: str) -> str:
    message = f"{nonce}|{ctx.sid}|{ctx.phone}|{who.member.id}|{pin}".encode()
    return hmac.new(ctx.pin_key, message, hashlib.sha256).hexdigest()


def proves(ctx: Ctx, who: Who, pin: str, nonce: str, mac: str) -> bool:
    return hmac.compare_digest(mac_of(ctx, who, pin, nonce), mac)


def sealed(ctx: Ctx, who: Who, pin: str) -> dict[str, str]:
    """A PIN remembered for later comparison only: a fresh nonce and its MAC."""
    nonce = new_nonce()
    return {"nonce": nonce, "mac": mac_of(ctx, who, pin, nonce)}


def was_replaced_in_session(ctx: Ctx, who: Who, pin: str) -> bool:
    """True when this session already changed the PIN away from `pin`."""
    return any(proves(ctx, who, pin, old.get("nonce", ""), old.get("mac", ""))
               for old in who.old_pins_in_session())


def purge_expired(ctx: Ctx) -> None:
    """Delete every expired proof (authentication state outlives no session)."""
    ctx.session.execute(delete(PinProof).where(PinProof.expires_at < ctx.now))


def stamp_of(pin_hash: str | None) -> str:
    return hashlib.sha256((pin_hash or "").encode()).hexdigest()[:32]


def locked_text(t: Texts, who: Who, ctx: Ctx) -> str:
    until = who.member.pin_locked_until
    if until is not None and until.tzinfo is None:
        until = until.replace(tzinfo=ctx.now.tzinfo)
    minutes = max(1, math.ceil((until - ctx.now).total_seconds() / 60)) if until else 30
    return t.n("Too many wrong PINs. Try again in {n} minute.",
               "Too many wrong PINs. Try again in {n} minutes.", minutes)


def verify(ctx: Ctx, who: Who, pin: str) -> Stay | None:
    """None when the PIN is the member's; else what to show (Stay, END when locked)."""
    t = who.t
    member = who.member
    if not (len(pin) == 4 and pin.isdigit()):
        return Stay(t("A PIN is 4 digits."))
    if pins.is_locked(member, ctx.now):
        return Stay(locked_text(t, who, ctx), end=True)
    if not member.pin_hash:
        return Stay(t("No PIN is set. Ask your programme officer."), end=True)
    stamp = stamp_of(member.pin_hash)
    rows = {row.position: row for row in ctx.session.scalars(
        select(PinProof).where(PinProof.session_id == ctx.sid, PinProof.member_id == member.id,
                               PinProof.position.in_((-1, ctx.index))))}
    proof = rows.get(-1)
    if (proof is not None and proof.stamp == stamp and _aware(proof.expires_at, ctx) > ctx.now
            and proves(ctx, who, pin, proof.nonce, proof.pin_mac)):
        return None
    if not ctx.is_last and was_replaced_in_session(ctx, who, pin):
        return None  # the PIN of the session's start, changed later in the session
    failure = rows.get(ctx.index)
    if (failure is not None and not failure.ok and failure.stamp == stamp
            and proves(ctx, who, pin, failure.nonce, failure.pin_mac)):
        left = max(who.policy.pin_attempts - (member.pin_failures or 0), 1)
        return Stay(t.n("Wrong PIN. {n} try left.", "Wrong PIN. {n} tries left.", left))
    # The slow hash runs before the write lock is asked for (on SQLite the read-only pass gets
    # here first), so other sessions' hops do not queue behind it.
    memo_key = (member.pin_hash, pin)
    if memo_key not in ctx.pin_memo:
        ctx.pin_memo[memo_key] = pins.pin_matches(pin, member.pin_hash)
    ctx.require_write()
    try:
        pins.check_pin(member, pin, attempts=who.policy.pin_attempts,
                       lock_minutes=who.policy.pin_lock_minutes, now=ctx.now,
                       matched=ctx.pin_memo[memo_key])
    except DomainError as error:
        seal = sealed(ctx, who, pin)
        expires = ctx.now + timedelta(seconds=PROOF_SECONDS)
        if failure is None:
            purge_expired(ctx)
            ctx.session.add(PinProof(session_id=ctx.sid, phone=ctx.phone, member_id=member.id,
                                     pin_mac=seal["mac"], nonce=seal["nonce"], position=ctx.index,
                                     ok=False, stamp=stamp, expires_at=expires))
        else:  # another PIN at the same position (a forged or edited hop): the row is replaced
            failure.pin_mac, failure.nonce, failure.ok = seal["mac"], seal["nonce"], False
            failure.stamp, failure.expires_at = stamp, expires
        ctx.session.flush()
        if error.code == "pin.locked":
            return Stay(locked_text(t, who, ctx), end=True)
        return Stay(refusal(t, error))
    remember(ctx, who, pin, proof)
    return None


def remember(ctx: Ctx, who: Who, pin: str, proof: PinProof | None = None) -> None:
    """Record that this session proved the member's current PIN (also after a PIN change)."""
    seal = sealed(ctx, who, pin)
    if proof is None:
        proof = ctx.session.scalars(select(PinProof).where(
            PinProof.session_id == ctx.sid, PinProof.member_id == who.member.id,
            PinProof.position == -1)).first()
    expires = ctx.now + timedelta(seconds=PROOF_SECONDS)
    if proof is None:
        purge_expired(ctx)
        ctx.session.add(PinProof(session_id=ctx.sid, phone=ctx.phone, member_id=who.member.id,
                                 pin_mac=seal["mac"], nonce=seal["nonce"], position=-1, ok=True,
                                 stamp=stamp_of(who.member.pin_hash), expires_at=expires))
    else:
        proof.pin_mac, proof.nonce = seal["mac"], seal["nonce"]
        proof.ok, proof.stamp, proof.expires_at = True, stamp_of(who.member.pin_hash), expires
    ctx.session.flush()


def _aware(moment, ctx: Ctx):
    return moment.replace(tzinfo=ctx.now.tzinfo) if moment.tzinfo is None else moment
