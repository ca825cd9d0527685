"""How a user's word or phrase becomes an FTS5 MATCH expression over the index's tokenisation.

The query language (engine/query.py) decides the structure (AND, OR, NOT, phrases, prefixes);
this module decides how one word or phrase is matched, so that the index side (tokenizer,
stemming, scripts without spaces) can change without touching the query side.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """The index's words in ``text``, lower-cased, as the tokenizer would see them."""
    return [w for w in _WORD.findall(text.lower()) if len(w) > 1 or w.isdigit()]


def _quote(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def term(word: str, *, prefix: bool = False) -> str | None:
    """A MATCH expression for one user word (``prefix``: the word may be the start of a longer one).

    Returns None when the word holds nothing the index can match (punctuation only).
    """
    parts = words(word)
    if not parts:
        return None
    if len(parts) == 1:
        return _quote(parts[0]) + ("*" if prefix else "")
    # "450,000", "e-mail", "a@b.org": the pieces in sequence, as the text holds them
    return phrase(parts, prefix=prefix)


def phrase(parts: Sequence[str], *, prefix: bool = False) -> str | None:
    """A MATCH expression for words that must follow each other in this order."""
    tokens = [w for p in parts for w in words(p)]
    if not tokens:
        return None
    return '"' + " ".join(t.replace('"', '""') for t in tokens) + '"' + ("*" if prefix else "")
