"""The query language: structure, literal fallbacks, one-line errors."""

from __future__ import annotations

import pytest

from engine import fts
from engine.errors import ConfigError
from engine.query import parse


def test_words_phrases_or_prefix_and_negatives() -> None:
    p = parse('"red car" OR bus port* -people')
    assert [x.text for x in p.positives] == ["red car bus port"]
    assert p.keyword_match() == f'("red car" OR {fts.term("bus")}) AND "port"*'
    assert [x.text for x in p.negatives] == ["people"]
    assert p.excluded_match() == fts.term("people")


def test_numbers_and_addresses_are_sequences_not_loose_words() -> None:
    assert parse("INV-2024-0042").keyword_match() == '"inv 2024 0042"'
    assert parse("450,000").keyword_match() == '"450 000"'


def test_no_prefix_unless_typing() -> None:
    assert parse("port").keyword_match() == fts.term("port")  # the word or one of its stems
    assert "*" not in str(fts.term("port"))
    assert parse("port", live=True).keyword_match() == '"port"*'
    assert parse("port ", live=True).keyword_match() == fts.term("port")


def test_weighted_parts_and_compact_negative() -> None:
    p = parse("2:beach - people + sunset")
    assert [(x.text, x.weight, x.negative) for x in p.parts] == [
        ("beach", 2.0, False),
        ("people", 1.0, True),
        ("sunset", 1.0, False),
    ]


def test_fields() -> None:
    p = parse("name:invoice kind:photos in:/tmp/x after:2020 before:2021-06 sea")
    assert p.kind == "image" and p.folder == "/tmp/x"
    assert (p.after, p.before) == ("2020", "2021-06")
    assert p.name_match() == fts.term("invoice")
    assert [x.text for x in p.positives] == ["sea"]


def test_bad_syntax_is_read_literally() -> None:
    p = parse('unclosed "quote foo:bar OR')
    assert [x.text for x in p.positives] == ["unclosed quote foo:bar OR"]
    assert parse('""').keyword_match() is None
    assert parse("   ").parts == []


@pytest.mark.parametrize("text", ["after:soon", "kind:spaceship", "in:"])
def test_bad_field_values_are_one_clear_error(text: str) -> None:
    with pytest.raises(ConfigError):
        parse(text)
