"""Texts in people's languages: the one gettext toolchain every door uses (USSD, SMS, the console).

    from vision_ledger.i18n import translator
    t = translator("sw")                       # cached per process; an unknown language is English
    t.gettext("No such member.")
    t.ngettext("{n} share", "{n} shares", 3)   # the language's plural form for 3 (fill {n} yourself)
    t.pgettext("sms", "No loan.")              # a message in a context: every SMS text is in "sms"
    t.npgettext("sms", "...{n} share...", "...{n} shares...", 3)

`translator` returns the standard library's `gettext.GNUTranslations` (`NullTranslations` for
English), so those four methods are the whole API. English is the source language: a msgid is the
English text and there is no English catalog. The catalogs are
`vision_ledger/translations/<language>/LC_MESSAGES/messages.po`; Babel reads one and compiles it in
memory the first time a process uses its language, never again (no .mo is kept in the repository).

Conventions the catalog check enforces: placeholders are `{name}` (or `%(name)s`) and a
translation has exactly its msgid's; in a plural message the count is `{n}`, which a form may say
in words instead ("سهمان"). Messages are found in the code of `SOURCES` by the `KEYWORDS` below,
the way `pybabel extract` finds them; a text kept in a table is marked so extraction sees it:
`marker("...")` (a plain string) or `message(context, "...")` / `plural(context, "...", "...")`
(a `Message` to hand to `translate` later; the SMS words are kept this way).

`python -m vision_ledger.i18n` prints, per language, every message a catalog lacks, every plural
form missing and every placeholder that differs (exit status 1 if any); tests/core/test_catalogs.py
fails on the same list.
"""

from __future__ import annotations

import gettext
import importlib.util
import io
import re
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import NamedTuple

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = ("en", "sw", "ar")
SOURCE_LANGUAGE = "en"
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
# Packages whose code shows texts to people (scanned as files, never imported from here).
SOURCES = ("ussd", "sms", "vision_ledger", "api.console")
# The staff console's messages (its code and its Jinja templates) are in context "console" (its
# words, e.g. "loan" or "Savings", read differently from USSD's and SMS's), and it is offered in
# English and Arabic only: Swahili staff read the English until its entries are written.
CONSOLE = "api.console"
CONSOLE_CONTEXT = "console"
CONSOLE_LANGUAGES = ("en", "ar")
# Call names that mark a message: gettext's own, USSD's `t("...")`/`t.n(...)`, table markers.
# Babel's keyword specs: None (the first argument is the message), or the argument positions of
# the message, its plural and its context ((n, "c")).
KEYWORDS: dict[str, tuple[int | tuple[int, str], ...] | None] = {
    "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "npgettext": ((1, "c"), 2, 3),
    "t": None, "n": (1, 2), "marker": None,
    "message": ((1, "c"), 2), "plural": ((1, "c"), 2, 3),
}


def translator(language: str) -> gettext.NullTranslations:
    """The translations of a language, compiled once per process (English and unknown: the msgids)."""
    return _compiled(language if language in LANGUAGES else SOURCE_LANGUAGE)


@cache
def _compiled(language: str) -> gettext.NullTranslations:
    if language == SOURCE_LANGUAGE or not catalog_path(language).exists():
        return gettext.NullTranslations()
    buffer = io.BytesIO()
    write_mo(buffer, read_catalog(language))
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def catalog_path(language: str) -> Path:
    return TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"


def read_catalog(language: str) -> Catalog:
    """The catalog of a language as Babel reads it (its messages, plural rule and forms)."""
    with catalog_path(language).open("rb") as fh:
        return read_po(fh, locale=language)


# --- the check ---------------------------------------------------------------------------------


class Message(NamedTuple):
    """A message the code shows: its context (None for most), English text and English plural."""

    context: str | None
    msgid: str
    plural: str | None = None

    def __str__(self) -> str:
        head = f"[{self.context}] " if self.context else ""
        return head + self.msgid + (f" | {self.plural}" if self.plural else "")


def marker(msgid: str) -> str:
    """Marks a text for extraction whose translation happens later (a label in a table)."""
    return msgid


def message(context: str | None, msgid: str) -> Message:
    """A message kept in a table, translated later with `translate`."""
    return Message(context, msgid)


