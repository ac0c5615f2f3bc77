"""Whatever AT sends: never a 5xx, always CON/END within the limit, no money moves without the PIN."""

from __future__ import annotations

from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from ussd.texts import fits
from vision_ledger.models import Entry

from .conftest import PIN, SECRET, at_session_id

part = st.one_of(
    st.sampled_from(["", "0", "00", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "98", "30",
                     "0000",
                     "1234", "9999", "500", "2600", "#", "abc", " 1 "]),
    st.text(alphabet="0123456789*#abc+ ", max_size=8),
    st.text(max_size=30),
)
texts = st.one_of(st.lists(part, max_size=25).map("*".join), st.text(max_size=300),
                  st.just("1*" * 400))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(text=texts, who=st.sampled_from(["treasurer", "member", "stranger", "garbage"]),
       garbage=st.text(max_size=20))
def test_any_text_from_any_phone_is_answered_and_moves_no_money_without_the_pin(
        client, world, meeting, text, who, garbage):
    if PIN in text.split("*"):
        text = text.replace(PIN, "0101")
    phone = {"treasurer": world.treasurer.phone, "member": world.member(2).phone,
             "stranger": "+254799000000", "garbage": garbage}[who]
    session = world.session
    session.expire_all()
    before = session.scalar(select(func.count()).select_from(Entry).where(Entry.group_id == world.group.id))
    body = urlencode({"sessionId": at_session_id(), "serviceCode": "*384*44135#", "phoneNumber": phone,
                      "networkCode": "63902", "text": text})
    response = client.post(f"/ussd/{SECRET}", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    raw = response.get_data(as_text=True)
    assert raw[:4] in ("CON ", "END ")
    assert fits(raw[4:])
    assert "Traceback" not in raw
    session.expire_all()
    after = session.scalar(select(func.count()).select_from(Entry).where(Entry.group_id == world.group.id))
    assert after == before
    # Keep the treasurer able to answer (wrong PINs would lock them for the rest of the run).
    world.treasurer.pin_failures = 0
    world.treasurer.pin_locked_until = None
    session.flush()
