"""Signing in and out of the console: cookies, CSRF, one-time links, failures counted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from api.auth import revoke_token
from api.console import signin
from api.console.models import ConsoleSession
from api.models import ApiToken
from vision_ledger.db import utcnow

from .conftest import Console


def _cookie(response: Any, name: str) -> str:
    return next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "="))


def test_a_pasted_token_opens_an_httponly_samesite_session(console: Console, world: Any) -> None:
    response = console.sign_in(world.own.tokens["auditor"])
    cookie = _cookie(response, signin.COOKIE)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http on 127.0.0.1: the developer's case
    page = console.get("/console/home", follow_redirects=True)
    assert page.status_code == 200 and world.own.programme.name in page.get_data(as_text=True)


def test_the_session_cookie_is_secure_over_https(app: Any, world: Any) -> None:
    console = Console(app.test_client())
    console.get("/console/", base_url="https://localhost")
    response = console.post("/console/sign-in", {"token": world.own.tokens["admin"]},
                             base_url="https://localhost")
    assert "Secure" in _cookie(response, signin.COOKIE)


def test_secure_cookies_can_be_required_behind_a_tls_proxy(db: Any, world: Any) -> None:
    from api import create_app

    app = create_app({"DATABASE": db, "TESTING": True, "VISION_CONSOLE_SECURE_COOKIE": "1"})
    console = Console(app.test_client())
    console.get("/console/")
    response = console.post("/console/sign-in", {"token": world.own.tokens["admin"]})
    assert "Secure" in _cookie(response, signin.COOKIE)


def test_the_session_secret_is_stored_hashed(console: Console, world: Any, session: Any) -> None:
    response = console.sign_in(world.own.tokens["admin"])
    secret = _cookie(response, signin.COOKIE).split(";")[0].split("=", 1)[1]
    rows = session.scalars(select(ConsoleSession)).all()
    assert rows and all(secret not in (r.secret_hash, r.csrf_token) for r in rows)


def test_an_unknown_token_is_refused_and_opens_nothing(console: Console, world: Any, session: Any) -> None:
    console.get("/console/")
    response = console.post("/console/sign-in", {"token": "vl_not-a-token"})
    assert response.status_code == 401
    assert not any(h.startswith(signin.COOKIE + "=") for h in response.headers.getlist("Set-Cookie"))
    assert session.scalars(select(ConsoleSession)).all() == []
    assert console.get("/console/home").status_code == 303


def test_failed_sign_ins_are_limited_per_address(db: Any, world: Any) -> None:
    from api import create_app

    app = create_app({"DATABASE": db, "TESTING": True, "VISION_AUTH_FAILURE_LIMIT": "2/300"})
    console = Console(app.test_client())
    console.get("/console/")
    statuses = [console.post("/console/sign-in", {"token": f"vl_wrong{i}"}).status_code for i in range(3)]
    assert statuses == [401, 401, 429]
    # even the right token waits until the window ends
    assert console.post("/console/sign-in", {"token": world.own.tokens["admin"]}).status_code == 429


def test_sign_in_without_the_forms_csrf_value_is_refused(console: Console, world: Any) -> None:
    console.get("/console/")
    response = console.post("/console/sign-in", {"token": world.own.tokens["admin"], "csrf": "forged"})
    assert response.status_code == 403
    fresh = Console(console.client.application.test_client())  # no pre-session cookie at all
    assert fresh.post("/console/sign-in", {"token": world.own.tokens["admin"], "csrf": ""}).status_code == 403


def test_sign_out_ends_the_session_for_good(signed: Console, session: Any) -> None:
    secret = signed.client.get_cookie(signin.COOKIE, path="/console").value
    assert signed.post("/console/sign-out").status_code == 303
    assert signed.get("/console/home").status_code == 303  # back to the sign-in page
    # the old cookie replayed by someone who kept it is worthless too
    signed.client.set_cookie(signin.COOKIE, secret, path="/console")
    assert signed.get("/console/home").status_code == 303
    assert session.scalars(select(ConsoleSession)).one().ended_at is not None


def test_sign_out_without_csrf_is_refused_and_the_session_lives(signed: Console) -> None:
    assert signed.post("/console/sign-out", {"csrf": "nope"}).status_code == 403
    assert signed.get("/console/home", follow_redirects=True).status_code == 200


def test_revoking_the_token_ends_its_console_sessions(signed: Console, session: Any, world: Any) -> None:
    token = session.scalars(select(ApiToken).where(ApiToken.role == "admin",
                                                   ApiToken.programme_id == world.own.programme.id)).one()
    revoke_token(session, token.id)
    session.commit()
    assert signed.get(f"/console/programmes/{world.own.programme.id}").status_code == 303


def test_an_expired_session_is_over(signed: Console, session: Any, world: Any) -> None:
    row = session.scalars(select(ConsoleSession)).one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    assert signed.get(f"/console/programmes/{world.own.programme.id}").status_code == 303


def test_a_one_time_link_signs_in_once(console: Console, session: Any, world: Any) -> None:
    token = session.scalars(select(ApiToken).where(ApiToken.role == "auditor",
                                                   ApiToken.programme_id == world.own.programme.id)).one()
    _, secret = signin.issue_link(session, token)
    session.commit()
    page = console.get(f"/console/link/{secret}")
    assert page.status_code == 200
    response = console.post(f"/console/link/{secret}")
    assert response.status_code == 303 and response.headers["Location"] == "/console/home"
    assert console.get("/console/home").headers["Location"] == f"/console/programmes/{world.own.programme.id}"
    again = Console(console.client.application.test_client())
    assert again.get(f"/console/link/{secret}").status_code == 404
    again.get("/console/")
    assert again.post(f"/console/link/{secret}").status_code == 404


def test_a_link_secret_is_masked_in_logs_like_a_token(session: Any, world: Any) -> None:
    from api import logmask

    token = session.scalars(select(ApiToken).where(ApiToken.role == "admin")).first()
    _, secret = signin.issue_link(session, token)
    assert secret not in logmask.mask(f'"GET /console/link/{secret} HTTP/1.1" 200')


def test_an_expired_link_signs_nobody_in(console: Console, session: Any, world: Any) -> None:
    token = session.scalars(select(ApiToken).where(ApiToken.role == "admin")).first()
    link, secret = signin.issue_link(session, token, minutes=1)
    link.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    assert console.get(f"/console/link/{secret}").status_code == 404


def test_the_operator_command_prints_a_link_to_the_demo_dashboard(tmp_path_factory: Any, capsys: Any) -> None:
    """`vision-ledger console link --demo` (what scripts/run.sh prints) signs in as the demo
    programme's admin, whose dashboard charts the demo's meetings."""
    import re

    from api import create_app
    from api.cli import main

    from ..conftest import fresh_database_url

    url = fresh_database_url(tmp_path_factory, "link")
    assert main(["--database", url, "console", "link", "--demo", "--url", "http://127.0.0.1:8123"]) == 0
    out = capsys.readouterr().out
    link = re.search(r"http://127\.0\.0\.1:8123(/console/link/\S+)", out).group(1)
    app = create_app({"VISION_DATABASE_URL": url, "TESTING": True})
    try:
        console = Console(app.test_client())
        assert console.get(link).status_code == 200
        assert console.post(link).status_code == 303
        page = console.get("/console/home", follow_redirects=True).get_data(as_text=True)
        assert "VISION demo programme" in page
        assert page.count("<polyline") >= 3  # savings, loans, members... drawn from the demo's meetings
    finally:
        app.config["DATABASE"].dispose()
