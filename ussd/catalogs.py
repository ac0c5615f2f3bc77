"""The message ids of the USSD door: what the catalogs must translate.

`python -m ussd.catalogs` lists the ids missing from each catalog (a test keeps them complete).
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from .texts import GENERIC_REFUSAL, REFUSALS, TRANSLATIONS

HERE = Path(__file__).resolve().parent
KEYWORDS = {"t": None, "marker": None}


def message_ids() -> set[str]:
    """Every English source string the door shows (extracted from its code, and the refusals)."""
    found = {message for _, _, message, _, _ in extract_from_dir(
        str(HERE), method_map=[("**.py", "python")], keywords=KEYWORDS)
        if isinstance(message, str)}
    return found | set(REFUSALS.values()) | {GENERIC_REFUSAL}


def translated(language: str) -> dict[str, str]:
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        po = read_po(fh, locale=language)
    return {str(m.id): str(m.string) for m in po if m.id and m.string}


def missing(language: str) -> list[str]:
    return sorted(message_ids() - set(translated(language)))


if __name__ == "__main__":  # pragma: no cover
    for lang in ("sw", "ar"):
        path = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
        gaps = missing(lang) if path.exists() else sorted(message_ids())
        print(f"{lang}: {len(gaps)} missing")
        for msgid in gaps:
            print("  " + msgid)
