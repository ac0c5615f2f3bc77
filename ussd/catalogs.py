"""The message ids of the USSD door: what the catalogs must translate.

`python -m ussd.catalogs` lists the ids missing from each catalog (a test keeps them complete).
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from .texts import GENERIC_REFUSAL, REFUSALS, TRANSLATIONS

HERE = Path(__file__).resolve().parent
KEYWORDS = {"t": None, "marker": None, "n": (1, 2)}


def message_ids() -> set[str]:
    """Every English source string the door shows (extracted from its code, and the refusals)."""
    found = {message if isinstance(message, str) else message[0]
             for _, _, message, _, _ in extract_from_dir(
                 str(HERE), method_map=[("**.py", "python")], keywords=KEYWORDS)}
    return found | set(REFUSALS.values()) | {GENERIC_REFUSAL}


def translated(language: str) -> dict[str, str]:
    """Singular msgid -> its translation; a plural message gives its forms joined by newlines
    (each form translated, or the message counts as missing)."""
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        po = read_po(fh, locale=language)
    found = {}
    for m in po:
        if not m.id:
            continue
        if isinstance(m.id, tuple):
            if all(m.string):
                found[str(m.id[0])] = "\n".join(str(form) for form in m.string)
        elif m.string:
            found[str(m.id)] = str(m.string)
    return found


def plurals(language: str) -> dict[tuple[str, str], tuple[str, ...]]:
    """(singular, plural) -> the language's forms, for the plural messages of a catalog."""
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        po = read_po(fh, locale=language)
    return {(str(m.id[0]), str(m.id[1])): tuple(str(f) for f in m.string)
            for m in po if isinstance(m.id, tuple)}


def missing(language: str) -> list[str]:
    return sorted(message_ids() - set(translated(language)))


if __name__ == "__main__":  # pragma: no cover
    for lang in ("sw", "ar"):
        path = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
        gaps = missing(lang) if path.exists() else sorted(message_ids())
        print(f"{lang}: {len(gaps)} missing")
        for msgid in gaps:
            print("  " + msgid)
