"""Passages respect paragraphs, overlap, and the token budget."""

from __future__ import annotations

import itertools
import re

import pytest

from agents.ingestion.split import split_passages
from agents.providers.base import estimate_tokens


def paragraph(n: int, sentences: int = 4) -> str:
    return " ".join(f"Paragraph {n} sentence {i} has a few words." for i in range(sentences))


def test_short_text_is_one_passage() -> None:
    assert split_passages("One line.\n\nAnother   line\nwrapped.") == [
        "One line.\n\nAnother line wrapped."]


def test_empty_text_has_no_passages() -> None:
    assert split_passages(" \n\n \n") == []


def test_breaks_fall_between_paragraphs_when_they_fit() -> None:
    text = "\n\n".join(paragraph(n) for n in range(6))
    passages = split_passages(text, max_tokens=100, overlap_tokens=0)
    assert len(passages) > 1
    for p in passages:
        assert estimate_tokens(p) <= 100
        # Each passage is made of whole paragraphs.
        assert all(part == paragraph(int(part.split()[1])) for part in p.split("\n\n"))


@pytest.mark.parametrize(("sentences", "max_tokens"), [(4, 100), (12, 60)])
def test_consecutive_passages_overlap(sentences: int, max_tokens: int) -> None:
    # Paragraphs that fit a passage (broken between), and paragraphs that do not (cut).
    text = "\n\n".join(paragraph(n, sentences=sentences) for n in range(4))
    passages = split_passages(text, max_tokens=max_tokens, overlap_tokens=30)
    assert len(passages) >= 3
    for before, after in itertools.pairwise(passages):
        first_sentence = re.split(r"(?<=\.)\s+", after)[0]
        assert first_sentence in before, (before, after)
        assert estimate_tokens(after) <= max_tokens


def test_every_sentence_is_kept() -> None:
    text = "\n\n".join(paragraph(n, sentences=5) for n in range(5))
    joined = " ".join(split_passages(text, max_tokens=60, overlap_tokens=20))
    for n in range(5):
        for i in range(5):
            assert f"Paragraph {n} sentence {i} has" in joined


def test_a_sentence_over_the_budget_is_cut_at_words() -> None:
    long = " ".join(f"w{i}" for i in range(200))
    passages = split_passages(long, max_tokens=40, overlap_tokens=0)
    assert len(passages) > 1
    assert all(estimate_tokens(p) <= 40 for p in passages)
    assert " ".join(passages).split() == long.split()


def test_bad_budgets_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        split_passages("x", max_tokens=50, overlap_tokens=50)
    with pytest.raises(ValueError, match="max_tokens"):
        split_passages("x", max_tokens=2)


def test_passages_say_the_page_their_new_text_starts_on() -> None:
    from agents.ingestion.split import PAGE_BREAK, split_pages

    pages = [paragraph(n, sentences=6) for n in range(3)]
    text = f"\n\n{PAGE_BREAK}\n\n".join(pages)
    found = split_pages(text, max_tokens=60, overlap_tokens=15)
    assert [p for _, p in found] == sorted(p for _, p in found)  # never back
    assert {p for _, p in found} == {1, 2, 3}
    for passage, page in found:  # on its page only: no overlap across a page break
        assert set(re.findall(r"Paragraph (\d+)", passage)) == {str(page - 1)}
    assert split_pages("No pages here.")[0][1] is None
