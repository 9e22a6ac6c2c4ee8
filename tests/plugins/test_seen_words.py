"""Only the words a model sees are weighed: ``seen_length`` against the tokenizer's truncation, and the
tokens of a long text cut there are the tokens of the whole text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gatewise.plugins.common.masking import Span, mask
from gatewise.plugins.common.words import text_perturber, word_units
from gatewise.plugins.harness import tiny_tokenizer
from gatewise.plugins.text.encoding import seen_length, visible_text
from tokenizers import Tokenizer

VOCAB = ["the", "movie", "was", "great", "price", "awful", ",", "."]


@pytest.fixture
def tokenizer(tmp_path: Path) -> Tokenizer:
    tiny_tokenizer(tmp_path, VOCAB)
    loaded = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    loaded.enable_truncation(max_length=8)  # [CLS] + 6 tokens + [SEP]
    return loaded


def test_a_text_that_fits_is_seen_whole(tokenizer: Tokenizer) -> None:
    assert seen_length(tokenizer, "the movie was great") == len("the movie was great")


def test_a_long_text_is_seen_up_to_the_word_of_its_last_kept_token(tokenizer: Tokenizer) -> None:
    text = "the movie was great, the price was awful"
    assert text[: seen_length(tokenizer, text)] == "the movie was great, the"  # 6 tokens: the "," is one


@pytest.mark.parametrize("size", [10_000, 1_000_000])
def test_a_long_text_cut_where_it_is_seen_gives_the_same_tokens(tokenizer: Tokenizer, size: int) -> None:
    """The cut is found from short prefixes, and encoding it gives exactly the tokens of the whole text."""
    text = ("the movie was great, awful price. " * (size // 30))[:size]
    visible = visible_text(tokenizer, text)
    assert len(visible) < 100
    assert tokenizer.encode(visible).ids == tokenizer.encode(text).ids


def test_one_giant_word_is_seen_whole(tokenizer: Tokenizer) -> None:
    """No whitespace to cut at: the whole text is encoded (it is one [UNK] token)."""
    text = "x" * 5000
    assert seen_length(tokenizer, text) == len(text)


def test_only_seen_words_are_units_and_no_coalition_holds_an_unseen_one() -> None:
    text = "refund to card 4111 1111 1111 1111 failed, margins collapsed badly"
    card = text.index("4111")
    masked = mask(text, [Span(card, card + 19, "CARD")])
    seen = masked.text.index(" margins")  # the model reads up to "failed,"
    units, spans = word_units(masked, seen)
    assert [unit.text for unit in units] == ["refund", "to", "card", "[CARD]", "failed"]
    perturb = text_perturber(masked, spans, seen=seen)
    rows = perturb(np.array([[True] * 5, [False, True, True, True, True]]))["text"]
    assert [row.decode() for row in rows] == ["refund to card [CARD] failed,", "to card [CARD] failed,"]
