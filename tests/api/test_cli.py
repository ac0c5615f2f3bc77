"""The vision-ledger command: migrate, token create/list/revoke, demo, verify."""

from __future__ import annotations

import itertools

from api import cli, demo
from api.models import ApiToken
from tests.conftest import fresh_database_url
from vision_ledger.db import Database
from vision_ledger.models import VerificationRun


def _run(url, *argv):
    return cli.main(["--database", url, *argv])


def test_migrate_demo_tokens_and_verify(tmp_path_factory, capsys):
    url = fresh_database_url(tmp_path_factory, "cli")
    assert _run(url, "migrate") == 0
    assert _run(url, "demo") == 0
    out = capsys.readouterr().out
    for role in ("admin", "auditor", "treasurer", "member"):
        assert f"  {role}" in out
    assert "+254711000001" in out and "PIN 1234" in out
    # A second run adds nothing, but prints fresh tokens.
    assert _run(url, "demo") == 0
    assert "already in this database" in capsys.readouterr().out
    assert _run(url, "verify", "--all") == 0
    assert ": ok (run " in capsys.readouterr().out
    database = Database(url)
    with database.unit_of_work(write=False) as s:  # the cron run is kept for the auditors
        kept = s.query(VerificationRun).one()
        assert (kept.trigger, kept.scope, kept.failed_groups) == ("command", "all", 0)
        assert kept.entries_checked > 0
    database.dispose()
    assert _run(url, "token", "create", "--role", "treasurer", "--group", "1", "--name", "phone") == 0
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    assert secret.startswith("vl_")
    database = Database(url)
    with database.unit_of_work(write=False) as s:
        token = s.query(ApiToken).filter(ApiToken.name == "phone").one()
        assert token.token_hash != secret
    assert _run(url, "token", "revoke", str(token.id)) == 0
    assert _run(url, "token", "list") == 0
    assert "revoked  phone" in capsys.readouterr().out
    database.engine.dispose()


def test_token_for_a_missing_group_is_refused(tmp_path_factory, capsys):
    url = fresh_database_url(tmp_path_factory, "cli2")
    assert _run(url, "token", "create", "--role", "treasurer", "--group", "9", "--name", "x") == 2
    assert "group.not_found" in capsys.readouterr().err


def test_demo_meetings_are_weekly_and_in_the_past(session):
    from datetime import date

    from sqlalchemy import select

    from vision_ledger.models import Meeting

    loaded = demo.load(session)
    dates = list(session.scalars(select(Meeting.date).where(Meeting.group_id == loaded.group_id)
                                 .order_by(Meeting.date)))
    assert len(dates) == 5 and dates[-1] < date.today()
    assert {(b - a).days for a, b in itertools.pairwise(dates)} == {7}


def test_cli_has_the_commands_of_every_door(tmp_path_factory, capsys):
    url = fresh_database_url(tmp_path_factory, "doors")
    assert _run(url, "migrate") == 0
    assert _run(url, "sms", "status") == 0
    assert "pending" in capsys.readouterr().out
    for command in ("ussd-sim", "worker", "sms"):
        try:
            cli.main([command, "--help"])
        except SystemExit as done:  # argparse's help exits 0
            assert done.code == 0
        assert "usage: vision-ledger" in capsys.readouterr().out


def test_the_demo_service_answers_the_ussd_menu_and_the_api(tmp_path_factory, monkeypatch):
    """What `vision-ledger serve --demo` builds: the app from a database URL, with every door."""
    from api import create_app

    url = fresh_database_url(tmp_path_factory, "served")
    assert _run(url, "migrate") == 0
    db = Database(url)
    with db.unit_of_work() as s:
        loaded = demo.load(s)
        treasurer_token = loaded.tokens["treasurer"][1]
    db.engine.dispose()
    monkeypatch.setenv("VISION_USSD_SECRET", "demo-ussd")
    app = create_app({"DATABASE": url})
    client = app.test_client()
    r = client.post("/ussd/demo-ussd", data={"sessionId": "ATUid_demo1", "serviceCode": "*384*1#",
                                              "phoneNumber": "+254711000001", "text": "",
                                              "networkCode": "63902"})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_data(as_text=True).startswith("CON ")
    me = client.get("/api/me", headers={"Authorization": f"Bearer {treasurer_token}"})
    assert me.status_code == 200, me.get_data(as_text=True)
    app.config["DATABASE"].engine.dispose()


