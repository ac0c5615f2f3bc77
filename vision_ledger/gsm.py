"""GSM 03.38: tell GSM-7 from UCS-2, count septets, SMS segments and USSD pages, fold typography.

Shared by the doors: SMS counts the parts a text is billed as, USSD measures each page as the
gateway sends it (182 GSM-7 septets, or 80 UCS-2 characters once any character is outside GSM-7).
"""

from __future__ import annotations

import unicodedata
from typing import Final, Literal

Encoding = Literal["GSM-7", "UCS-2"]

# The GSM 03.38 default alphabet (the 128 code points of the basic table, ESC excluded because
# it is not a character but the prefix of the extension table).
GSM7_BASIC: Final[frozenset[str]] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

# Characters of the extension table: each is sent as ESC + code, so it costs two septets.
GSM7_EXTENSION: Final[frozenset[str]] = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE: Final = 160
GSM7_MULTI: Final = 153  # 7 septets of each part go to the concatenation header
UCS2_SINGLE: Final = 70
UCS2_MULTI: Final = 67  # 6 octets of header leave 134 octets, i.e. 67 UTF-16 code units

# Typographic characters with a plain GSM-7 equivalent. Each one left in a message would make
# the whole message UCS-2 (less than half the characters per part), and word processors and
# phone keyboards put them in silently.
_FOLD: Final[dict[str, str]] = {
    # single quotes, primes, accents used as apostrophes; ASCII backtick is not in GSM-7 either
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u2039": "'", "\u203a": "'", "\u00b4": "'", "`": "'",
    # double quotes, double prime, guillemets
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u00ab": '"', "\u00bb": '"',
    # hyphens, dashes and the minus sign
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
    "\u2015": "-", "\u2212": "-",
    "\u2026": "...",
    # spaces that are not U+0020 (tab is not in GSM-7 either)
    "\t": " ", "\u00a0": " ", "\u2002": " ", "\u2003": " ", "\u2004": " ", "\u2005": " ",
    "\u2006": " ", "\u2007": " ", "\u2008": " ", "\u2009": " ", "\u200a": " ",
    "\u202f": " ", "\u205f": " ", "\u3000": " ",
    # invisible characters that only force UCS-2. ZWJ/ZWNJ are deliberately kept: they shape
    # Arabic and Persian script and join emoji.
    "\u200b": "", "\u2060": "", "\ufeff": "", "\u00ad": "",
}
_FOLD_TABLE: Final = str.maketrans(_FOLD)


def is_gsm7(text: str) -> bool:
    """Return True when every character of text is in the GSM-7 basic or extension table."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def gsm7_length(text: str) -> int:
    """Return the number of septets text takes in GSM-7 (extension characters count 2)."""
    total = 0
    for ch in text:
        if ch in GSM7_BASIC:
            total += 1
        elif ch in GSM7_EXTENSION:
            total += 2
        else:
            raise ValueError(f"character {ch!r} (U+{ord(ch):04X}) is not in GSM-7")
    return total


def encoding(text: str) -> Encoding:
    """Return the encoding an SMS carrying text will use: "GSM-7" or "UCS-2"."""
    return "GSM-7" if is_gsm7(text) else "UCS-2"


def ucs2_length(text: str) -> int:
    """Return the number of UTF-16 code units of text (characters beyond the BMP count 2)."""
    return len(text.encode("utf-16-le")) // 2


def _units(text: str) -> tuple[list[int], int, int]:
    """Return the unsplittable unit sizes of text and the single and multi-part capacities."""
    if is_gsm7(text):
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text], GSM7_SINGLE, GSM7_MULTI
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text], UCS2_SINGLE, UCS2_MULTI


def segments(text: str) -> int:
    """Return how many SMS parts text is sent (and billed) as; an empty text is one part."""
    units, single, multi = _units(text)
    if sum(units) <= single:
        return 1
    # Senders do not split an ESC sequence or a surrogate pair across parts, so a two-unit
    # character that would straddle a boundary moves whole to the next part.
    parts, used = 1, 0
    for size in units:
        if used + size > multi:
            parts += 1
            used = size
        else:
            used += size
    return parts


def to_gsm7(text: str) -> str:
    """Replace typographic characters that have a plain GSM-7 equivalent; leave the rest alone."""
    folded = text.translate(_FOLD_TABLE)
    if is_gsm7(folded):
        return folded
    # A decomposed "e" + U+0301 is GSM-7 once composed. Compose only when that makes the whole
    # text GSM-7, so scripts without an equivalent (Arabic, ...) keep their exact code points.
    composed = unicodedata.normalize("NFC", folded)
    return composed if is_gsm7(composed) else folded


# A USSD page is 160 octets: 182 septets of GSM-7, or 80 UTF-16 code units of UCS-2.
USSD_GSM7: Final = 182
USSD_UCS2: Final = 80


def ussd_size(text: str) -> tuple[int, int]:
    """Return (the units a USSD page of text takes, the units its encoding allows)."""
    if is_gsm7(text):
        return gsm7_length(text), USSD_GSM7
    return ucs2_length(text), USSD_UCS2


def fits_ussd_page(text: str) -> bool:
    """Return True when text fits one USSD page in the encoding the gateway will use for it."""
    used, allowed = ussd_size(text)
    return used <= allowed
