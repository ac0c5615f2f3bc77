"""Fixtures of the USSD door's tests: a minimal Flask app around the blueprint, and a phone that
speaks Africa's Talking's exact format (URL-encoded form, cumulative text, AT session ids)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import urlencode

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from ussd.texts import fits, page_size
from ussd.web import blueprint
from vision_ledger import pins
from vision_ledger.db import Database
from vision_ledger.models import Group, Member
from vision_ledger.obs import logs as logmask
from vision_ledger.ratelimits import Limit
from vision_ledger.settings import Settings

from .. import worlds
from ..factories import Factory

SECRET = "s3cret"
SERVICE_CODE = "*384*44135#"
PIN = "4321"
MEMBER_PIN = "2468"


@pytest.fixture
def app(db: Database) -> Flask:
    # As the real app does (api/app.py): every log record of the process is masked, so a server
    # a test starts (werkzeug's access log: "POST /ussd/<secret>") logs no secret either.
    logmask.install()
    logmask.remember_secret(SECRET)
    app = Flask(__name__)
    # Tests walk screens faster than any person: the hop limit is raised out of their way here
    # and tested on its own (test_hop_limit.py).
    # So is the hop's deadline (a loaded test machine takes seconds over a close): test_busy.py
    # tests it with an injected clock.
    app.config.update(DATABASE=db, TESTING=True,
                      SETTINGS=Settings(ussd_secret=SECRET, ussd_hop_limit=Limit(100000, 60),
                                        ussd_hop_deadline=30.0))
    app.register_blueprint(blueprint)
    return app


@pytest.fixture
def client(app: Flask) -> Iterator[object]:
    with app.test_client() as c:
        yield c


def at_session_id() -> str:
    return "ATUid_" + uuid.uuid4().hex


@dataclass
class Screen:
    kind: str  # CON | END
    text: str
    name: str

    @property
    def end(self) -> bool:
        return self.kind == "END"

    def __contains__(self, item: str) -> bool:
        return item in self.text


@dataclass
class Phone:
    """One handset: `dial()` starts a session; `send(x)` types x and presses send."""

    client: object
    number: str
    sid: str = ""
    inputs: list[str] = field(default_factory=list)
    hops: int = 0
    keystrokes: int = 0
    screens: list[Screen] = field(default_factory=list)

    def post(self, text: str, sid: str | None = None, path: str = f"/ussd/{SECRET}") -> Screen:
        body = urlencode({"sessionId": sid or self.sid, "serviceCode": SERVICE_CODE,
                          "phoneNumber": self.number, "networkCode": "63902", "text": text})
        response = self.client.post(path, data=body,  # type: ignore[attr-defined]
                                    content_type="application/x-www-form-urlencoded; charset=UTF-8")
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "text/plain"
        raw = response.get_data(as_text=True)
        kind, _, page = raw.partition(" ")
        assert kind in ("CON", "END"), raw
        assert fits(page), f"{page_size(page)} (used, allowed): {page!r}"
        screen = Screen(kind, page, response.headers.get("X-USSD-Screen", ""))
        self.screens.append(screen)
        return screen

    def dial(self, *inputs: str) -> Screen:
        """A new session; inputs given here arrive on the first hop (*384*44135*1*2#)."""
        self.sid = at_session_id()
        self.inputs = list(inputs)
        self.hops += 1
        self.keystrokes += len(SERVICE_CODE) + sum(len(i) + 1 for i in inputs) + 1
        return self.post("*".join(self.inputs))

    def send(self, value: str) -> Screen:
        self.inputs.append(value)
        self.hops += 1
        self.keystrokes += len(value) + 1  # the digits, then "send"
        return self.post(self.text)

    def again(self) -> Screen:
        """The same hop once more (a gateway duplicate or a retry)."""
        return self.post(self.text)

    @property
    def text(self) -> str:
        return "*".join(self.inputs)

    def walk(self, *inputs: str) -> Screen:
        screen = self.dial()
        for value in inputs:
            screen = self.send(value)
        return screen


@dataclass
class World:
    session: Session
    factory: object
    group: Group
    members: list[Member]

    @property
    def treasurer(self) -> Member:
        return self.members[0]

    def member(self, number: int) -> Member:
        return self.members[number - 1]

    def refresh(self) -> None:
        self.session.expire_all()


def group_with_pins(factory: Factory, *with_pins: str) -> tuple[Group, list[Member]]:
    """15 members and an open cycle; members 1, 2... hold the PINs given (already changed)."""
    group = factory.ready(members=15, start=date.today() - timedelta(weeks=30))
    members = factory.members(group)
    for member, pin in zip(members, with_pins, strict=False):
        pins.set_initial_pin(member, pin)
        member.pin_must_change = False
    return group, members


def _build_world(session: Session, factory: Factory) -> tuple[int, tuple[int, ...]]:
    group, members = group_with_pins(factory, PIN, MEMBER_PIN)
    session.flush()
    return group.id, tuple(m.id for m in members)


@pytest.fixture
def connection(request: pytest.FixtureRequest, engine: Engine) -> Iterator[Connection]:
    """The world's connection in a SAVEPOINT for a test of the world, else the suite database's
    (the world is built once per session: tests/worlds.py)."""
    yield from worlds.connection(request, engine, "ussd", "world", _build_world)


@pytest.fixture
def world(connection: Connection, session: Session, factory: Factory) -> World:
    """Umoja VSLA: 15 members, an open cycle (KES 100 a share, KES 20 social fund), member 1 the
    treasurer with PIN 4321 (already changed), member 2 with PIN 2468."""
    group_id, member_ids = worlds.ids("ussd", connection, factory)
    by_id = {m.id: m for m in session.scalars(select(Member).where(Member.id.in_(member_ids)))}
    return World(session, factory, session.get_one(Group, group_id), [by_id[i] for i in member_ids])


@pytest.fixture
def phone(client: object) -> object:
    return lambda number: Phone(client, number)


def set_language(world: World, language: str, *members: Member) -> None:
    for member in members or world.members:
        member.language = language
    world.session.flush()


LANGS = ("en", "sw", "ar")


def tx(language: str, msgid: str, **facts: object) -> str:
    """The text a page shows for `msgid` in a language (facts already formatted)."""
    from ussd.texts import Texts

    return Texts(language)(msgid, **facts)


def money(language: str, amount: str) -> str:
    from ussd.texts import Texts
    from vision_ledger.money import Money

    return Texts(language).money(Money.parse(amount, "KES"))


@pytest.fixture(params=LANGS)
def lang(request: pytest.FixtureRequest, world: World) -> str:
    """Runs the test in each language: every member of the group speaks it."""
    set_language(world, request.param)
    return request.param


@pytest.fixture
def meeting(world: World) -> object:
    """The group's meeting, open with everyone present."""
    return world.factory.meeting(world.group)  # type: ignore[attr-defined]


@pytest.fixture
def treasurer(world: World, phone: object) -> Phone:
    return phone(world.treasurer.phone)  # type: ignore[operator]


@pytest.fixture
def last_seq(world: World) -> object:
    from sqlalchemy import select

    from vision_ledger.models import Group as GroupModel

    def read() -> int:
        world.session.expire_all()
        return world.session.scalar(select(GroupModel.last_seq).where(GroupModel.id == world.group.id))

    return read


def read_all(phone: Phone, screen: Screen) -> str:
    """A paged screen read to its end: each page's "9 More" followed (Arabic pages hold 80)."""
    from ussd.texts import Texts

    texts = [screen.text]
    while screen.text.splitlines()[-1] in {Texts(lang)("9 More") for lang in LANGS}:
        screen = phone.send("9")
        texts.append(screen.text)
    return "\n".join(texts)
