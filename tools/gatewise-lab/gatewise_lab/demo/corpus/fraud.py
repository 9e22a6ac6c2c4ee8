"""Card transactions from a seeded generative process, about 12% of them fraudulent.

Fraud is drawn first, then each field from a class-conditional distribution that overlaps
with the legitimate one (fraud at lunchtime in a grocery shop exists), plus 2% label noise,
so a perfect score is impossible and the model has to weigh several signals.
"""

from __future__ import annotations

import numpy as np
from gatewise.plugins.finance.fraud_features import CURRENCIES, MERCHANT_CATEGORIES, USD_PER_UNIT

_LEGIT_CATEGORY_WEIGHTS = [22, 18, 12, 8, 8, 14, 5, 5, 1, 2, 2, 3]
_FRAUD_CATEGORY_WEIGHTS = [4, 3, 4, 2, 1, 16, 18, 10, 10, 14, 9, 9]
_LEGIT_CURRENCY_WEIGHTS = [45, 30, 12, 4, 5, 4]
_FRAUD_CURRENCY_WEIGHTS = [35, 20, 10, 8, 5, 22]


def _row(rng: np.random.Generator, fraud: bool) -> dict:
    # Amounts are drawn in USD and converted, so a yen amount looks like a yen amount.
    if fraud:
        amount = float(rng.lognormal(5.3, 1.1))
        hour = int(rng.choice(24, p=_hour_weights(night=3.0)))
        mismatch = bool(rng.random() < 0.55)
        present = bool(rng.random() < 0.2)
        velocity = int(rng.poisson(6))
        age = int(rng.exponential(120))
        distance = float(rng.lognormal(5.5, 1.4))
        category = rng.choice(len(MERCHANT_CATEGORIES), p=_norm(_FRAUD_CATEGORY_WEIGHTS))
        currency = rng.choice(len(CURRENCIES), p=_norm(_FRAUD_CURRENCY_WEIGHTS))
    else:
        amount = float(rng.lognormal(3.6, 1.0))
        hour = int(rng.choice(24, p=_hour_weights(night=0.4)))
        mismatch = bool(rng.random() < 0.06)
        present = bool(rng.random() < 0.7)
        velocity = int(rng.poisson(2))
        age = int(rng.exponential(900))
        distance = float(rng.lognormal(2.0, 1.2))
        category = rng.choice(len(MERCHANT_CATEGORIES), p=_norm(_LEGIT_CATEGORY_WEIGHTS))
        currency = rng.choice(len(CURRENCIES), p=_norm(_LEGIT_CURRENCY_WEIGHTS))
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


def _norm(weights: list[int]) -> np.ndarray:
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
