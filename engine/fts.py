"""Words in every script, for FTS5: the index's tokenizer and how a user's word becomes a MATCH.

The query language (engine/query.py) decides the structure (AND, OR, NOT, phrases, prefixes);
this module decides how one word or phrase is matched and how text is cut into tokens, so that
both sides always agree.

Tokens:
- A word is a run of letters, digits and combining marks, as SQLite's unicode61 sees it; it is
  case-folded and its diacritics removed ("Café" → "cafe"), and compatibility forms unified
  (the "ﬁ" ligature of PDFs → "fi", full-width "ＡＢ" → "ab").
- Scripts written without spaces (Chinese, Japanese, Korean; Thai, Lao, Khmer, Myanmar) become
  overlapping pairs of characters (bigrams, as Recoll and Lucene's CJK analyser do): any word of
  two or more characters is then a phrase of bigrams, found anywhere inside a run, without a
  dictionary that would miss names and new words. A Latin word stuck to such a run
  ("Belding和Kevin") is a word of its own. A run's last character is also kept alone (at the same
  position), so a one-character query finds it as a prefix.
- In a passage whose language is recognised (py3langid) and has a Snowball stemmer, every word
  also gets its stem in that language as a second token at the same position ("tarpaulins" →
  "tarpaulins" and "~en~tarpaulin"). A user's word matches its exact form, or its stem in each
  language matched against passages of that language only (a Finnish stem of an English word
  never meets English text); hits on exact forms rank first (Store.keyword).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import threading
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from typing import Any

log = logging.getLogger(__name__)

TOKENIZER = "lanterna"
# Bump when the tokens made from a text change: an index made with other tokens is rebuilt
# (FTS5 can only delete a row's tokens if they are the ones it was given).
VERSION = 2
STEM = "~"
MIN_STEM_LEN = 3
# Below this, a passage's language is a guess: it gets no stems, only exact words.
MIN_LANGUAGE_CHARS = 16
MIN_LANGUAGE_PROB = 0.2

# ISO 639-1 codes (as py3langid names them) → Snowball algorithms.
STEMMERS = {
    "ar": "arabic",
    "hy": "armenian",
    "eu": "basque",
    "ca": "catalan",
    "cs": "czech",
    "da": "danish",
    "nl": "dutch",
    "en": "english",
    "eo": "esperanto",
    "et": "estonian",
    "fi": "finnish",
    "fr": "french",
    "de": "german",
    "el": "greek",
    "hi": "hindi",
    "hu": "hungarian",
    "id": "indonesian",
    "ms": "indonesian",
    "ga": "irish",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "no": "norwegian",
    "nn": "norwegian",
    "fa": "persian",
    "pl": "polish",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "hr": "serbian",
    "bs": "serbian",
    "st": "sesotho",
    "es": "spanish",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
}

# Scripts without spaces between words.
_CJK = (
    "\u1100-\u11ff\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3031-\u3035\u3038-\u303c"
    "\u3040-\u312f\u3131-\u318f\u31a0-\u31bf\u31f0-\u31ff\u3200-\u33ff\u3400-\u4dbf"
    "\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\uff66-\uffdc"
    "\U0001b000-\U0001b16f\U00020000-\U0003ffff"
)
_SEA = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u19e0-\u19ff\u1a20-\u1aaf\ua9e0-\ua9ff\uaa60-\uaa7f"
# Combining marks that are diacritics of letters (removed), as opposed to the vowel signs of
# Thai or Devanagari and the kana voicing marks (kept).
_DIACRITICS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")

WORD, BIGRAMS = 0, 1


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """Regular expressions over Unicode categories, built once (~20 ms) on first use."""
    category = unicodedata.category
    ranges: list[tuple[int, int]] = []
    start = -1
    for cp in range(0x300, 0x20000):
        mark = category(chr(cp))[0] == "M"
        if mark and start < 0:
            start = cp
        elif not mark and start >= 0:
            ranges.append((start, cp - 1))
            start = -1
    ranges.append((0xE0100, 0xE01EF))  # variation selectors
    marks = "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)
    run = re.compile(f"(?:[^\\W_]|[{marks}])+")
    script = re.compile(
        f"(?P<cjk>(?:[{_CJK}][{marks}]*)+)|(?P<sea>(?:[{_SEA}][{marks}]*)+)|[^{_CJK}{_SEA}]+"
    )
    unit = re.compile(f".[{marks}]*", re.S)
    return run, script, unit


def fold(word: str) -> str:
    """Case-folded, diacritics removed, compatibility forms unified."""
    if word.isascii():
        return word.lower()
    text = unicodedata.normalize("NFKD", word.casefold())
    return unicodedata.normalize("NFC", _DIACRITICS.sub("", text))


_ASCII_RUN = re.compile(r"[^\W_]+")  # the same as _patterns()'s first on ASCII text


def _pieces(text: str) -> Iterator[tuple[int, int, int]]:
    """(start, end, kind) of each word (WORD) or run of a script without spaces (BIGRAMS)."""
    if text.isascii():  # most queries: no need to build the Unicode tables (~30 ms)
        for m in _ASCII_RUN.finditer(text):
            yield m.start(), m.end(), WORD
        return
    run_re, script_re, _ = _patterns()
    ascii_text = False
    for m in run_re.finditer(text):
        start, end = m.span()
        if ascii_text or m.group().isascii():
            yield start, end, WORD
            continue
        for s in script_re.finditer(text, start, end):
            yield s.start(), s.end(), BIGRAMS if s.lastgroup else WORD


def _units(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The characters (a letter with its combining marks) of a run, as spans."""
    return [m.span() for m in _patterns()[2].finditer(text, start, end)]


