"""The fraud model's feature encoding, shared by training (``gatewise_lab.demo``) and serving.

numpy only, so serving never imports torch. Features are grouped so that an explanation
can say "merchant_category" instead of naming one column of a one-hot block.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CHF", "OTHER")
USD_PER_UNIT = {"USD": 1.0, "EUR": 1.08, "GBP": 1.27, "JPY": 0.0067, "CHF": 1.12, "OTHER": 1.0}
MERCHANT_CATEGORIES = (
    "grocery", "restaurant", "fuel", "pharmacy", "utilities", "online_retail",
    "electronics", "travel", "jewelry", "gift_cards", "gambling", "crypto",
)  # fmt: skip
FIELDS: dict[str, str] = {
    "amount": "FP32",
    "currency": "BYTES",
    "merchant_category": "BYTES",
    "hour": "INT32",
    "country_mismatch": "BOOL",
    "card_present": "BOOL",
    "transactions_last_24h": "INT32",
    "account_age_days": "INT32",
    "distance_from_home_km": "FP32",
}
"""Every field of a transaction and its tensor datatype, in the order of the public signature."""

GROUPS: dict[str, tuple[int, ...]] = {}
_column = 0
for _name, _width in (
    ("amount", 1), ("currency", len(CURRENCIES)), ("merchant_category", len(MERCHANT_CATEGORIES)),
    ("hour", 3), ("country_mismatch", 1), ("card_present", 1), ("transactions_last_24h", 1),
    ("account_age_days", 1), ("distance_from_home_km", 1),
):  # fmt: skip
    GROUPS[_name] = tuple(range(_column, _column + _width))
    _column += _width
NUM_FEATURES = _column


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def encode_row(row: Mapping[str, Any], index: int = 0) -> np.ndarray:
    """One transaction as the model's feature vector; ValueError names the row and field."""
    missing = [name for name in FIELDS if name not in row]
    if missing:
        raise ValueError(f"transaction row {index} lacks field(s) {missing}")
    features = np.zeros(NUM_FEATURES, dtype=np.float32)
    # NOTE: errors name the row and field, never the value: messages reach logs and clients.
    numbers = {}
    for name, kind in (("amount", float), ("hour", int), ("transactions_last_24h", int),
                       ("account_age_days", int), ("distance_from_home_km", float)):  # fmt: skip
        try:
            numbers[name] = kind(row[name])
        except (TypeError, ValueError):
            raise ValueError(f"transaction row {index}: {name} must be a number") from None
    amount, hour = numbers["amount"], numbers["hour"]
    velocity, age, distance = (
        numbers["transactions_last_24h"],
        numbers["account_age_days"],
        numbers["distance_from_home_km"],
    )
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"transaction row {index}: amount must be a non-negative number")
    if not 0 <= hour <= 23:
        raise ValueError(f"transaction row {index}: hour must be 0..23, got {hour}")
    if velocity < 0 or age < 0 or not math.isfinite(distance) or distance < 0:
        raise ValueError(f"transaction row {index}: counts, ages and distances must be non-negative")
    currency = _text(row["currency"]).upper()
    currency = currency if currency in CURRENCIES else "OTHER"
    category = _text(row["merchant_category"]).lower()
    if category not in MERCHANT_CATEGORIES:
        raise ValueError(f"transaction row {index}: merchant_category must be one of {', '.join(MERCHANT_CATEGORIES)}")
    features[GROUPS["amount"][0]] = math.log1p(amount * USD_PER_UNIT[currency])
    features[GROUPS["currency"][CURRENCIES.index(currency)]] = 1.0
    features[GROUPS["merchant_category"][MERCHANT_CATEGORIES.index(category)]] = 1.0
    angle = 2 * math.pi * hour / 24
    sin_col, cos_col, night_col = GROUPS["hour"]
    features[sin_col], features[cos_col] = math.sin(angle), math.cos(angle)
    features[night_col] = 1.0 if hour < 6 else 0.0
    features[GROUPS["country_mismatch"][0]] = float(_flag(row["country_mismatch"], "country_mismatch", index))
    features[GROUPS["card_present"][0]] = float(_flag(row["card_present"], "card_present", index))
    features[GROUPS["transactions_last_24h"][0]] = math.log1p(velocity)
    features[GROUPS["account_age_days"][0]] = math.log1p(age)
    features[GROUPS["distance_from_home_km"][0]] = math.log1p(distance)
    return features


