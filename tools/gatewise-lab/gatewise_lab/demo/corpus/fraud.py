"""Card transactions from a seeded generative process, about 12% of them fraudulent.

Fraud is drawn first, then each field from a class-conditional distribution that overlaps
with the legitimate one (fraud at lunchtime in a grocery shop exists), plus 2% label noise,
so a perfect score is impossible and the model has to weigh several signals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gatewise.plugins.finance.fraud_features import CURRENCIES, MERCHANT_CATEGORIES, USD_PER_UNIT


@dataclass(frozen=True)
class _Profile:
    """One class's distributions, drawn in this order for every row."""

    amount: tuple[float, float]
    """Mean and sigma of the log of the amount in USD."""
    night: float
    """Weight of an hour before 06:00 (daytime hours weigh 1 to 1.5)."""
    mismatch: float
    present: float
    velocity: float
    """Mean of the Poisson count of transactions in the last 24 hours."""
    age: float
    """Mean of the exponential account age in days."""
    distance: tuple[float, float]
    """Mean and sigma of the log of the distance from home in km."""
    categories: tuple[int, ...]
    """Weights of MERCHANT_CATEGORIES."""
    currencies: tuple[int, ...]
    """Weights of CURRENCIES."""


_PROFILES = {
    True: _Profile(
        amount=(5.3, 1.1), night=3.0, mismatch=0.55, present=0.2, velocity=6, age=120, distance=(5.5, 1.4),
        categories=(4, 3, 4, 2, 1, 16, 18, 10, 10, 14, 9, 9), currencies=(35, 20, 10, 8, 5, 22),
    ),
    False: _Profile(
        amount=(3.6, 1.0), night=0.4, mismatch=0.06, present=0.7, velocity=2, age=900, distance=(2.0, 1.2),
        categories=(22, 18, 12, 8, 8, 14, 5, 5, 1, 2, 2, 3), currencies=(45, 30, 12, 4, 5, 4),
    ),
}  # fmt: skip
"""Fraudulent (True) and legitimate (False) transactions."""


def _row(rng: np.random.Generator, fraud: bool) -> dict:
    profile = _PROFILES[fraud]
    # Amounts are drawn in USD and converted, so a yen amount looks like a yen amount.
    amount = float(rng.lognormal(*profile.amount))
    hour = int(rng.choice(24, p=_hour_weights(night=profile.night)))
    mismatch = bool(rng.random() < profile.mismatch)
    present = bool(rng.random() < profile.present)
    velocity = int(rng.poisson(profile.velocity))
    age = int(rng.exponential(profile.age))
    distance = float(rng.lognormal(*profile.distance))
    category = rng.choice(len(MERCHANT_CATEGORIES), p=_norm(profile.categories))
    currency = rng.choice(len(CURRENCIES), p=_norm(profile.currencies))
    return {
        "amount": round(amount / USD_PER_UNIT[CURRENCIES[currency]], 2),
        "currency": CURRENCIES[currency],
        "merchant_category": MERCHANT_CATEGORIES[category],
        "hour": hour,
        "country_mismatch": mismatch,
        "card_present": present,
        "transactions_last_24h": velocity,
        "account_age_days": age,
        "distance_from_home_km": round(distance, 1),
    }


def _hour_weights(night: float) -> np.ndarray:
    weights = np.array([night if hour < 6 else (1.5 if 11 <= hour <= 20 else 1.0) for hour in range(24)])
    return weights / weights.sum()


def _norm(weights: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(weights, dtype=float)
    return array / array.sum()


def transactions(count: int, seed: int, fraud_rate: float = 0.12, noise: float = 0.02) -> list[dict]:
    """``count`` records with the fields of ``FIELDS`` and an ``is_fraud`` label."""
    rng = np.random.default_rng(seed)
    records = []
    for _ in range(count):
        fraud = bool(rng.random() < fraud_rate)
        record = _row(rng, fraud)
        record["is_fraud"] = (not fraud) if rng.random() < noise else fraud
        records.append(record)
    return records


def generate(seed: int = 23, train_size: int = 8000, held_out_size: int = 2000) -> dict[str, list[dict]]:
    """Train and held-out transactions from independent random streams."""
    return {"train": transactions(train_size, seed), "held_out": transactions(held_out_size, seed + 1000)}
