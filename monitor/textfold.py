"""Case and accent folding, the one definition that dedup, query analysis and query literals share."""

from __future__ import annotations

import unicodedata

_APOSTROPHES = str.maketrans({"’": "'", "ʼ": "'"})  # typographic apostrophes read as the ASCII one


def fold(text: str) -> str:
    """`text` casefolded, accents dropped (NFKD without combining marks), apostrophes made ASCII."""
    if text.isascii():  # the same result, without the normalisation
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES).casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