Token = tuple[int, int, str] | tuple[int, int, str, str]


def tokens(text: str, *, stems: bool = False, colocated: bool = True) -> Iterator[Token]:
    """(start, end, token[, same-position token]) in character offsets, as the index holds them.

    ``stems``: add each word's stem when the passage's language has a stemmer. ``colocated``:
    include the tokens that share a position (a run's last character alone, stems); queries
    and snippets do without them.
    """
    stem = _stemmer_for(text) if stems and colocated else None
    for start, end, kind in _pieces(text):
        if kind == WORD:
            word = fold(text[start:end])
            if not word:
                continue
            if stem is not None and len(word) >= MIN_STEM_LEN and word.isalpha():
                yield start, end, word, stem(text[start:end])
            else:
                yield start, end, word
            continue
        units = _units(text, start, end)
        if len(units) == 1:
            yield start, end, fold(text[start:end])
            continue
        last = len(units) - 2
        for i in range(len(units) - 1):
            s, e = units[i][0], units[i + 1][1]
            pair = fold(text[s:e])
            if i == last and colocated:
                yield s, e, pair, fold(text[units[-1][0] : e])
            else:
                yield s, e, pair


# -- languages and stems ----------------------------------------------------------------------

_lock = threading.Lock()
_warned: list[bool] = []


@functools.cache
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def language(text: str) -> str | None:
    """The ISO 639-1 code of the passage's language, or None when too short or unclear."""
    letters = sum(1 for c in text[:2000] if c.isalpha())
    if letters < MIN_LANGUAGE_CHARS:
        return None
    with _lock:  # the model loads once; classifying is read-only after that
        if _warned:
            return None  # it failed once: the same tokens for the rest of this process
        try:
            identifier = _identifier()
        except Exception:  # a broken install: exact words still work, stems wait
            if not _warned:
                _warned.append(True)
                log.warning("no language model (py3langid): words are not stemmed", exc_info=True)
            return None
    code, prob = identifier.classify(text[:4000])
    return str(code) if prob >= MIN_LANGUAGE_PROB else None


@functools.cache
def _stemmer(algorithm: str) -> Callable[[str], str]:
    import snowballstemmer

    stemmer = snowballstemmer.stemmer(algorithm)
    lock = threading.Lock()  # a Snowball stemmer keeps state while it works

    @functools.lru_cache(maxsize=65536)
    def stem(word: str) -> str:
        with lock:
            return fold(stemmer.stemWord(word.casefold()))

    return stem


# One tag per stemmer, in the stem tokens: "~en~tarpaulin".
TAGS = {algorithm: code for code, algorithm in reversed(list(STEMMERS.items()))}


def _stemmer_for(text: str) -> Callable[[str], str] | None:
    """The passage's stem function, giving the whole stem token (tag included)."""
    algorithm = STEMMERS.get(language(text) or "")
    if not algorithm:
        return None
    stem = _stemmer(algorithm)
    prefix = f"{STEM}{TAGS[algorithm]}{STEM}"
    return lambda word: prefix + stem(word)


def stems(word: str) -> list[str]:
    """The word's stem tokens in every stemmed language ("~en~tarpaulin", "~de~tarpaulin", …),
    from the word as written and without its accents."""
    out: list[str] = []
    forms = {word, fold(word)}
    for algorithm in sorted(TAGS):
        stem = _stemmer(algorithm)
        for form in sorted(forms):
            token = f"{STEM}{TAGS[algorithm]}{STEM}{stem(form)}"
            if stem(form) and token not in out:
                out.append(token)
    return out


