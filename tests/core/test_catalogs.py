"""The one set of catalogs (vision_ledger/translations) is complete for every door and language:
every message the code shows is translated, with each plural form, and keeps its placeholders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vision_ledger import i18n
from vision_ledger.gsm import is_gsm7

MESSAGES = i18n.message_ids()


def test_extraction_finds_the_texts_of_both_doors() -> None:
    msgids = {m.msgid for m in MESSAGES}
    assert "No such member." in msgids  # a USSD refusal, marked in ussd/texts.py's table
    assert "0 Back  00 Menu" in msgids  # a USSD screen's t("...")
    assert "Too many tries. Please dial again later." in msgids  # the USSD hop limit's page
    assert i18n.Message(None, "OK {name}: {n} share.", "OK {name}: {n} shares.") in MESSAGES
    assert i18n.Message("sms", "No loan.") in MESSAGES  # an SMS word (sms/words.py)
    assert i18n.Message("sms", "share-out: {n} share, {payout} paid to you.",
                        "share-out: {n} shares, {payout} paid to you.") in MESSAGES
    assert i18n.Message("sms kind", "loan") in MESSAGES
    assert i18n.Message("sms", "Meeting {day} (opens)") in MESSAGES  # sms/meeting_words.py
    assert i18n.Message("console", "Sign in") in MESSAGES  # a console template's t("...")
    assert i18n.Message("console", "Books do not verify") in MESSAGES  # a console table's marker


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_message_is_translated_with_its_plural_forms_and_placeholders(language: str) -> None:
    assert i18n.problems(language, MESSAGES) == []


def _catalog_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, language: str,
                  old: str, new: str) -> None:
    """A copy of the real catalogs with one edit, where the check will look."""
    shutil.copytree(i18n.TRANSLATIONS, tmp_path / "translations")
    path = tmp_path / "translations" / language / "LC_MESSAGES" / "messages.po"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    monkeypatch.setattr(i18n, "TRANSLATIONS", tmp_path / "translations")


def test_a_missing_message_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _catalog_with(tmp_path, monkeypatch, "sw", 'msgstr "Hakuna mwanachama huyo."', 'msgstr ""')
    assert i18n.problems("sw", MESSAGES) == ["missing: No such member."]


def test_a_changed_placeholder_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _catalog_with(tmp_path, monkeypatch, "ar", "{active} حاضرون", "{actives} حاضرون")
    assert i18n.problems("ar", MESSAGES) == ["placeholders differ: No quorum: {present} of {active} present."]


def test_a_missing_plural_form_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _catalog_with(tmp_path, monkeypatch, "ar", 'msgstr[5] "تم {name}: {n} سهم."\n', "")
    assert i18n.problems("ar", MESSAGES) == [
        "needs 6 plural forms: OK {name}: {n} share. | OK {name}: {n} shares."]


def test_a_plural_form_may_say_the_count_in_words_but_keeps_the_rest() -> None:
    assert not i18n._form_differs("{name}: سهمان", ["n", "name"])
    assert i18n._form_differs("سهمان", ["n", "name"])
    assert i18n.placeholders("%(who)s paid {amount:>5} of {amount}") == ["amount", "amount", "who"]


def test_each_language_is_compiled_once_per_process() -> None:
    assert i18n.translator("sw") is i18n.translator("sw")
    assert i18n.translator("ar").ngettext("OK {name}: {n} share.", "OK {name}: {n} shares.", 2) \
        == "تم {name}: سهمان."
    assert i18n.translator("fr").gettext("No such member.") == "No such member."


@pytest.mark.parametrize("language", ["en", "sw"])
def test_english_and_swahili_texts_stay_gsm7(language: str) -> None:
    catalog = None if language == "en" else i18n.read_catalog(language)
    for message in MESSAGES:
        if message.context == i18n.CONSOLE_CONTEXT:
            continue  # a web page (en dashes, in English and Arabic), never a USSD screen or an SMS
        if catalog is None:
            forms = [message.msgid, message.plural or ""]
        else:
            entry = catalog.get(message.msgid, message.context)
            forms = list(entry.string) if isinstance(entry.string, tuple | list) else [entry.string]
        for text in forms:
            assert is_gsm7(text), (language, text, [c for c in text if not is_gsm7(c)])
