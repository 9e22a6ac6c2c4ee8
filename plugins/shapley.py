"""Shapley values of one row's set function ``v(coalition)`` from a budget of model evaluations.

``plan`` chooses the coalitions, the caller evaluates them (as ordinary batched rows), and
``solve`` turns the values into one weight per unit. Both extremes, nothing kept (the base
value) and everything kept (the explained value), are always evaluated; the budget counts
the coalitions besides those two.

- Exact: where the budget covers all ``2**n - 2`` other coalitions, the Shapley formula
  itself, so the weights are the Shapley values.
- KernelSHAP (Lundberg and Lee, 2017), as the ``shap`` package's KernelExplainer does it:
  coalition sizes are enumerated completely from the outside in (1 and n-1 first) while
  the budget covers a size, the rest are sampled by the Shapley kernel's weight with their
  complements, then a weighted least-squares fit constrained to add up.

In both, the weights add up to ``value - base_value`` up to float rounding. Sampling uses
``numpy.random.default_rng(seed)``, so the same request gets the same coalitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from math import comb, factorial

import numpy as np

EMPTY, FULL = 0, 1
"""Rows of ``Plan.masks`` that hold the empty and the full coalition."""


@dataclass(frozen=True)
class Plan:
    """The coalitions to evaluate (``masks[EMPTY]`` none kept, ``masks[FULL]`` all) and how to weigh them."""

    masks: np.ndarray
    """``[coalitions, units]`` bool: True where the unit is kept."""
    weights: np.ndarray
    """KernelSHAP's regression weight per coalition (0 for the two extremes; unused when exact)."""
    method: str
    """``exact`` or ``kernel``."""

    @property
    def units(self) -> int:
        return int(self.masks.shape[1])


def plan(units: int, budget: int, seed: int = 0) -> Plan:
    """Coalitions for ``units`` units within ``budget`` evaluations besides the two extremes."""
    if budget < 1:
        raise ValueError(f"the sample budget must be at least 1, got {budget}")
    if units <= 16 and 2**units - 2 <= budget:
        return _exact_plan(units)
    return _kernel_plan(units, budget, seed)


def solve(coalitions: Plan, values: np.ndarray) -> np.ndarray:
    """One weight per unit from ``values[i] = v(coalitions.masks[i])``; they sum to ``v(full) - v(empty)``."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (coalitions.masks.shape[0],):
        raise ValueError(f"expected {coalitions.masks.shape[0]} values, got shape {values.shape}")
    n = coalitions.units
    total = values[FULL] - values[EMPTY]
    if n == 0:
        return np.zeros(0)
    if n == 1:
        return np.array([total])
    if coalitions.method == "exact":
        return _exact_values(coalitions.masks, values)
    return _kernel_values(coalitions, values, total)


def _exact_plan(n: int) -> Plan:
    codes = np.arange(2**n)
    bits = ((codes[:, None] >> np.arange(n)) & 1).astype(bool)
    order = np.concatenate([[0, 2**n - 1], np.arange(1, 2**n - 1)]) if n > 0 else np.array([0, 0])
    masks = bits[order]
    return Plan(masks, np.zeros(len(masks)), "exact")


def _exact_values(masks: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The Shapley formula: phi_i = sum over S without i of |S|!(n-|S|-1)!/n! (v(S+i) - v(S))."""
    n = masks.shape[1]
    codes = masks.astype(np.int64) @ (1 << np.arange(n, dtype=np.int64))
    by_code = np.empty(2**n)
    by_code[codes] = values
    all_codes = np.arange(2**n)
    sizes = np.array([bin(code).count("1") for code in range(2**n)])
    kernel = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)])
    phi = np.empty(n)
    for unit in range(n):
        without = all_codes[(all_codes >> unit) & 1 == 0]
        phi[unit] = np.sum(kernel[sizes[without]] * (by_code[without | (1 << unit)] - by_code[without]))
    return phi


def _kernel_plan(n: int, budget: int, seed: int) -> Plan:
    sizes = int(np.ceil((n - 1) / 2))
    paired = int(np.floor((n - 1) / 2))
    size_weight = np.array([(n - 1) / (s * (n - s)) for s in range(1, sizes + 1)])
    size_weight[:paired] *= 2
    size_weight /= size_weight.sum()

    masks: list[np.ndarray] = [np.zeros(n, bool), np.ones(n, bool)]
    weights: list[float] = [0.0, 0.0]
    left = budget
    remaining = size_weight.copy()
    complete = 0
    for size in range(1, sizes + 1):
        is_paired = size <= paired
        count = comb(n, size) * (2 if is_paired else 1)
        if left * remaining[size - 1] / count < 1.0 - 1e-8:
            break
        complete += 1
        left -= count
        if remaining[size - 1] < 1.0:
            remaining /= 1.0 - remaining[size - 1]
        weight = size_weight[size - 1] / comb(n, size) / (2 if is_paired else 1)
        for chosen in combinations(range(n), size):
            mask = np.zeros(n, bool)
            mask[list(chosen)] = True
            masks.append(mask)
            weights.append(weight)
            if is_paired:
                masks.append(~mask)
                weights.append(weight)
    fixed = len(masks)
    if complete < sizes and left > 0:
        rng = np.random.default_rng(seed)
        rest = size_weight[complete:] / size_weight[complete:].sum()
        seen: dict[bytes, int] = {}
        draws = rng.choice(len(rest), size=4 * left, p=rest)
        for draw in draws:
            if left <= 0:
                break
            size = int(draw) + complete + 1
            mask = np.zeros(n, bool)
            mask[rng.permutation(n)[:size]] = True
            for candidate in (mask, ~mask) if size <= paired else (mask,):
                if left <= 0:
                    break
                key = candidate.tobytes()
                if key in seen:
                    weights[seen[key]] += 1.0
                else:
                    seen[key] = len(masks)
                    masks.append(candidate)
                    weights.append(1.0)
                    left -= 1
        sampled = np.array(weights[fixed:])
        if sampled.size:
            weights[fixed:] = list(sampled * size_weight[complete:].sum() / sampled.sum())
    return Plan(np.array(masks), np.array(weights), "kernel")


def _kernel_values(coalitions: Plan, values: np.ndarray, total: float) -> np.ndarray:
    """Weighted least squares with the last unit eliminated, so the weights sum to ``total`` exactly."""
    masks = coalitions.masks[2:].astype(np.float64)
    weights = coalitions.weights[2:]
    target = values[2:] - values[EMPTY] - masks[:, -1] * total
    design = masks[:, :-1] - masks[:, -1:]
    root = np.sqrt(weights)[:, None]
    head, *_ = np.linalg.lstsq(design * root, target * root[:, 0], rcond=None)
    return np.append(head, total - head.sum())
