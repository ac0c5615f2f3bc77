"""The Flask blueprint AT calls: one hop per POST, and the end-of-session notifications."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from flask import Blueprint, Response, current_app, request
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from vision_ledger import groups, ratelimits
from vision_ledger.db import Database, begin_write, database_of
from vision_ledger.settings import settings_of

from . import admission, pin_auth, readwalk
from .admission import Timing
from .models import Event
from .router import hop
from .session import Ctx, NeedsWrite, Reply
from .texts import Texts

blueprint = Blueprint("ussd", __name__)
log = logging.getLogger("ussd")

MAX_TEXT = 1000  # a 180-s session cannot type more; longer is not a real session
ATTEMPTS = 3


def redact(text: str | None) -> str:
    """The input path without PINs: every 4-digit input is masked (amounts of 4 digits too)."""
    if not text:
        return ""
    return "*".join("****" if len(p) == 4 and p.isdigit() else p for p in text.split("*"))


def mask_phone(phone: str) -> str:
    return phone[:-4] + "****" if len(phone) > 6 else "****"


def _configured_secret() -> str:
    return settings_of(current_app.config).ussd_secret or ""


def _secret_ok(secret: str | None) -> bool:
    configured = _configured_secret()
    if not configured or not secret:
        return False
    return hmac.compare_digest(str(secret).encode(), str(configured).encode())


def _forbidden() -> Response:
    return Response("Forbidden", status=403, mimetype="text/plain")


def normalise(phone: str) -> str:
    """AT sends E.164 with '+'; a hand-built body whose '+' decoded as a space still finds its member."""
    phone = phone.strip()
    return "+" + phone if phone.isdigit() else phone


class _OverLimit(Exception):
    """The phone's hop, counted as the hop turned writer, is over the limit."""

    def __init__(self, wait: int) -> None:
        super().__init__(wait)
        self.wait = wait


def answer(db: Database, sid: str, phone: str, text: str, pin_key: bytes, *, timing: Timing,
           limit: ratelimits.Limit) -> Reply:
    """One hop. On SQLite the walk reads and only the action writes (ussd/readwalk.py); a hop
    whose walk read something that changed before it took the write lock walks again as a writer.
    PostgreSQL writes from the start (its walk takes no lock: the group's row is locked by the
    action, the phone's counter row is its own).

    The phone's hop is counted in the hop's own transaction when it writes (one commit, not two);
    a hop that ends read-only counts it in a small write of its own. Raises Busy when the hop
    cannot be served before its deadline (everything it did is rolled back)."""
    if len(text) > MAX_TEXT:
        t = Texts("en")
        return Reply(t("Sorry, that was too long. Please dial again."), True, "too_long", "en")
    inputs = text.split("*") if text else []
    writable = db.dialect != "sqlite"
    pin_memo: dict[tuple[str, str], bool] = {}
    key = f"ussd:hop:{phone}"

    def count(session: Session) -> None:
        if (wait := ratelimits.hit(session, key, limit)) is not None:
            raise _OverLimit(wait)

    for attempt in range(ATTEMPTS):
        timing.check()
        try:
            wrote = writable
            with _unit(db, timing, writable, on_write=count) as (session, upgrade, step):
                wait = (ratelimits.hit if writable else ratelimits.over)(session, key, limit)
                if wait is not None:
                    reply = _too_many_hops(session, sid, phone, wait)
                else:
                    ctx = Ctx(session=session, sid=sid, phone=phone, inputs=inputs, pin_key=pin_key,
                              writable=writable, pin_memo=pin_memo, upgrade=upgrade, between=step)
                    reply = hop(ctx)
                    wrote = ctx.writable
                timing.check()  # past the deadline: roll back rather than answer late
            if not wrote and wait is None:  # a read-only hop: its count alone, not synced (SQLite)
                with admission.unsynced(), _unit(db, timing, True) as (session, _, _):
                    if (wait := ratelimits.hit(session, key, limit)) is not None:
                        reply = _too_many_hops(session, sid, phone, wait)
            return reply
        except _OverLimit as over:  # rolled back: like a read-only hop over the limit, writes nothing
            with _unit(db, timing, False) as (session, _, _):
                return _too_many_hops(session, sid, phone, over.wait)
        except (NeedsWrite, readwalk.Stale):
            writable = True
        except (IntegrityError, DBAPIError) as error:
            if admission.is_lock_timeout(error) or timing.left() <= 0:
                raise admission.Busy from error
            # A duplicate hop racing this one, or a deadlock: the retry finds what the other did.
            if attempt == ATTEMPTS - 1:
                raise
            writable = True
    raise RuntimeError("unreachable")


@contextmanager
def _unit(db: Database, timing: Timing, writable: bool, *,
          on_write: Callable[[Session], None] | None = None,
          ) -> Iterator[tuple[Session, Callable[[], None] | None, Callable[[], None] | None]]:
    """A unit of work behind the hop's gate, its statements timed, its commit counted as database
    time; with, when it begins read-only, the function that makes it a writer (Ctx.upgrade): the
    walk's SELECTs are checked under the write lock (ussd/readwalk.py, raises Stale), then
    `on_write` runs in the writing transaction. The third is what a walk calls between two
    inputs (SQLite: step aside while this process's writer holds the lock)."""
    sqlite = db.dialect == "sqlite"
    writing = admission.writing_for(db.engine)
    with ExitStack() as gates:
        walking = gates.enter_context(ExitStack())  # the first gate: left early by upgrade()
        walking.enter_context(admission.gate_for(db.engine, writable).enter(timing))
        if writable:
            walking.enter_context(admission.writers_queue(db.lock_path(".writers"), timing))
        reads: list[readwalk.Read] = [] if writable else gates.enter_context(readwalk.recording())
        with admission.timed(timing), db.unit_of_work(write=writable) as session:
            if writable and sqlite:  # BEGIN IMMEDIATE: this hop holds the lock from here
                gates.enter_context(writing.held())

            def upgrade() -> None:
                readwalk.stop()
                seen = _digest(session, reads, timing)
                session.commit()  # the read transaction ends; it wrote nothing
                walking.close()  # the next hop may walk while this one waits to write
                # the write gate and the writers' queue across processes, left after the commit
                gates.enter_context(admission.gate_for(db.engine, True).enter(timing))
                gates.enter_context(admission.writers_queue(db.lock_path(".writers"), timing))
                begin_write(session)
                gates.enter_context(writing.held())
                if _digest(session, reads, timing) != seen:
                    log.info("ussd walk stale under the write lock: walking again")
                    raise readwalk.Stale
                if on_write is not None:
                    on_write(session)

            yield session, (None if writable else upgrade), (
                (lambda: writing.step_aside(timing)) if sqlite and not writable else None)
            committing = admission.clock()
        timing.db += admission.clock() - committing


