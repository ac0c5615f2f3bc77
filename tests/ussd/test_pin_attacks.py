"""The attacks of issue 10 on PINs, tried: a burst of concurrent guesses, a stolen database
without the pepper, and the USSD proofs plus the USSD callback secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import uuid
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from flask import Flask
from sqlalchemy import select

from tests.conftest import TEST_PIN_PEPPER, fresh_database_url
from tests.factories import Factory
from ussd.models import Done, PinProof
from ussd.web import blueprint
from vision_ledger import pins
from vision_ledger.db import Database, utcnow
from vision_ledger.errors import DomainError
from vision_ledger.models import Member
from vision_ledger.ratelimits import Limit
from vision_ledger.settings import Settings

from .conftest import PIN, SECRET, SERVICE_CODE, group_with_pins

ALL_PINS = [f"{n:04d}" for n in range(10_000)]


def _hop(client, sid: str, phone: str, text: str) -> str:
    body = urlencode({"sessionId": sid, "serviceCode": SERVICE_CODE, "phoneNumber": phone,
                      "networkCode": "63902", "text": text})
    response = client.post(f"/ussd/{SECRET}", data=body,
                           content_type="application/x-www-form-urlencoded; charset=UTF-8")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_concurrent_wrong_pins_count_once_each_and_the_lock_holds(tmp_path_factory):
    """30 sessions send wrong PINs at once (real commits, one thread each): at most the policy's
    attempts are checked, and the right PIN sent afterwards is refused."""
    db = Database(fresh_database_url(tmp_path_factory, "pinburst"))
    with db.unit_of_work() as s:
        factory = Factory(s)
        group, (treasurer, *_) = group_with_pins(factory, PIN)
        factory.meeting(group)
        phone, member_id = treasurer.phone, treasurer.id
        attempts = 3  # the default policy's pin_attempts
    app = Flask(__name__)
    # The hop limit (30 a minute per phone) would answer part of the burst before any PIN check;
    # here the PIN lock itself is under test, so the hop limit is raised out of its way.
    app.config.update(DATABASE=db, TESTING=True,
                      SETTINGS=Settings(ussd_secret=SECRET, ussd_hop_limit=Limit(1000, 60)))
    app.register_blueprint(blueprint)
    start = threading.Barrier(30)
    answers: list[str] = []
    lock = threading.Lock()

    def guess(n: int) -> None:
        client = app.test_client()
        wrong = f"{(int(PIN) + 1 + n) % 10_000:04d}"
        start.wait()
        answer = _hop(client, "ATUid_" + uuid.uuid4().hex, phone, f"1*{wrong}")
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wrong = [a for a in answers if "tries left" in a or "try left" in a]
    locked = [a for a in answers if "Too many wrong PINs" in a]
    assert len(answers) == 30 and len(wrong) + len(locked) == 30, answers
    # Each "N tries left" is one counted failure; the failure that locked is the last one.
    assert len(wrong) <= attempts - 1, wrong
    assert len({a for a in wrong}) == len(wrong), "a failure was counted twice with the same count"
    right = _hop(app.test_client(), "ATUid_" + uuid.uuid4().hex, phone, f"1*{PIN}")
    assert right.startswith("END ") and "Too many wrong PINs" in right
    with db.unit_of_work(write=False) as s:
        member = s.get(Member, member_id)
        assert member.pin_locked_until is not None
    db.engine.dispose()


def test_a_stolen_pin_hash_without_the_pepper_gives_up_no_pin(session, factory, monkeypatch):
    """The attacker has the row and knows the format; without the pepper no derivation of any of
    the 10,000 PINs reproduces the hash. With it, the same search finds the PIN (so the search is
    a real one; the scrypt cost is lowered so it runs in seconds)."""
    monkeypatch.setattr(pins, "SCRYPT", {"n": 2, "r": 1, "p": 1})
    member = factory.members(factory.ready())[1]
    pins.set_initial_pin(member, "7391")
    session.flush()
    stolen = session.scalar(select(Member.pin_hash).where(Member.id == member.id))
    _, _, params_text, _, salt_b64, digest_b64 = stolen.split("$")
    params = {k: int(v) for k, v in (item.split("=") for item in params_text.split(","))}
    salt, target = base64.b64decode(salt_b64), base64.b64decode(digest_b64)

    def search(derive) -> list[str]:
        return [pin for pin in ALL_PINS if derive(pin) == target]

    def scrypt(data: bytes) -> bytes:
        return hashlib.scrypt(data, salt=salt, dklen=32, **params)

    guesses = (  # what an attacker without the pepper can compute
        lambda pin: scrypt(pin.encode()),
        lambda pin: scrypt(hmac.new(b"", pin.encode(), hashlib.sha256).digest()),
        lambda pin: scrypt(hashlib.sha256(pin.encode()).digest()),
        lambda pin: scrypt(hmac.new(SECRET.encode(), pin.encode(), hashlib.sha256).digest()),
    )
    for derive in guesses:
        assert search(derive) == []
    pepper = pins.peppers().current
    assert search(lambda pin: scrypt(hmac.new(pepper, pin.encode(), hashlib.sha256).digest())) == ["7391"]


def test_pin_proofs_with_the_ussd_secret_give_up_no_pin(treasurer, world, meeting):
    """The attacker has ussd_pin_proofs and ussd_done rows and the USSD callback secret: no key
    derivable from them reproduces a proof's MAC for any PIN."""
    treasurer.walk("1", PIN)
    member = world.treasurer
    proofs = world.session.scalars(select(PinProof).where(PinProof.member_id == member.id)).all()
    assert proofs
    keys = (SECRET.encode(), hmac.new(SECRET.encode(), b"ussd pin proofs", hashlib.sha256).digest(),
            hmac.new(SECRET.encode(), b"vision-ledger ussd pin proofs", hashlib.sha256).digest())

    def messages(proof: PinProof, pin: str) -> list[bytes]:
        return [f"{proof.nonce}|{proof.session_id}|{proof.phone}|{proof.member_id}|{pin}".encode(),
                f"{proof.session_id}|{proof.phone}|{proof.member_id}|{pin}".encode()]

    for proof in proofs:
        found = [pin for pin in ALL_PINS for key in keys for message in messages(proof, pin)
                 if hmac.new(key, message, hashlib.sha256).hexdigest() == proof.pin_mac]
        assert found == []
    # the proof is what it claims: under the pepper's key it names the PIN
    from ussd.pin_auth import proof_key

    proof = proofs[0]
    assert [pin for pin in ALL_PINS
            if hmac.new(proof_key(), messages(proof, pin)[0], hashlib.sha256).hexdigest()
            == proof.pin_mac] == [PIN]