def signature() -> str:
    """What the index's tokens depend on; a change means the full-text index is rebuilt."""
    parts = [f"lanterna-{VERSION}"]
    for package in ("snowballstemmer", "py3langid"):
        parts.append(f"{package}-{_version(package)}")
    parts.append(f"unicode-{unicodedata.unidata_version}")
    return " ".join(parts)


def _version(package: str) -> str:
    """An installed package's version, from its ``dist-info`` folder's name where it sits
    beside the package (every index opening asks: importlib.metadata costs ~35 ms to load)."""
    import importlib.util
    import os

    spec = importlib.util.find_spec(package)
    if spec is not None and spec.submodule_search_locations:
        site = os.path.dirname(next(iter(spec.submodule_search_locations)))
        prefix = f"{package.replace('-', '_')}-".lower()
        with contextlib.suppress(OSError):
            found = [
                n[len(prefix) : -len(".dist-info")]
                for n in os.listdir(site)
                if n.lower().startswith(prefix) and n.endswith(".dist-info")
            ]
            if len(found) == 1:
                return found[0]
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


# -- the user's words -------------------------------------------------------------------------


def _is_unit(piece: str) -> bool:
    """One character of a script without spaces (matched as a prefix of the index's pairs)."""
    if piece.isascii():
        return False
    _, script_re, unit_re = _patterns()
    m = script_re.fullmatch(piece)
    return bool(m and m.lastgroup and len(unit_re.findall(piece)) == 1)


def words(text: str) -> list[str]:
    """The index's words in ``text``, folded as the tokenizer folds them.

    A run of a script without spaces is one word here (its pairs are made when matching);
    single letters are left out, single digits and single CJK characters are kept.
    """
    return [w for w, kind in _words(text) if kind == BIGRAMS or len(w) > 1 or w.isdigit()]


def _words(text: str) -> list[tuple[str, int]]:
    out = []
    for start, end, kind in _pieces(text):
        word = fold(text[start:end])
        if word:
            out.append((word, kind))
    return out


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def term(word: str, *, prefix: bool = False) -> str | None:
    """A MATCH expression for one user word (``prefix``: the word may be the start of a longer one).

    A plain word also matches its stems (see the module's docstring); pieces that a word holds
    ("450,000", "e-mail", "Belding和Kevin") must follow each other, as the text holds them.
    Returns None when the word holds nothing the index can match (punctuation only).
    """
    pieces = _words(word)
    if len(pieces) > 1:  # every piece counts here: "e-mail" is "e" then "mail"
        return phrase([w for w, _ in pieces], prefix=prefix)
    parts = words(word)
    if not parts:
        return None
    only = parts[0]
    if prefix or _is_unit(only):
        return _quote(only) + "*"
    alternatives = [_quote(only)]
    if only.isalpha() and len(only) >= MIN_STEM_LEN and not _has_bigrams(only):
        alternatives += [_quote(s) for s in stems(only)]
    if len(alternatives) == 1:
        return alternatives[0]
    return "(" + " OR ".join(alternatives) + ")"


def _has_bigrams(word: str) -> bool:
    return any(kind == BIGRAMS for _, _, kind in _pieces(word))


def phrase(parts: Sequence[str], *, prefix: bool = False) -> str | None:
    """A MATCH expression for words that must follow each other in this order (exact forms)."""
    pieces = [w for p in parts for w, _ in _words(p)]
    if not pieces:
        return None
    if _is_unit(pieces[-1]):
        prefix = True  # a lone last character: the text may go on after it in the same run
    return _quote(" ".join(pieces)) + ("*" if prefix else "")


# -- SQLite: the tokenizer and the function that says how a row matched ------------------------


def register(conn: Any) -> None:
    """Make the tokenizer and the match function known to one apsw connection."""
    import apsw
    import apsw._unicode

    conn.register_fts5_tokenizer(TOKENIZER, _factory(apsw))
    conn.register_fts5_function("lanterna_match", _match_info)