def encode_rows(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """``[len(rows), NUM_FEATURES]`` float32 features."""
    if not rows:
        return np.zeros((0, NUM_FEATURES), dtype=np.float32)
    return np.stack([encode_row(row, index) for index, row in enumerate(rows)])


def _flag(value: Any, name: str, index: int) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    text = _text(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"transaction row {index}: {name} must be true or false")


_TYPED = {"amount": np.floating, "hour": np.integer, "transactions_last_24h": np.integer,
          "account_age_days": np.integer, "distance_from_home_km": np.floating,
          "country_mismatch": np.bool_, "card_present": np.bool_}  # fmt: skip


def typed_columns(rows: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Transactions as the ``tensors`` input format carries them: one column per field, typed as ``FIELDS`` says."""
    numpy_types = {"FP32": np.float32, "INT32": np.int32, "BOOL": np.bool_}
    columns = {}
    for name, datatype in FIELDS.items():
        if datatype == "BYTES":
            values = [row[name] if isinstance(row[name], bytes) else str(row[name]).encode() for row in rows]
            columns[name] = np.array(values, dtype=object)
        else:
            columns[name] = np.array([row[name] for row in rows], dtype=numpy_types[datatype])
    return columns


def encode_columns(columns: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """``encode_rows`` for one typed column per field (the tensors input format), vectorised: the
    same features and the same errors, naming the first bad row. None when a column is not
    typed as its field's datatype says (the caller falls back to ``encode_rows``).

    An explanation of one transaction runs thousands of perturbed rows through here.
    """
    if any(name not in columns for name in FIELDS):
        return None
    cols = {name: np.asarray(columns[name]).reshape(-1) for name in FIELDS}
    if any(not np.issubdtype(cols[name].dtype, kind) for name, kind in _TYPED.items()):
        return None
    count = len(cols["amount"])
    amount = cols["amount"].astype(np.float64)
    hour = cols["hour"].astype(np.int64)
    velocity = cols["transactions_last_24h"].astype(np.int64)
    age = cols["account_age_days"].astype(np.int64)
    distance = cols["distance_from_home_km"].astype(np.float64)
    _first_bad(~np.isfinite(amount) | (amount < 0), "amount must be a non-negative number")
    _first_bad((hour < 0) | (hour > 23), "hour must be 0..23", hour)
    bad = (velocity < 0) | (age < 0) | ~np.isfinite(distance) | (distance < 0)
    _first_bad(bad, "counts, ages and distances must be non-negative")
    currency = _lookup(cols["currency"], lambda text: text.upper(), CURRENCIES, default="OTHER")
    category = _lookup(cols["merchant_category"], lambda text: text.lower(), MERCHANT_CATEGORIES)
    if (category < 0).any():
        row = int(np.flatnonzero(category < 0)[0])
        raise ValueError(f"transaction row {row}: merchant_category must be one of {', '.join(MERCHANT_CATEGORIES)}")
    rates = np.array([USD_PER_UNIT[name] for name in CURRENCIES])
    features = np.zeros((count, NUM_FEATURES), dtype=np.float32)
    rows = np.arange(count)
    features[:, GROUPS["amount"][0]] = np.log1p(amount * rates[currency])
    features[rows, np.array(GROUPS["currency"])[currency]] = 1.0
    features[rows, np.array(GROUPS["merchant_category"])[category]] = 1.0
    angle = 2 * np.pi * hour / 24
    sin_col, cos_col, night_col = GROUPS["hour"]
    features[:, sin_col], features[:, cos_col] = np.sin(angle), np.cos(angle)
    features[:, night_col] = hour < 6
    features[:, GROUPS["country_mismatch"][0]] = cols["country_mismatch"]
    features[:, GROUPS["card_present"][0]] = cols["card_present"]
    features[:, GROUPS["transactions_last_24h"][0]] = np.log1p(velocity)
    features[:, GROUPS["account_age_days"][0]] = np.log1p(age)
    features[:, GROUPS["distance_from_home_km"][0]] = np.log1p(distance)
    return features


def _first_bad(bad: np.ndarray, message: str, values: np.ndarray | None = None) -> None:
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        suffix = f", got {values[row]}" if values is not None else ""
        raise ValueError(f"transaction row {row}: {message}{suffix}")


def _lookup(column: np.ndarray, normal: Any, names: Sequence[str], default: str | None = None) -> np.ndarray:
    """Each row's index in ``names`` (after ``normal``), ``default``'s for an unknown one, else -1."""
    index = {}
    for value in set(column.tolist()):
        key = normal(_text(value))
        index[value] = names.index(key) if key in names else (names.index(default) if default else -1)
    return np.array([index[value] for value in column.tolist()], dtype=np.int64)
