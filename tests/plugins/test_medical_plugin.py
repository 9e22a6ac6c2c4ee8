"""The medical plugin with a tiny tokenizer and a fake tagger: offsets into the original text,
BIO merging, abstention, and no identifier in any log record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from gatewise.plugins.harness import (
    PluginHarness,
    assert_not_logged,
    capture_logs,
    model_context,
    texts,
    tiny_tokenizer,
)
from gatewise.plugins.medical import plugin as medical
from gatewise.plugins.medical.entities import merge_bio

LABELS = ["O"] + [f"{prefix}-{kind}" for kind in ("PROBLEM", "DRUG", "DOSAGE", "TEST", "PROCEDURE") for prefix in "BI"]
TAGS = {"metformin": "B-DRUG", "500": "B-DOSAGE", "mg": "I-DOSAGE", "type": "B-PROBLEM", "2": "I-PROBLEM",
        "diabetes": "I-PROBLEM", "hba1c": "B-TEST", "maybeitis": "B-PROBLEM"}  # fmt: skip
WORDS = [*TAGS, "for", "on", "seen", "by", "dr", "gave", "date", "name", "[", "]", ".", ",", "patient"]


@pytest.fixture
def harness(tmp_path: Path) -> PluginHarness:
    model = model_context(
        tmp_path, "medical-ner", plugin="medical", task="token-classification", labels=LABELS,
        parameters={"min_confidence": 0.6},
        engine_inputs=[("input_ids", "INT64", (-1, -1)), ("attention_mask", "INT64", (-1, -1))],
        engine_outputs=[("logits", "FP32", (-1, -1, len(LABELS)))],
    )  # fmt: skip
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(str(tiny_tokenizer(model.assets, WORDS))).get_vocab()
    table = np.zeros((len(vocab), len(LABELS)), dtype=np.float32)
    table[:, 0] = 6.0
    for word, tag in TAGS.items():
        table[vocab[word]] = 0.0
        table[vocab[word], LABELS.index(tag)] = 6.0
    # "maybeitis": PROBLEM only just ahead of DRUG, so its confidence is about one half.
    table[vocab["maybeitis"], LABELS.index("B-DRUG")] = 5.9

    def engine(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"logits": table[inputs["input_ids"]]}

    return PluginHarness(medical, model, engine)


def _entities(out: dict, row: int, text: str) -> list[tuple[str, str]]:
    return [(e["label"], text[e["start"] : e["end"]]) for e in json.loads(out["entities"][row])]


def test_entity_offsets_point_into_the_original_text(harness: PluginHarness) -> None:
    """Placeholders shorten or lengthen the text; offsets still index what the client sent."""
    text = "Seen by Dr. Montgomery-Wellington on 03/14/2024 for type 2 diabetes, gave metformin 500 mg."
    out = harness.infer({"text": texts([text])})
    assert _entities(out, 0, text) == [("PROBLEM", "type 2 diabetes"), ("DRUG", "metformin"), ("DOSAGE", "500 mg")]
    redactions = json.loads(out["redactions"][0])
    assert [(r["type"], text[r["start"] : r["end"]]) for r in redactions] == [
        ("NAME", "Montgomery-Wellington"), ("DATE", "03/14/2024")]  # fmt: skip


def test_unicode_before_entities(harness: PluginHarness) -> None:
    text = "Dr. Łukasz Żółć 😀 gave metformin"
    out = harness.infer({"text": texts([text])})
    assert _entities(out, 0, text) == [("DRUG", "metformin")]


def test_low_confidence_entity_is_uncertain_not_a_guess(harness: PluginHarness) -> None:
    text = "patient maybeitis, hba1c"
    out = harness.infer({"text": texts([text])})
    assert _entities(out, 0, text) == [("uncertain", "maybeitis"), ("TEST", "hba1c")]
    lowered = harness.infer({"text": texts([text])}, {"min_confidence": 0.1})
    assert _entities(lowered, 0, text)[0] == ("PROBLEM", "maybeitis")


def test_entity_never_covers_a_placeholder() -> None:
    """A span the model tags over a placeholder would point at an identifier: it is dropped."""
    from gatewise.plugins.common.deid import deidentify
    from gatewise.plugins.medical.entities import entities_of_row

    masked = deidentify("MRN 00482913 noted")  # -> "MRN [MRN] noted"
    offsets = [(0, 0), (0, 3), (4, 5), (5, 8), (8, 9), (10, 15), (0, 0)]
    words = [None, 0, 1, 2, 3, 4, None]
    probabilities = np.zeros((7, len(LABELS)), dtype=np.float32)
    probabilities[:, 0] = 1
    probabilities[1:5] = 0
    probabilities[1, LABELS.index("B-DOSAGE")] = 1
    probabilities[2:5, LABELS.index("I-DOSAGE")] = 1
    assert entities_of_row(probabilities, offsets, words, LABELS, masked, 0.5) == []


def test_word_pieces_are_labelled_by_their_first_piece() -> None:
    """A word split into pieces is one span, even when a later piece is tagged otherwise."""
    offsets = [(0, 0), (0, 3), (3, 6), (6, 10), (11, 17), (0, 0)]  # "Intubation helped"
    word_ids = [None, 0, 0, 0, 1, None]
    probabilities = np.zeros((6, len(LABELS)), dtype=np.float32)
    probabilities[:, 0] = 1
    probabilities[1] = 0
    probabilities[1, LABELS.index("B-PROCEDURE")] = 1
    probabilities[2] = 0
    probabilities[2, LABELS.index("B-TEST")] = 1
    assert merge_bio(probabilities, offsets, word_ids, LABELS) == [("PROCEDURE", 0, 10, 1.0)]


def test_no_identifier_reaches_any_log_record(harness: PluginHarness) -> None:
    secrets = ["Montgomery", "03/14/2024", "617-555-0199", "jdoe@example.org", "123-45-6789", "00482913"]
    text = "Dr. Montgomery on 03/14/2024, call 617-555-0199, jdoe@example.org, SSN 123-45-6789, MRN 00482913"
    with capture_logs() as records:
        harness.infer({"text": texts([text])})
        harness.infer({"text": texts([text])}, {"min_confidence": 0.0})
    assert_not_logged(records, secrets)
