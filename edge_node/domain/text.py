"""Vietnamese text helpers: NFC storage and diacritic-free search keys.

Unicode gives Đ/đ no decomposition, so NFD + dropping combining marks leaves
them in place; they are mapped explicitly. Old and new tone placement
("Hoà"/"Hòa", "Thuỷ"/"Thủy") both fold to the same key.
"""

import re
import unicodedata

_D_MAP = str.maketrans({"đ": "d", "Đ": "D"})
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[0-9a-z]+")


def nfc(text: str) -> str:
    """Return *text* in NFC with runs of white space collapsed and ends trimmed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def fold(text: str) -> str:
    """Return a lower-case key without diacritics and with Đ/đ → d.

    >>> fold("Đăng ký khai sinh")
    'dang ky khai sinh'
    """
    decomposed = unicodedata.normalize("NFD", text.translate(_D_MAP))
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return _SPACES.sub(" ", stripped.lower()).strip()


def words(text: str) -> list[str]:
    """Split folded *text* into alphanumeric search words."""
    return _WORD.findall(fold(text))


def accent_key(text: str) -> str:
    """Lower-case NFC key that keeps accents but ignores tone placement.

    "Hoà" and "Hòa" differ only in where the tone mark sits; both are valid
    NFC, so comparing accent-exact we normalise the placement by re-composing
    each syllable's marks in a fixed order (NFD, sort marks, NFC).
    """
    out = []
    for word in nfc(text).lower().split(" "):
        d = unicodedata.normalize("NFD", word)
        base = "".join(c for c in d if unicodedata.category(c) != "Mn")
        marks = "".join(sorted(c for c in d if unicodedata.category(c) == "Mn"))
        out.append(base + "|" + marks + "|")
    return " ".join(out)