def test_import_members_dry_run_then_real_then_rerun(tmp_path_factory, tmp_path, capsys):
    from tests.core.test_imports import SAMPLE, csv_of, umoja
    from vision_ledger import groups
    from vision_ledger.actors import Actor
    from vision_ledger.models import Member

    url = fresh_database_url(tmp_path_factory, "cli_import")
    database = Database(url)
    with database.unit_of_work() as s:
        programme = groups.create_programme(s, Actor.system(), name="P", country="KE", currency="USD")
        pid = str(programme.id)
    assert _run(url, "import", "members", str(SAMPLE), "--programme", pid, "--dry-run") == 0
    assert "groups 3 new" in capsys.readouterr().out
    assert _run(url, "import", "members", str(SAMPLE), "--programme", pid) == 0
    assert "members 10 new, 0 unchanged" in capsys.readouterr().out
    assert _run(url, "import", "members", str(SAMPLE), "--programme", pid) == 0
    assert "members 0 new, 10 unchanged" in capsys.readouterr().out

    bad = tmp_path / "bad.csv"
    rows = umoja(3)
    rows[1] = rows[1].replace("0712300001", "0712")
    bad.write_bytes(csv_of(*rows))
    flags = ("--timezone", "Africa/Nairobi", "--schedule", "Thursday")
    assert _run(url, "import", "members", str(bad), "--programme", pid, *flags, "--dry-run") == 1
    assert "row 3, phone: " in capsys.readouterr().out
    assert _run(url, "import", "members", str(bad), "--programme", pid, *flags) == 2
    out = capsys.readouterr().out
    assert "row 3, phone: " in out and "nothing was written" in out
    assert _run(url, "import", "members", str(bad), "--programme", "999", *flags) == 2
    assert "programme.not_found" in capsys.readouterr().err
    assert _run(url, "import", "members", str(tmp_path / "missing.csv"), "--programme", pid) == 2
    assert "cannot read" in capsys.readouterr().err
    with database.unit_of_work(write=False) as s:
        assert s.query(Member).count() == 10
    database.engine.dispose()
def test_programme_create_prints_its_id_and_list_shows_its_currency(tmp_path_factory, capsys):
    url = fresh_database_url(tmp_path_factory, "cli3")
    assert _run(url, "programme", "create", "--name", "Pockets of Stability", "--country", "YE",
                "--currency", "YER", "--timezone", "Asia/Aden", "--languages", "ar,en",
                "--usd-rate", "530", "--minor-digits", "2") == 0
    programme_id = int(capsys.readouterr().out.strip())
    assert _run(url, "programme", "list") == 0
    row = next(line for line in capsys.readouterr().out.splitlines()
               if line.strip().startswith(str(programme_id))).split()
    assert row[1:6] == ["YE", "YER", "2", "530", "Asia/Aden"]
    assert _run(url, "token", "create", "--role", "operator", "--name", "ops") == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("vl_")
    assert _run(url, "token", "list") == 0
    assert "installation" in capsys.readouterr().out


def test_programme_create_with_conflicting_digits_is_refused(tmp_path_factory, capsys):
    url = fresh_database_url(tmp_path_factory, "cli4")
    base = ["programme", "create", "--name", "Y", "--country", "YE", "--currency", "YER",
            "--timezone", "Asia/Aden", "--usd-rate", "530"]
    assert _run(url, *base) == 0
    capsys.readouterr()
    assert _run(url, *base, "--minor-digits", "2") == 2
    assert "currency.digits_conflict" in capsys.readouterr().err
