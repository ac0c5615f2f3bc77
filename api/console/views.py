"""The console's routes: thin handlers over `pages` (what a page shows) and `signin` (who is
signed in). Every POST carries a CSRF token; every page answers `Cache-Control: no-store` and a
Content-Security-Policy that allows nothing from another host and no script at all."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, abort, g, make_response, redirect, render_template, request
from werkzeug.exceptions import HTTPException

from vision_ledger import groups, imports, spreadsheet
from vision_ledger.errors import Conflict, DomainError, NotFound, PermissionDenied

from ..problems import ApiProblem
from ..session import database, read_session, session
from . import pages, signin
from .tables import csv_response
from .texts import LANGUAGE_NAMES, LANGUAGES, Words, best_language

blueprint = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
                      static_folder="static", static_url_path="/static")

ID = "int(min=1, max=999999999999)"
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


# --- every request ---------------------------------------------------------------------------------


@blueprint.before_request
def _who() -> Response | None:
    if request.endpoint == "console.static":
        return None
    g.signed = signin.current(session(), request)
    language = g.signed.row.language if g.signed else request.args.get("lang") or best_language(
        request.accept_languages)
    g.t = Words(language)
    if request.method == "POST":
        expected = g.signed.row.csrf_token if g.signed else request.cookies.get(signin.PRE_COOKIE)
        if not signin.csrf_ok(expected, request.form.get("csrf")):
            return _page("error.html", 403, title=g.t("Refused"),
                         message=g.t("This form has expired or did not come from the console.") + " "
                         + g.t("Reload the page and try again."))
    return None


@blueprint.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"  # a sign-in link's secret is in its path
    if request.endpoint == "console.static":
        response.headers["Cache-Control"] = "public, max-age=86400"
    else:
        response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.context_processor
def _words() -> dict[str, Any]:
    signed = g.get("signed")
    return {"t": g.get("t") or Words("en"), "signed": signed, "languages": LANGUAGES,
            "language_names": LANGUAGE_NAMES, "csrf": signed.row.csrf_token if signed else g.get("pre", "")}


def _page(template: str, status: int = 200, **context: Any) -> Response:
    response = make_response(render_template(template, **context), status)
    if g.get("new_pre"):
        signin.set_pre_cookie(response, request, g.pre)
    return response


@blueprint.errorhandler(DomainError)
def _refused(exc: DomainError) -> Response:
    t = g.get("t") or Words("en")
    if isinstance(exc, NotFound):
        status, title = 404, t("Not found")
    elif isinstance(exc, PermissionDenied):
        status, title = 403, t("Refused")
    elif isinstance(exc, Conflict):
        status, title = 409, t("Not done")
    else:
        status, title = 422, t("Not done")
    return _page("error.html", status, title=title, message=exc.message, code=exc.code)


@blueprint.errorhandler(HTTPException)
def _http(exc: HTTPException) -> Response:
    t = g.get("t") or Words("en")
    return _page("error.html", exc.code or 500, title=t("Not found") if exc.code == 404 else exc.name,
                 message=exc.description or "")


def signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
    """The page needs a signed-in staff member; anyone else goes to the sign-in page."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.get("signed") is None:
            return redirect("/console/", code=303)
        return view(*args, **kwargs)
    return wrapper


# --- signing in and out ----------------------------------------------------------------------------


def _anonymous_form() -> None:
    g.pre, g.new_pre = signin.pre_session(request)


@blueprint.get("/")
def sign_in_page() -> Any:
    if g.signed is not None:
        return redirect("/console/home", code=303)
    _anonymous_form()
    return _page("signin.html", title=g.t("Sign in"))


def _opened(secret: str) -> Any:
    response = redirect("/console/home", code=303)
    signin.set_session_cookie(response, request, secret)
    return response


def _refused_sign_in(message: str, status: int = 401) -> Response:
    """Count the failure (it must outlive this request's rolled-back transaction), show the form."""
    stale = g.pop("db_session", None)
    if stale is not None:
        stale.rollback()
        stale.close()
    with database().unit_of_work() as s:
        signin.count_failure(s, request.remote_addr or "unknown")
    _anonymous_form()
    return _page("signin.html", status, title=g.t("Sign in"), error=message)


@blueprint.post("/sign-in")
def sign_in() -> Any:
    language = request.form.get("language") or g.t.language
    if language not in LANGUAGES:
        language = "en"
    g.t = Words(language)
    wait = signin.failures_wait(session(), request.remote_addr or "unknown")
    if wait:
        _anonymous_form()
        return _page("signin.html", 429, title=g.t("Sign in"),
                     error=g.t("Too many failed sign-ins from this address; try again in {n} seconds.",
                               n=wait))
    pasted = request.form.get("token", "")
    if not pasted.strip():
        _anonymous_form()
        return _page("signin.html", 400, title=g.t("Sign in"), error=g.t("Paste your API token."))
    try:
        _, secret = signin.sign_in_with_token(session(), pasted, language)
    except ApiProblem:
        return _refused_sign_in(g.t("This token is unknown, revoked or expired."))
    return _opened(secret)


@blueprint.get("/link/<secret>")
def link_page(secret: str) -> Any:
    signin.find_link(session(), secret)  # 404 when unknown, used or expired
    _anonymous_form()
    return _page("link.html", title=g.t("Sign in"), secret=secret)


@blueprint.post("/link/<secret>")
def use_link(secret: str) -> Any:
    try:
        _, cookie = signin.sign_in_with_link(session(), secret, g.t.language)
    except ApiProblem:
        return _refused_sign_in(g.t("This link's token is no longer valid."))
    return _opened(cookie)


@blueprint.post("/sign-out")
def sign_out() -> Any:
    if g.signed is not None:
        signin.end(session(), g.signed)
    response = redirect("/console/", code=303)
    signin.clear_session_cookie(response, request)
    return response


