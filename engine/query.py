"""The query language shared by the CLI and the app.

    red car                 both words, by meaning and as exact words
    "red car"               the exact phrase (a query of quoted phrases only: exact words,
                            no meaning, no model needed)
    cat OR dog              either word
    -people   - people      not this (fewer by meaning, none that hold the word)
    port*                   a prefix
    2:beach + 1:sunset      parts with weights (a part is text between " + " or " - ")
    name:invoice            a word of the file name
    kind:image   kind:document (also photo, photos, doc, docs, pdf)
    in:~/Pictures/2024      only under this folder
    after:2023-06  before:2024   dates (YYYY, YYYY-MM or YYYY-MM-DD)

Anything that is not valid syntax is read literally: an unclosed quote is an ordinary character,
an unknown ``word:`` is a word. Only a bad value of a known field (``after:soon``) is an error.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from . import fts
from .errors import ConfigError

KINDS = {
    "image": "image",
    "images": "image",
    "photo": "image",
    "photos": "image",
    "picture": "image",
    "pictures": "image",
    "document": "document",
    "documents": "document",
    "doc": "document",
    "docs": "document",
    "pdf": "document",
}
FIELDS = ("name", "kind", "in", "after", "before")
MAX_PARTS = 16

_TOKEN = re.compile(r'\s*(-?)(?:(\w+):)?("([^"]*)"|\S+)')
_WEIGHT = re.compile(r"^(\d+(?:\.\d+)?):(?=\S)")


@dataclass(frozen=True)
class Term:
    text: str
    phrase: bool = False
    prefix: bool = False

    def match(self) -> str | None:
        if self.phrase:
            return fts.phrase([self.text], prefix=self.prefix)
        return fts.term(self.text, prefix=self.prefix)


@dataclass
class Part:
    """One weighted piece of meaning, and its words for the keyword index."""

    text: str
    weight: float = 1.0
    negative: bool = False
    groups: list[list[Term]] = field(default_factory=list)  # AND of ORs


@dataclass
class Parsed:
    parts: list[Part] = field(default_factory=list)
    names: list[Term] = field(default_factory=list)
    kind: str | None = None
    folder: str | None = None
    after: str | None = None
    before: str | None = None

    @property
    def positives(self) -> list[Part]:
        return [p for p in self.parts if not p.negative and p.text]

    @property
    def negatives(self) -> list[Part]:
        return [p for p in self.parts if p.negative and p.text]

    def keyword_match(self) -> str | None:
        """The FTS5 expression every keyword hit must satisfy, or None when there is no word."""
        required = []
        for part in self.positives:
            for group in part.groups:
                options = [m for m in (t.match() for t in group) if m]
                if options:
                    required.append(
                        options[0] if len(options) == 1 else f"({' OR '.join(options)})"
                    )
        if not required:
            return None
        return " AND ".join(required)

    def excluded_match(self) -> str | None:
        """An FTS5 expression for the words a result must not hold."""
        options: list[str] = []
        for part in self.negatives:
            for group in part.groups:
                options.extend(m for m in (t.match() for t in group) if m)
        return " OR ".join(options) if options else None

    def name_match(self) -> str | None:
        options = [m for m in (t.match() for t in self.names) if m]
        return " AND ".join(options) if options else None


def _split_parts(text: str) -> list[tuple[bool, str]]:
    """Split at " + " and " - " (spaces on both sides); the first part is positive."""
    pieces = re.split(r"(?:^|\s)([+-])\s+", " " + text)
    out: list[tuple[bool, str]] = []
    negative = False
    for i, piece in enumerate(pieces):
        if i % 2:
            negative = piece == "-"
        elif piece.strip():
            out.append((negative, piece.strip()))
            negative = False
    return out


def parse(text: str, *, live: bool = False) -> Parsed:
    """Read a query. ``live``: the user is still typing, so an unfinished last word is a prefix."""
    parsed = Parsed()
    if len(text) > 2000:
        text = text[:2000]
    chunks = _split_parts(text)[:MAX_PARTS]
    typing = live and not text.endswith((" ", '"'))
    for index, (negative, chunk) in enumerate(chunks):
        weight = 1.0
        found = _WEIGHT.match(chunk)
        if found:
            weight = min(float(found.group(1)), 100.0)
            chunk = chunk[found.end() :]
        part = Part(text="", weight=weight, negative=negative)
        words: list[str] = []
        pending_or = False
        for m in _TOKEN.finditer(chunk):
            minus, name, raw, quoted = m.group(1), m.group(2), m.group(3), m.group(4)
            if not name and raw.endswith(":") and raw[:-1].lower() in FIELDS:
                raise ConfigError(f"{raw} needs a value", f"write {raw}VALUE, without a space")
            if name and name.lower() in FIELDS:
                _field(parsed, name.lower(), quoted if quoted is not None else raw)
                continue
            if name:  # an unknown field: a word with a colon in it
                raw = f"{name}:{raw}"
                quoted = None
            if raw == "OR" and not minus and part.groups and quoted is None:
                pending_or = True
                continue
            phrase = quoted is not None
            value = quoted if phrase else raw
            prefix = not phrase and value.endswith("*") and len(value) > 1
            if prefix:
                value = value.rstrip("*")
            if not phrase and value.startswith('"'):
                value = value.strip('"')  # an unclosed quote: read literally
            if not fts.words(value) and not value.strip():
                continue
            term = Term(value, phrase=phrase, prefix=prefix)
            if minus and value:
                parsed.parts.append(Part(text=value, negative=True, groups=[[term]]))
                continue
            words.append(value)
            if pending_or and part.groups:
                part.groups[-1].append(term)
            else:
                part.groups.append([term])
            pending_or = False
        if pending_or:  # a last "OR" with nothing after it is a word
            words.append("OR")
            part.groups.append([Term("OR")])
        if typing and index == len(chunks) - 1 and part.groups:
            last = part.groups[-1][-1]
            if not last.phrase:
                part.groups[-1][-1] = Term(last.text, prefix=True)
        part.text = " ".join(words)
        if part.text:
            parsed.parts.append(part)
    return parsed


def _field(parsed: Parsed, name: str, value: str) -> None:
    if name == "name":
        if value.strip():
            parsed.names.append(Term(value, phrase=" " in value.strip()))
    elif name == "kind":
        kind = KINDS.get(value.lower())
        if kind is None:
            raise ConfigError(f"kind:{value} is not a kind", "use kind:image or kind:document")
        parsed.kind = kind
    elif name == "in":
        if not value.strip():
            raise ConfigError("in: needs a folder", "write in:FOLDER, e.g. in:~/Pictures")
        parsed.folder = os.path.expanduser(value)
    else:
        from .search import parse_date

        parse_date(value)  # a bad date is one clear line, here
        if name == "after":
            parsed.after = value
        else:
            parsed.before = value
