"""Held-out scores, in plain numpy: accuracy, macro F1, entity F1 and ROC AUC."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def accuracy(truth: Sequence[str], predicted: Sequence[str]) -> float:
    return float(np.mean([a == b for a, b in zip(truth, predicted, strict=True)]))


def macro_f1(truth: Sequence[str], predicted: Sequence[str], labels: Iterable[str]) -> float:
    """Mean over ``labels`` of per-label F1 (a label never predicted nor true counts as 0)."""
    scores = []
    for label in labels:
        tp = sum(t == label and p == label for t, p in zip(truth, predicted, strict=True))
        fp = sum(t != label and p == label for t, p in zip(truth, predicted, strict=True))
        fn = sum(t == label and p != label for t, p in zip(truth, predicted, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores))


def span_f1(truth: Sequence[set[tuple]], predicted: Sequence[set[tuple]]) -> dict[str, float]:
    """Micro precision, recall and F1 of exact (label, start, end) matches."""
    tp = sum(len(t & p) for t, p in zip(truth, predicted, strict=True))
    n_pred = sum(len(p) for p in predicted)
    n_true = sum(len(t) for t in truth)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    labels = np.asarray(labels, dtype=bool)
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = np.asarray(scores)[order]
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(sorted_scores):
        tied = scores == value
        ranks[tied] = ranks[tied].mean()
    positives, negatives = labels.sum(), (~labels).sum()
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))
