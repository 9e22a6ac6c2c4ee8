"""The estimators against Shapley values known in closed form."""

from __future__ import annotations

import numpy as np
import pytest
from gatewise.plugins import shapley


def evaluate(coalitions: shapley.Plan, function) -> np.ndarray:
    return np.array([function(mask) for mask in coalitions.masks])


def glove_game(mask: np.ndarray) -> float:
    """Units 0 and 1 are gloves of a pair (worth 1 together, nothing apart); unit 2 adds 3 alone; 3 is a dummy."""
    return float(mask[0] and mask[1]) + 3.0 * mask[2]


def test_exact_values_of_a_known_game_add_up_are_symmetric_and_ignore_a_dummy():
    coalitions = shapley.plan(4, budget=64)
    assert coalitions.method == "exact"
    weights = shapley.solve(coalitions, evaluate(coalitions, glove_game))
    np.testing.assert_allclose(weights, [0.5, 0.5, 3.0, 0.0], atol=1e-12)
    assert coalitions.masks[shapley.EMPTY].sum() == 0 and coalitions.masks[shapley.FULL].all()


def test_exact_values_match_the_permutation_definition_on_a_random_game():
    rng = np.random.default_rng(3)
    n = 5
    table = rng.normal(size=2**n)

    def game(mask):
        return table[int(np.dot(mask, 1 << np.arange(n)))]

    coalitions = shapley.plan(n, budget=2**n)
    weights = shapley.solve(coalitions, evaluate(coalitions, game))
    # The definition: the average marginal contribution over every order of the units.
    from itertools import permutations

    expected = np.zeros(n)
    orders = list(permutations(range(n)))
    for order in orders:
        mask = np.zeros(n, bool)
        for unit in order:
            before = game(mask)
            mask[unit] = True
            expected[unit] += game(mask) - before
    np.testing.assert_allclose(weights, expected / len(orders), atol=1e-10)
    assert weights.sum() == pytest.approx(game(np.ones(n, bool)) - game(np.zeros(n, bool)))


@pytest.mark.parametrize("budget", [12, 40, 200])
def test_kernel_values_are_exact_for_an_additive_function_and_always_add_up(budget):
    rng = np.random.default_rng(0)
    contributions = rng.normal(size=25)
    contributions[7] = 0.0  # a dummy

    def additive(mask):
        return 0.3 + float(contributions @ mask)

    coalitions = shapley.plan(25, budget=budget, seed=1)
    assert coalitions.method == "kernel"
    assert len(coalitions.masks) == budget + 2
    weights = shapley.solve(coalitions, evaluate(coalitions, additive))
    assert weights.sum() == pytest.approx(contributions.sum(), abs=1e-9)
    if budget >= 2 * 25:  # a coalition and its complement say the same of an additive function
        np.testing.assert_allclose(weights, contributions, atol=1e-8)
        assert abs(weights[7]) < 1e-8


def test_kernel_approaches_exact_values_on_an_interacting_game_and_is_seeded():
    n = 12
    rng = np.random.default_rng(5)
    pairs = rng.normal(size=(n, n))

    def game(mask):
        kept = mask.astype(float)
        return float(kept @ pairs @ kept) / n

    exact = shapley.solve(shapley.plan(n, budget=2**n), evaluate(shapley.plan(n, budget=2**n), game))
    kernel_plan = shapley.plan(n, budget=1500, seed=7)
    assert kernel_plan.method == "kernel"
    estimate = shapley.solve(kernel_plan, evaluate(kernel_plan, game))
    assert np.corrcoef(exact, estimate)[0, 1] > 0.95
    assert estimate.sum() == pytest.approx(exact.sum(), abs=1e-9)
    again = shapley.plan(n, budget=1500, seed=7)
    np.testing.assert_array_equal(again.masks, kernel_plan.masks)
    other = shapley.plan(n, budget=1500, seed=8)
    assert not np.array_equal(other.masks, kernel_plan.masks)


def test_budgets_below_one_are_refused_and_degenerate_sizes_work():
    with pytest.raises(ValueError, match="at least 1"):
        shapley.plan(3, budget=0)
    empty = shapley.plan(0, budget=5)
    assert shapley.solve(empty, np.array([0.2, 0.2])).shape == (0,)
    single = shapley.plan(1, budget=5)
    assert shapley.solve(single, np.array([0.2, 0.9])) == pytest.approx([0.7])


def test_a_coalitions_background_rows_are_averaged_with_their_weights():
    """Explainer.background_weights weighs each coalition's background rows (uniform without them)."""
    import numpy as np
    from gatewise.plugins.explainer import Explainer, Unit, conclude, perturbation

    def explainer(weights):
        # One feature x = 10 against background rows 0 and 4; the model's output is the feature itself.
        return Explainer(
            label="y", target="y", units=[Unit(feature="x", value=10)],
            perturb=lambda keep: {"x": np.where(np.repeat(keep[:, 0], 2), 10.0, np.tile([0.0, 4.0], len(keep)))},
            value=lambda outputs: outputs["x"], repeats=2, background_weights=weights,
        )  # fmt: skip

    for weights, base in ((None, 2.0), (np.array([3.0, 1.0]), 1.0)):
        chosen = explainer(weights)
        perturbed = perturbation(chosen, {"explain_samples": 4, "top_k": 2}, samples=4, seed=0)
        assert perturbed.rows == 4 and perturbed.parameters == {"top_k": 2}
        document, _ = conclude(chosen, perturbed, perturbed.inputs, seed=0)
        assert document["base_value"] == pytest.approx(base)
        assert document["value"] == pytest.approx(10.0)
        assert document["attributions"][0]["weight"] == pytest.approx(10.0 - base)
