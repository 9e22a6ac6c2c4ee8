"""Pieces of training that need no model: BIO alignment and the metrics."""

from __future__ import annotations

import numpy as np

from gatewise_lab.demo.metrics import macro_f1, roc_auc, span_f1
from gatewise_lab.demo.train import align_bio, bio_labels


def test_align_bio_marks_first_and_inner_pieces_and_ignores_specials() -> None:
    labels = bio_labels(("DRUG", "DOSAGE"))
    offsets = [(0, 0), (0, 5), (5, 9), (10, 13), (14, 16), (0, 0)]  # "metformin 500 mg"
    entities = [{"label": "DRUG", "start": 0, "end": 9}, {"label": "DOSAGE", "start": 10, "end": 16}]
    tags = [labels[i] if i >= 0 else None for i in align_bio(offsets, entities, labels)]
    assert tags == [None, "B-DRUG", "I-DRUG", "B-DOSAGE", "I-DOSAGE", None]


def test_metrics_on_known_cases() -> None:
    assert macro_f1(["a", "b"], ["a", "a"], ["a", "b"]) == (2 / 3 + 0) / 2
    assert span_f1([{("X", 0, 1)}], [{("X", 0, 1), ("Y", 2, 3)}]) == {"precision": 0.5, "recall": 1.0, "f1": 2 / 3}
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    assert roc_auc(np.array([0, 1]), np.array([0.5, 0.5])) == 0.5
