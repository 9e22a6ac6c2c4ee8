"""The fraud scorer: a small MLP whose ONNX graph also explains each score.

``FraudScorer.forward(features)`` returns the fraud probability and, per feature group, how
many log-odds the score loses when the group is replaced by its value in a typical
legitimate transaction (ablation, computed in the same graph as one extra batch). The
serving plugin turns those into reasons with numpy alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from plugins.finance.fraud_features import encode_rows, group_mask

OUTPUT_NAMES = ["fraud_probability", "contributions"]


def build_scorer(mean: np.ndarray, std: np.ndarray, baseline: np.ndarray) -> Any:
    """An untrained FraudScorer with its normalisation and ablation baseline baked in."""
    import torch
    from torch import nn

    class FraudScorer(nn.Module):
        """features [batch, F] -> (probability [batch], contributions [batch, groups])."""

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.from_numpy(mean))
            self.register_buffer("std", torch.from_numpy(std))
            self.register_buffer("baseline", torch.from_numpy(baseline))
            self.register_buffer("groups", torch.from_numpy(group_mask()))
            width = mean.shape[0]
            self.net = nn.Sequential(nn.Linear(width, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 1))

        def logits(self, features: torch.Tensor) -> torch.Tensor:
            return self.net((features - self.mean) / self.std).squeeze(-1)

        def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            logits = self.logits(features)
            keep = 1.0 - self.groups  # [G, F]
            ablated = features[:, None, :] * keep[None] + self.baseline[None, None, :] * self.groups[None]
            without = self.logits(ablated.reshape(-1, features.shape[-1])).reshape(features.shape[0], -1)
            # NOTE: in log-odds, not probability: a saturated score (0.999) still says what drove it.
            return torch.sigmoid(logits), logits[:, None] - without

    return FraudScorer()


def train_scorer(records: list[dict[str, Any]], *, seed: int, epochs: int = 60) -> tuple[Any, np.ndarray]:
    """Train on ``records`` (with ``is_fraud``); returns the module and the encoded features."""
    import torch

    torch.manual_seed(seed)
    features = encode_rows(records)
    labels = np.array([float(record["is_fraud"]) for record in records], dtype=np.float32)
    mean = features.mean(axis=0)
    std = np.maximum(features.std(axis=0), 1e-3).astype(np.float32)
    baseline = features[labels == 0].mean(axis=0).astype(np.float32)
    scorer = build_scorer(mean.astype(np.float32), std, baseline)
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