def _digest(session: Session, reads: list[readwalk.Read], timing: Timing) -> list[str]:
    started = admission.clock()
    try:
        return readwalk.digest(session, reads)
    finally:
        timing.db += admission.clock() - started


def _language_of(db: Database | None, phone: str) -> str:
    language = "en"
    try:
        if db is None:
            raise LookupError("no database")
        with db.unit_of_work(write=False) as session:
            found = groups.groups_of_phone(session, phone)
            if found:
                language = found[0][0].language
    except Exception:
        log.debug("no language for the phone", exc_info=True)
    return language


def _too_many_hops(session: Session, sid: str, phone: str, wait: int) -> Reply:
    log.warning("ussd hop over the limit: session=%s phone=%s retry in %ss", sid, mask_phone(phone), wait)
    found = groups.groups_of_phone(session, phone)
    language = found[0][0].language if found else "en"
    t = Texts(language)
    return Reply(t("Too many tries. Please dial again later."), True, "too_many_hops", language)


def _busy(db: Database | None, phone: str) -> Reply:
    """The hop could not be served in time: END, in the member's language, nothing written."""
    language = _language_of(db, phone)
    t = Texts(language)
    return Reply(t("Busy now. Please dial again."), True, "busy", language)


def _apology(db: Database | None, phone: str) -> Reply:
    language = _language_of(db, phone)
    t = Texts(language)
    return Reply(t("Sorry, something went wrong. Please try again later."), True, "error", language)


@blueprint.post("/ussd")
@blueprint.post("/ussd/")
def no_secret() -> Response:
    return _forbidden()


@blueprint.post("/ussd/<secret>")
def callback(secret: str) -> Response:
    if not _secret_ok(secret):
        return _forbidden()
    sid = request.form.get("sessionId", "")[:100]
    phone = normalise(request.form.get("phoneNumber", ""))[:20]
    text = request.form.get("text", "")
    started = admission.clock()
    db: Database | None = None
    settings = settings_of(current_app.config)
    timing = admission.Timing(started, started + settings.ussd_hop_deadline)
    try:
        db = database_of(current_app.config)
        reply = answer(db, sid, phone, text, pin_auth.proof_key(), timing=timing,
                       limit=settings.ussd_hop_limit)
    except admission.Busy:
        log.warning("ussd hop busy: session=%s phone=%s", sid, mask_phone(phone))
        reply = _busy(db, phone)
    except Exception:
        log.exception("ussd hop failed: session=%s phone=%s text=%s", sid, mask_phone(phone), redact(text))
        reply = _apology(db, phone)
    total = admission.clock() - started
    ms = round(total * 1000, 1)
    log.info("ussd hop session=%s phone=%s text=%s screen=%s %.1fms", sid, mask_phone(phone),
             redact(text), reply.screen, ms,
             extra={"event": "ussd_hop", "session": sid, "screen": reply.screen, "ms": ms})
    body = ("END " if reply.end else "CON ") + reply.text
    response = Response(body, mimetype="text/plain")
    response.headers["X-USSD-Screen"] = reply.screen
    response.headers["Server-Timing"] = timing.header(total)
    return response


@blueprint.post("/ussd/<secret>/events")
def events(secret: str) -> Response:
    """Record AT's end-of-session notification once per session (AT may repeat it)."""
    if not _secret_ok(secret):
        return _forbidden()
    db = database_of(current_app.config)
    form = request.form
    sid = form.get("sessionId", "")[:100]

    def number(name: str) -> int | None:
        value = form.get(name, "")
        return int(value) if value.isdigit() else None

    try:
        with db.unit_of_work() as session:
            if session.scalar(select(Event.id).where(Event.session_id == sid)) is None:
                session.add(Event(
                    session_id=sid, phone=normalise(form.get("phoneNumber", ""))[:20] or None,
                    service_code=form.get("serviceCode", "")[:40] or None,
                    network_code=form.get("networkCode", "")[:10] or None,
                    status=form.get("status", "")[:20] or None, input_redacted=redact(form.get("input")),
                    duration_ms=number("durationInMillis"), hops=number("hopsCount"),
                    cost=form.get("cost", "")[:40] or None,
                    error_message=(form.get("errorMessage") or None),
                    last_response=(form.get("lastAppResponse") or "")[:1000] or None,
                    at_date=form.get("date", "")[:40] or None))
    except IntegrityError:
        pass  # the same notification, recorded by a concurrent request
    except Exception:
        log.exception("ussd event not recorded: session=%s", sid)
        return Response("error", status=500, mimetype="text/plain")
    log.info("ussd session ended session=%s status=%s", sid, form.get("status"))
    return Response("OK", mimetype="text/plain")
