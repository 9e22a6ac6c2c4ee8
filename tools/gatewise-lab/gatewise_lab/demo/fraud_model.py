"""The fraud scorer: a small MLP over the encoded transaction, and the background its explanations use.

``FraudScorer.forward(features)`` returns the fraud probability. Reasons and explanations are
Shapley values the gateway computes per field against ``background`` (``plugins.finance.fraud_explainer``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gatewise.plugins.finance.fraud_features import FIELDS, encode_rows

OUTPUT_NAMES = ["fraud_probability"]
BACKGROUND_ROWS = 8
"""Transactions in the explanation background: each coalition costs this many rows."""


def background(records: list[dict[str, Any]], *, seed: int) -> list[dict[str, Any]]:
    """A seeded sample of legitimate training transactions: what "ordinary" means to an explanation."""
    legitimate = [record for record in records if not record["is_fraud"]]
    chosen = np.random.default_rng(seed).choice(len(legitimate), size=BACKGROUND_ROWS, replace=False)
    return [{name: legitimate[index][name] for name in FIELDS} for index in sorted(chosen)]


def build_scorer(mean: np.ndarray, std: np.ndarray) -> Any:
    """An untrained FraudScorer with its normalisation baked in."""
    import torch
    from torch import nn

    class FraudScorer(nn.Module):
        """features [batch, F] -> probability [batch]."""

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.from_numpy(mean))
            self.register_buffer("std", torch.from_numpy(std))
            width = mean.shape[0]
            self.net = nn.Sequential(nn.Linear(width, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 1))

        def logits(self, features: torch.Tensor) -> torch.Tensor:
            return self.net((features - self.mean) / self.std).squeeze(-1)

        def forward(self, features: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.logits(features))

    return FraudScorer()


def train_scorer(records: list[dict[str, Any]], *, seed: int, epochs: int = 60) -> tuple[Any, np.ndarray]:
    """Train on ``records`` (with ``is_fraud``); returns the module and the encoded features."""
    import torch

    torch.manual_seed(seed)
    features = encode_rows(records)
    labels = np.array([float(record["is_fraud"]) for record in records], dtype=np.float32)
    mean = features.mean(axis=0)
    std = np.maximum(features.std(axis=0), 1e-3).astype(np.float32)
    scorer = build_scorer(mean.astype(np.float32), std)
    optimizer = torch.optim.Adam(scorer.parameters(), lr=3e-3, weight_decay=1e-4)
    x, y = torch.from_numpy(features), torch.from_numpy(labels)
    generator = torch.Generator().manual_seed(seed)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    scorer.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for first in range(0, len(x), 256):
            rows = order[first : first + 256]
            loss = loss_fn(scorer.logits(x[rows]), y[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    scorer.eval()
    return scorer, features
