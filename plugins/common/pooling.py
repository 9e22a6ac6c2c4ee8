"""Sentence embeddings from token states: pooling over the real tokens, then unit length.

Shared by the ``feature-extraction`` plugin and retail search (whose catalog embeddings
the demo build computes with the same functions), so a query and a catalog are pooled alike.
"""

from __future__ import annotations

import numpy as np

POOLING_MODES = ("mean", "cls", "max")


def pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """Pool ``[batch, seq, dim]`` over the tokens where ``mask`` is 1."""
    if mode not in POOLING_MODES:
        raise RuntimeError(f"pooling {mode!r} is not one of {', '.join(POOLING_MODES)}")
    hidden = hidden.astype(np.float32, copy=False)
    weights = mask.astype(np.float32)[:, :, None]
    if mode == "cls":
        return hidden[:, 0]
    if mode == "mean":
        return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    return np.where(weights > 0, hidden, -np.inf).max(axis=1)


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length (a zero row stays zero)."""
    vectors = vectors.astype(np.float32, copy=False)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