def test_a_replaced_pin_is_remembered_only_as_a_peppered_mac(world, phone):
    member = world.member(2)
    member.pin_must_change = True
    world.session.flush()
    handset = phone(member.phone)
    handset.walk("1", "2468", "1357", "1357")
    world.refresh()
    done = world.session.scalars(select(Done).where(Done.kind == "pin")).all()
    assert done and all(set(row.result["old"]) == {"nonce", "mac"} for row in done)
    assert all("2468" not in str(row.result) for row in done)


def test_expired_pin_proofs_are_deleted_by_the_next_proof_written(treasurer, world, meeting):
    treasurer.walk("1", PIN)
    first = treasurer.sid
    world.refresh()
    for proof in world.session.scalars(select(PinProof)):
        proof.expires_at = utcnow() - timedelta(seconds=1)
    world.session.flush()
    treasurer.walk("1", "9999")  # a new session; its failure is a proof row too
    world.refresh()
    rows = world.session.scalars(select(PinProof)).all()
    assert rows and all(row.session_id == treasurer.sid != first for row in rows)


def test_a_hash_with_old_parameters_is_rehashed_on_the_next_success(session, factory, monkeypatch):
    member = factory.members(factory.ready())[1]
    monkeypatch.setattr(pins, "SCRYPT", {"n": 2**10, "r": 8, "p": 1})
    pins.set_initial_pin(member, "1234")
    session.flush()
    old = member.pin_hash
    monkeypatch.setattr(pins, "SCRYPT", {"n": 2**11, "r": 8, "p": 1})
    with pytest.raises(DomainError):
        pins.check_pin(member, "9999")
    assert member.pin_hash == old  # a failure rehashes nothing
    pins.check_pin(member, "1234")
    assert member.pin_hash != old and "$n=2048," in member.pin_hash
    pins.check_pin(member, "1234")


def test_an_unpeppered_hash_of_the_first_version_is_rehashed_with_the_pepper(session, factory):
    member = factory.members(factory.ready())[1]
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"1234", salt=salt, n=2**14, r=8, p=1, dklen=32)
    member.pin_hash = f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    member.pin_must_change = False
    session.flush()
    pins.check_pin(member, "1234")
    assert member.pin_hash.startswith("vlpin1$scrypt$")
    assert not pins.needs_rehash(member.pin_hash)


def test_a_rotated_pepper_still_checks_old_hashes_and_rehashes_them(session, factory, monkeypatch):
    member = factory.members(factory.ready())[1]
    first, second = "a" * 40, "b" * 40
    pins.configure(first)
    try:
        pins.set_initial_pin(member, "1234")
        session.flush()
        pins.configure(second, (first,))
        pins.check_pin(member, "1234")
        assert pins.pepper_id_of(second.encode()) in member.pin_hash
        pins.configure(second)
        pins.check_pin(member, "1234")
    finally:
        pins.configure(TEST_PIN_PEPPER)


def test_a_hash_made_with_an_unknown_pepper_is_refused(session, factory):
    member = factory.members(factory.ready())[1]
    pins.configure("c" * 40)
    try:
        pins.set_initial_pin(member, "1234")
        session.flush()
    finally:
        pins.configure(TEST_PIN_PEPPER)
    with pytest.raises(DomainError) as refused:
        pins.check_pin(member, "1234")
    assert refused.value.code == "pin.unknown_pepper"


def test_pins_cannot_be_hashed_without_a_pepper():
    pins.configure(None)
    with pytest.raises(DomainError) as refused:
        pins.hash_pin("1234")
    assert refused.value.code == "pin.no_pepper"


def test_a_short_pepper_is_refused():
    with pytest.raises(DomainError) as refused:
        pins.configure("short")
    assert refused.value.code == "pin.pepper_too_short"
    with pytest.raises(DomainError) as refused:
        pins.hash_pin("1234")
    assert refused.value.code == "pin.no_pepper"
