"""The wire: AT's form in, CON/END text out; the secret in the URL; end-of-session events."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from sqlalchemy import select

from ussd.models import Event
from ussd.texts import Texts

from .conftest import PIN, SECRET, at_session_id


def _form(**fields: str) -> str:
    return urlencode(fields)


def _post(client, path: str, body: str):
    return client.post(path, data=body, content_type="application/x-www-form-urlencoded")


def test_a_wrong_or_missing_secret_is_refused_and_changes_nothing(client, world, last_seq):
    before = last_seq()
    body = _form(sessionId=at_session_id(), phoneNumber=world.treasurer.phone, text="1*1*" + PIN,
                 serviceCode="*384*44135#", networkCode="63902")
    for path in ("/ussd/wrong", "/ussd/", "/ussd", "/ussd/wrong/events", f"/ussd/{SECRET}x"):
        response = _post(client, path, body)
        assert response.status_code == 403
        assert response.mimetype == "text/plain"
        assert "Traceback" not in response.get_data(as_text=True)
    assert last_seq() == before


def test_an_unknown_phone_gets_a_polite_end_in_english(treasurer, phone):
    screen = phone("+254799999999").dial()
    assert screen.end
    assert screen.name == "unknown_phone"
    assert "not registered" in screen.text


def test_the_plus_of_the_phone_number_arrives_url_encoded(client, world):
    body = _form(sessionId=at_session_id(), phoneNumber=world.treasurer.phone, text="")
    assert "%2B254" in body
    response = _post(client, f"/ussd/{SECRET}", body)
    assert response.get_data(as_text=True).startswith("CON Umoja")


def test_a_raw_plus_decoding_as_a_space_still_finds_the_member(client, world):
    body = f"sessionId={at_session_id()}&phoneNumber={world.treasurer.phone}&text="
    response = _post(client, f"/ussd/{SECRET}", body)
    assert response.get_data(as_text=True).startswith("CON Umoja")


def test_a_first_hop_may_already_carry_inputs(treasurer):
    screen = treasurer.dial("2")
    assert screen.name == "group_balance"


def test_an_unexpected_error_ends_with_an_apology_and_is_logged_with_the_session(
        treasurer, monkeypatch, caplog):
    import ussd.web

    def boom(ctx):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(ussd.web, "hop", boom)
    with caplog.at_level(logging.ERROR, logger="ussd"):
        screen = treasurer.dial()
    assert screen.end
    assert screen.text == Texts("en")("Sorry, something went wrong. Please try again later.")
    assert "kaboom" not in screen.text
    assert treasurer.sid in caplog.text


def test_a_ledger_fault_ends_with_the_apology(treasurer, monkeypatch, caplog):
    import ussd.web
    from vision_ledger.errors import LedgerFault

    def fault(ctx):
        raise LedgerFault("ledger.unbalanced", "The entry does not balance", difference="0.01")

    monkeypatch.setattr(ussd.web, "hop", fault)
    with caplog.at_level(logging.ERROR, logger="ussd"):
        screen = treasurer.dial()
    assert screen.end and screen.name == "error"
    assert screen.text == Texts("en")("Sorry, something went wrong. Please try again later.")


def test_the_apology_is_in_the_members_language(treasurer, world, monkeypatch):
    import ussd.web

    world.treasurer.language = "sw"
    world.session.flush()
    monkeypatch.setattr(ussd.web, "hop", lambda ctx: 1 / 0)
    assert treasurer.dial().text == Texts("sw")("Sorry, something went wrong. Please try again later.")


def test_pins_never_appear_in_the_log(treasurer, caplog):
    with caplog.at_level(logging.DEBUG, logger="ussd"):
        treasurer.walk("1", "1", PIN)
    assert PIN not in caplog.text
    assert "****" in caplog.text


def test_the_end_of_session_event_is_recorded_once_with_pins_redacted(client, world, session):
    sid = at_session_id()
    body = _form(date="2026-03-05 10:11:12", sessionId=sid, serviceCode="*384*44135#", networkCode="63902",
                 phoneNumber=world.treasurer.phone, status="Incomplete", cost="KES 0.00",
                 durationInMillis="61234", hopsCount="5", input=f"1*1*{PIN}*1*3", lastAppResponse="CON x",
                 errorMessage="")
    for _ in range(2):  # AT may repeat it
        response = _post(client, f"/ussd/{SECRET}/events", body)
        assert response.status_code == 200
    events = session.scalars(select(Event).where(Event.session_id == sid)).all()
    assert len(events) == 1
    event = events[0]
    assert event.input_redacted == "1*1*****" + "*1*3"
    assert PIN not in (event.input_redacted or "")
    assert (event.status, event.duration_ms, event.hops, event.phone) == (
        "Incomplete", 61234, 5, world.treasurer.phone)


def test_a_very_long_text_ends_politely(treasurer):
    screen = treasurer.post("1*" * 600)
    assert screen.end


def test_an_app_without_its_database_still_answers_end_not_a_500(monkeypatch):
    """Misconfiguration is an unexpected error too: AT must never see a 500 or a stack trace."""
    from flask import Flask

    import ussd.web
    from vision_ledger.settings import Settings

    app = Flask("broken")
    app.config["SETTINGS"] = Settings(ussd_secret=SECRET)
    app.register_blueprint(ussd.web.blueprint)
    response = _post(app.test_client(), f"/ussd/{SECRET}",
                     _form(sessionId=at_session_id(), phoneNumber="+254711000001", text=""))
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "END " + Texts("en")(
        "Sorry, something went wrong. Please try again later.")
