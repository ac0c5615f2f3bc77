"""The installation's settings: every variable parsed once, a bad value refused by its name, and
README's configuration table listing exactly the variables and defaults of `Settings`."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from vision_ledger.ratelimits import Limit
from vision_ledger.settings import VARIABLES, Settings, SettingsError

# No database: runs in the SQLite pass of scripts/test.sh only (marker nodb).
pytestmark = pytest.mark.nodb

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_table() -> dict[str, str]:
    """variable -> its default cell, from the table under "Configuration (environment variables)"."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Configuration (environment variables)", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`([A-Z_]+)`", cells[0]) if len(cells) == 3 else None
        if match:
            assert match.group(1) not in rows, f"{match.group(1)} is in the table twice"
            rows[match.group(1)] = cells[2]
    return rows


def _shown(value: object) -> str:
    """A default as the README writes it."""
    if value is None or value == ():
        return "none"
    if isinstance(value, bool):
        return "`on`" if value else "`off`"
    if isinstance(value, Limit):
        return f"`{value.count}/{value.seconds}`"
    if isinstance(value, tuple):
        return "`" + ",".join(str(v) for v in value) + "`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{value}`"


def test_the_readme_table_lists_exactly_the_settings_variables():
    assert sorted(_readme_table()) == sorted(VARIABLES)


def test_the_readme_table_gives_each_variable_the_default_of_its_setting():
    table = _readme_table()
    wrong = {f.metadata["env"]: (table[f.metadata["env"]], _shown(f.default)) for f in fields(Settings)
             if not table[f.metadata["env"]].startswith(_shown(f.default))}
    assert not wrong, f"README default -> settings default: {wrong}"


def test_unset_and_empty_variables_keep_their_defaults():
    assert Settings.from_env({}) == Settings()
    assert Settings.from_env({"VISION_SMS_CONCURRENCY": "", "VISION_METRICS": "  "}) == Settings()


def test_every_variable_is_parsed_into_its_type():
    settings = Settings.from_env({
        "VISION_DATABASE_URL": "postgresql://vision@db/vision", "VISION_REPLICA_MAX_LAG": "2.5",
        "VISION_PIN_PEPPER_PREVIOUS": " old-one , older-one ,", "VISION_AUTH_FAILURE_LIMIT": "5/60",
        "AT_TIMEOUT": "2,7", "VISION_SMS_CONCURRENCY": "3", "VISION_VERIFY_HOUR": "23",
        "VISION_LOG_LEVEL": "debug", "VISION_METRICS": "ON", "VISION_METRICS_ALLOW": "10.0.0.0/8, ::1/128",
        "VISION_WORKER_METRICS_PORT": "9101", "UNRELATED": "ignored",
    })
    assert settings.database_url == "postgresql://vision@db/vision"
    assert settings.replica_max_lag == 2.5
    assert settings.pin_pepper_previous == ("old-one", "older-one")
    assert settings.auth_failure_limit == Limit(5, 60)
    assert settings.at_timeout == (2.0, 7.0)
    assert Settings.from_env({"AT_TIMEOUT": "4"}).at_timeout == (4.0, 4.0)
    assert (settings.sms_concurrency, settings.verify_hour, settings.worker_metrics_port) == (3, 23, 9101)
    assert (settings.log_level, settings.metrics) == ("DEBUG", True)
    assert settings.metrics_allow == ("10.0.0.0/8", "::1/128")


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("VISION_SMS_CONCURRENCY", "0", "a whole number, at least 1"),
    ("VISION_SMS_MAX_ATTEMPTS", "eight", "a whole number, at least 1"),
    ("VISION_VERIFY_HOUR", "24", "a whole number from 0 to 23"),
    ("VISION_SMS_POLL", "-1", "a number of seconds"),
    ("VISION_REPLICA_MAX_LAG", "nan", "a number of seconds"),
    ("VISION_AUTH_FAILURE_LIMIT", "20 per 300", "COUNT/SECONDS"),
    ("VISION_METRICS", "maybe", "on or off"),
    ("VISION_METRICS_ALLOW", "10.0.0.0/33", "comma-separated CIDRs"),
    ("VISION_LOG_LEVEL", "LOUD", "a logging level"),
    ("AT_TIMEOUT", "1,2,3", "connect,read seconds"),
    ("VISION_WORKER_METRICS_PORT", "70000", "a whole number from 1 to 65535"),
])
def test_a_bad_value_is_refused_naming_its_variable(variable, value, says):
    with pytest.raises(SettingsError, match=f"^{variable} must be {re.escape(says)}"):
        Settings.from_env({variable: value})


def test_a_short_pepper_is_refused_without_repeating_it():
    with pytest.raises(SettingsError, match=r"^VISION_PIN_PEPPER must be at least 32 characters") as refused:
        Settings.from_env({"VISION_PIN_PEPPER": "short-pepper"})
    assert "short-pepper" not in str(refused.value)


def test_secrets_are_every_secret_value_set():
    settings = Settings.from_env({"VISION_USSD_SECRET": "u-secret", "VISION_PIN_PEPPER": "p" * 32,
                                  "VISION_PIN_PEPPER_PREVIOUS": "old1,old2", "AT_USERNAME": "sandbox"})
    assert sorted(settings.secrets()) == sorted(["u-secret", "p" * 32, "old1", "old2"])