def _factory(apsw: Any) -> Callable[[Any, list[str]], Callable[[bytes, int, str | None], Any]]:
    position_mapper = apsw._unicode.to_utf8_position_mapper

    def factory(_conn: Any, args: list[str]) -> Callable[[bytes, int, str | None], Any]:
        with_stems = "stems" in args

        def tokenize(utf8: bytes, flags: int, _locale: str | None) -> list[Any]:
            mapper = position_mapper(utf8)
            text: str = mapper.str
            if flags & apsw.FTS5_TOKENIZE_QUERY:
                stripped = text.strip()
                if stripped.startswith(STEM) and len(stripped) > 1 and " " not in stripped:
                    return [(0, len(utf8), stripped)]
                found = tokens(text, colocated=False)
            else:
                document = bool(flags & apsw.FTS5_TOKENIZE_DOCUMENT)
                found = tokens(text, stems=with_stems and document, colocated=document)
            return [(mapper(t[0]), mapper(t[1]), *t[2:]) for t in found]

        return tokenize

    return factory


def _match_info(api: Any, *args: Any) -> str:
    """JSON for the current row: how many of the query's exact (unstemmed) phrases and stem
    phrases it holds, and up to ``args[0]`` highlighted fragments (``args[1]`` tokens each)."""
    count = int(args[0]) if args else 3
    width = int(args[1]) if len(args) > 1 else 24
    exact = stemmed = 0
    hits: dict[int, int] = {}  # token position → length of the phrase that starts there
    for index, phrase_tokens in enumerate(api.phrases):
        located = [p for col in api.phrase_locations(index) for p in col]
        if not located:
            continue
        if any(t and t.startswith(STEM) for t in phrase_tokens):
            stemmed += 1
        else:
            exact += 1
        for p in located:
            hits[p] = max(hits.get(p, 0), len(phrase_tokens))
    fragments = _fragments(api, hits, count, width) if count > 0 and hits else []
    return json.dumps({"exact": exact, "stemmed": stemmed, "snippets": fragments})


def _fragments(api: Any, hits: dict[int, int], count: int, width: int) -> list[str]:
    utf8 = api.column_text(0)
    found = api.tokenize(utf8, None, include_offsets=True, include_colocated=False)
    spans = [(t[0], t[1]) for t in found]
    if not spans:
        return []
    # windows around hits, the ones with most distinct hits first, never overlapping
    windows: list[tuple[int, int, int]] = []
    for start in sorted(hits):
        lo = max(0, start - width // 3)
        hi = min(len(spans), lo + width)
        lo = max(0, hi - width)
        score = sum(1 for p in hits if lo <= p < hi)
        windows.append((score, lo, hi))
    chosen: list[tuple[int, int]] = []
    for _score, lo, hi in sorted(windows, key=lambda w: (-w[0], w[1])):
        if all(hi <= c_lo or lo >= c_hi for c_lo, c_hi in chosen):
            chosen.append((lo, hi))
        if len(chosen) == count:
            break
    out = []
    for lo, hi in chosen:
        # byte ranges to bracket, a phrase as one; the pairs of a CJK run overlap: merge
        ranges: list[list[int]] = []
        for start, length in sorted(hits.items()):
            if lo <= start < hi:
                s, e = spans[start][0], spans[min(start + length, hi) - 1][1]
                if ranges and s <= ranges[-1][1]:
                    ranges[-1][1] = max(ranges[-1][1], e)
                else:
                    ranges.append([s, e])
        begin, finish = spans[lo][0], max(e for _, e in spans[lo:hi])
        parts: list[bytes] = ["…".encode()] if lo > 0 else []
        pos = begin
        for s, e in ranges:
            parts += [utf8[pos:s], b"[", utf8[s:e], b"]"]
            pos = e
        parts.append(utf8[pos:finish])
        if hi < len(spans):
            parts.append("…".encode())
        out.append(_join_marks(b"".join(parts).decode("utf-8", "replace")))
    return out


def _join_marks(text: str) -> str:
    """``[a] [b]`` for a phrase reads better as ``[a b]``; adjacent pairs of a CJK run merge too."""
    text = re.sub(r"\](\s*)\[", r"\1", text)
    return " ".join(text.split())


def refresh(conn: Any) -> bool:
    """Rebuild the full-text index if it was made with other tokens (a new Lanterna, stemmer or
    language model); returns whether it did. Needs the writer connection, outside a transaction."""
    current = signature()
    rows = conn.execute("SELECT value FROM meta WHERE key='fts_signature'").fetchall()
    if rows and rows[0][0] == current:
        return False
    log.info("rebuilding the keyword index for new tokens (%s)", current)
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("INSERT INTO fts_text(fts_text) VALUES ('rebuild')")
        conn.execute("INSERT INTO fts_names(fts_names) VALUES ('rebuild')")
        conn.execute(
            "INSERT INTO meta(key, value) VALUES('fts_signature', ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (current,),
        )
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return True