@blueprint.post("/language")
@signed_in
def set_language() -> Any:
    language = request.form.get("language", "")
    if language not in LANGUAGES:
        abort(400)
    g.signed.row.language = language
    back = request.form.get("back", "")
    return redirect(back if back.startswith("/console/") and "//" not in back else "/console/home", code=303)


@blueprint.get("/home")
@signed_in
def home() -> Any:
    actor = g.signed.actor
    if actor.role in ("admin", "auditor"):
        return redirect(f"/console/programmes/{actor.programme_id}", code=303)
    if actor.role == "treasurer":
        return redirect(f"/console/groups/{actor.group_id}", code=303)
    if actor.role == "member":
        return redirect(f"/console/groups/{actor.group_id}/members/{actor.member_id}", code=303)
    return _page("error.html", 403, title=g.t("Refused"),
                 message=g.t("An operator token runs the installation and sees no group's books.") + " "
                 + g.t("Sign in with a programme admin's or auditor's token."))


# --- pages -----------------------------------------------------------------------------------------


def _every() -> str:
    every = request.args.get("every", "week")
    if every not in pages.EVERY:
        abort(400)
    return every


@blueprint.get(f"/programmes/<{ID}:programme_id>")
@signed_in
def dashboard(programme_id: int) -> Any:
    board = pages.dashboard(read_session(), g.signed.actor, programme_id, g.t, every=_every())
    return _page("dashboard.html", title=board.programme.name, board=board)


@blueprint.get(f"/programmes/<{ID}:programme_id>/<any(segments, history, groups):name>.csv")
@signed_in
def dashboard_csv(programme_id: int, name: str) -> Any:
    board = pages.dashboard(read_session(), g.signed.actor, programme_id, g.t, every=_every(),
                            ranked_limit=0)
    return csv_response(board.tables[name], f"programme-{programme_id}-{name}")


def _after() -> int | None:
    after = request.args.get("after")
    if after is None:
        return None
    if not after.isdigit() or len(after) > 12:
        abort(400)
    return int(after)


@blueprint.get(f"/groups/<{ID}:group_id>")
@signed_in
def group(group_id: int) -> Any:
    page = pages.group_page(session(), g.signed.actor, group_id, g.t, after=_after())
    return _page("group.html", title=page.group.name, page=page)


@blueprint.get(f"/groups/<{ID}:group_id>/<any(members, meetings, loans, journal, flags):name>.csv")
@signed_in
def group_csv(group_id: int, name: str) -> Any:
    s, actor = session(), g.signed.actor
    if name == "journal":
        table = pages.whole_journal(s, actor, groups.get_group(s, actor, group_id), g.t)
    else:
        table = pages.group_page(s, actor, group_id, g.t, journal_limit=1).tables[name]
    return csv_response(table, f"group-{group_id}-{name}")


@blueprint.get(f"/groups/<{ID}:group_id>/members/<{ID}:member_id>")
@signed_in
def member(group_id: int, member_id: int) -> Any:
    page = pages.member_page(session(), g.signed.actor, group_id, member_id, g.t)
    return _page("member.html", title=page.member.name, page=page)


@blueprint.get(f"/groups/<{ID}:group_id>/members/<{ID}:member_id>/<any(statement, loans, payouts):name>.csv")
@signed_in
def member_csv(group_id: int, member_id: int, name: str) -> Any:
    page = pages.member_page(session(), g.signed.actor, group_id, member_id, g.t)
    return csv_response(page.tables[name], f"member-{member_id}-{name}")


@blueprint.get("/outbox")
@signed_in
def outbox() -> Any:
    page = pages.outbox_page(session(), g.signed.actor, g.t)
    return _page("outbox.html", title=g.t("Outbox"), page=page, done=request.args.get("retried"))


@blueprint.get("/outbox.csv")
@signed_in
def outbox_csv() -> Any:
    page = pages.outbox_page(session(), g.signed.actor, g.t, limit=1000)
    return csv_response(page.problems, "outbox")


@blueprint.post(f"/outbox/<{ID}:message_id>/retry")
@signed_in
def retry(message_id: int) -> Any:
    pages.retry_message(session(), g.signed.actor, message_id)
    return redirect(f"/console/outbox?retried={message_id}", code=303)


# --- the CSV import --------------------------------------------------------------------------------


@blueprint.get("/import")
@signed_in
def import_page() -> Any:
    pages.import_allowed(g.signed.actor)
    return _page("import.html", title=g.t("Import groups and members"))


def _import(data: bytes, *, dry_run: bool) -> Any:
    actor = g.signed.actor
    s = session()
    programme = pages.import_allowed(actor, s)
    assert programme is not None  # given a session, import_allowed answers the programme
    try:
        report = imports.import_members(s, actor, programme, data, dry_run=dry_run)
    except imports.ImportRefused as exc:
        report = exc.report
    status = 200 if report.ok else 422
    return _page("import.html", status, title=g.t("Import groups and members"), report=report,
                 tables=pages.import_tables(g.t, report), dry_run=dry_run,
                 payload=base64.b64encode(data).decode() if dry_run and report.ok else None)


@blueprint.post("/import")
@signed_in
def import_dry_run() -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page("import.html", 400, title=g.t("Import groups and members"),
                     error=g.t("Choose a CSV file to check."))
    return _import(upload.read(spreadsheet.MAX_BYTES + 1), dry_run=True)


@blueprint.post("/import/confirm")
@signed_in
def import_confirm() -> Any:
    try:
        data = base64.b64decode(request.form.get("payload", ""), validate=True)
    except (binascii.Error, ValueError):
        abort(400)
    if not data:
        abort(400)
    return _import(data, dry_run=False)