def plural(context: str | None, singular: str, plural: str) -> Message:
    """A message with a count ({n}) kept in a table, translated later with `translate(..., n)`."""
    return Message(context, singular, plural)


def translate(language: str, text: Message, n: int | None = None) -> str:
    """The translation of a table's message (its plural form for n), placeholders still unfilled."""
    t = translator(language)
    if text.plural is not None:
        if n is None:
            raise TypeError(f"a plural message needs a count: {text}")
        if text.context is None:
            return t.ngettext(text.msgid, text.plural, n)
        return t.npgettext(text.context, text.msgid, text.plural, n)
    return t.gettext(text.msgid) if text.context is None else t.pgettext(text.context, text.msgid)


def _source_dirs(packages: Iterable[str]) -> list[Path]:
    dirs: list[Path] = []
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            dirs.extend(Path(p) for p in spec.submodule_search_locations)
    return dirs


def message_ids(packages: Iterable[str] = SOURCES) -> set[Message]:
    """Every message the code of those packages shows, found as `pybabel extract` would (the
    console's templates through Jinja's extractor)."""
    found = set()
    for package in packages:
        console = package == CONSOLE
        method_map = [("**.py", "python")]
        if console:
            method_map.append(("**/templates/**.html", "jinja2.ext:babel_extract"))
        for directory in _source_dirs([package]):
            for _, _, text, _, found_context in extract_from_dir(
                    str(directory), method_map=method_map, keywords=KEYWORDS,
                    options_map={"**/templates/**.html": {"silent": "false"}}):
                context = found_context or (CONSOLE_CONTEXT if console else None)
                if isinstance(text, tuple):
                    if len(text) > 1 and text[1]:
                        found.add(Message(context, text[0], text[1]))
                    else:
                        found.add(Message(context, text[0]))
                elif text:
                    found.add(Message(context, text))
    return found


_PLACEHOLDER = re.compile(r"\{(\w*)[^{}]*\}|%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[sdifr]")


def placeholders(text: str) -> list[str]:
    """The names a text fills, sorted, each as often as it appears (`{amount}`, `%(name)s`)."""
    return sorted(brace or percent for brace, percent in _PLACEHOLDER.findall(text))


def _form_differs(form: str, english: list[str]) -> bool:
    """A plural form must fill what the English does, except that it may say {n} in words."""
    names = placeholders(form)
    return names not in (english, [name for name in english if name != "n"])


def problems(language: str, messages: Iterable[Message] | None = None) -> list[str]:
    """What a language's catalog lacks or gets wrong for the messages the code shows."""
    wanted = sorted(message_ids() if messages is None else messages, key=str)
    if language not in CONSOLE_LANGUAGES:
        wanted = [m for m in wanted if m.context != CONSOLE_CONTEXT]
    found: list[str] = []
    for message in wanted:
        if message.plural and _form_differs(message.msgid, placeholders(message.plural)):
            found.append(f"english singular and plural fill different placeholders: {message}")
    if language == SOURCE_LANGUAGE:
        return found
    if not catalog_path(language).exists():
        return [*found, f"no catalog at {catalog_path(language)}"]
    catalog = read_catalog(language)
    for message in wanted:
        entry = catalog.get(message.msgid, message.context)
        english = placeholders(message.plural or message.msgid)
        if entry is None or entry.fuzzy or not entry.string:
            found.append(f"missing: {message}")
        elif message.plural:
            forms = entry.string if isinstance(entry.string, tuple | list) else (entry.string,)
            if not isinstance(entry.id, tuple) or len(forms) != catalog.num_plurals \
                    or not all(forms):
                found.append(f"needs {catalog.num_plurals} plural forms: {message}")
            else:
                found.extend(f"placeholders of form {index} differ: {message}"
                             for index, form in enumerate(forms) if _form_differs(form, english))
        elif isinstance(entry.id, tuple):
            found.append(f"a plural in the catalog but not in the code: {message}")
        elif placeholders(str(entry.string)) != english:
            found.append(f"placeholders differ: {message}")
    return found


def main() -> int:  # pragma: no cover - the command line of the check
    messages = message_ids()
    status = 0
    for language in LANGUAGES:
        gaps = problems(language, messages)
        print(f"{language}: {len(messages)} messages, {len(gaps)} problems")
        for gap in gaps:
            print("  " + gap)
        status = status or int(bool(gaps))
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
