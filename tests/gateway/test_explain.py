"""gateway/explanations.py without a server: which outputs a request gets, the caps, the turn taken before work."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from gatewise.gateway import explanations
from gatewise.gateway.settings import ServerSettings
from gatewise.plugins.context import Signature
from gatewise.plugins.explainer import EXPLANATION_OUTPUT, Explainer, Unit
from gatewise.protos.errors import InvalidInput
from gatewise.protos.tensors import TensorSpec


def served(outputs: tuple[str, ...], derived: tuple[str, ...] = (), explains: bool = True) -> Any:
    specs = tuple(TensorSpec(name=name, datatype="BYTES", shape=(-1,)) for name in outputs)
    signature = Signature(inputs=(), outputs=specs + ((EXPLANATION_OUTPUT,) if explains else ()), derived=derived)
    config = SimpleNamespace(task="t", plugin="p", parameters={})
    return SimpleNamespace(name="m", signature=signature, config=config)


FRAUD = served(("fraud_probability", "decision", "reasons"), derived=("reasons",))


def test_listed_outputs_leave_out_the_explanation_and_what_derives_from_it() -> None:
    assert [spec.name for spec in explanations.listed_outputs(FRAUD)] == ["fraud_probability", "decision"]
    assert explanations.on_request(FRAUD) == ("explanation", "reasons")
    assert explanations.how_to_ask(FRAUD)["explanation_outputs"] == "explanation,reasons"
    assert explanations.how_to_ask(served(("y",), explains=False)) == {}


@pytest.mark.parametrize(
    ("named", "parameters", "outputs", "explaining"),
    [
        ([], {}, ["fraud_probability", "decision"], False),
        (["fraud_probability", "decision"], {}, ["fraud_probability", "decision"], False),
        (["reasons"], {}, ["reasons"], True),
        ([], {"explain": True}, ["fraud_probability", "decision", "explanation", "reasons"], True),
        ([], {"explain": "false"}, ["fraud_probability", "decision"], False),
        (["decision"], {"explain": "true"}, ["decision", "explanation"], True),
    ],
)
def test_outputs_for_a_request(named, parameters, outputs, explaining) -> None:
    assert explanations.outputs_for(FRAUD, named, parameters) == (outputs, explaining)


def test_outputs_for_refuses_unknown_outputs_and_explanations_of_a_model_that_cannot() -> None:
    with pytest.raises(InvalidInput, match=r"no output\(s\) \['why'\].*on request, \['explanation', 'reasons'\]"):
        explanations.outputs_for(FRAUD, ["why"], {})
    with pytest.raises(InvalidInput, match="parameter 'explain' must be true or false"):
        explanations.outputs_for(FRAUD, [], {"explain": "maybe"})
    with pytest.raises(InvalidInput, match="explanations are not supported by model 'm'"):
        explanations.outputs_for(served(("y",), explains=False), [], {"explain": True})


def test_rows_times_samples_past_the_cap_is_refused_naming_the_setting() -> None:
    settings = ServerSettings(max_explain_samples=2048, max_explain_coalitions=4096)
    assert explanations.options(FRAUD, {"explain_samples": 2048}, 2, settings).samples == 2048
    refusal = r"3 explained row\(s\) x 2048 samples = 6144 .*--max-explain-coalitions 4096"
    with pytest.raises(InvalidInput, match=refusal):
        explanations.options(FRAUD, {"explain_samples": 2048}, 3, settings)


class Recorder:
    """A served model whose plugin records whether the explanation turn was held when it was called."""

    def __init__(self, units: int) -> None:
        self.name = "m"
        self.context = None
        self.turn = asyncio.Semaphore(1)
        self.calls: list[tuple[str, bool]] = []
        self.hooks = SimpleNamespace(explainer=self.explainer)
        self.units = units

    def explanation_turn(self) -> asyncio.Semaphore:
        return self.turn

    def explainer(self, context, inputs, outputs, parameters) -> Explainer:
        self.calls.append(("hook", self.turn.locked()))

        def perturb(keep: np.ndarray) -> dict[str, np.ndarray]:
            self.calls.append(("perturb", self.turn.locked()))
            return {"x": keep.sum(axis=1).astype(np.float64)}

        units = [Unit(feature=f"f{index}", value=index) for index in range(self.units)]
        return Explainer(label="y", target="y", units=units, perturb=perturb, value=lambda outputs: outputs["y"])

    async def run_rows(self, inputs, rows, parameters, deadline) -> dict[str, np.ndarray]:
        self.calls.append(("run", self.turn.locked()))
        return {"y": inputs["x"] * 2.0}


async def test_a_row_waits_for_its_turn_before_its_plugin_builds_anything() -> None:
    model = Recorder(units=3)
    chosen = explanations.Options(samples=16, seed=0, max_units=8, max_work=1 << 30)
    one = {"x": np.zeros(1)}
    await model.turn.acquire()  # another explanation holds the only turn
    task = asyncio.create_task(explanations.explain(model, one, one, 1, {}, chosen, None))
    for _ in range(20):
        await asyncio.sleep(0)
    assert model.calls == []  # nothing built while waiting
    model.turn.release()
    answer = await task
    assert model.calls == [("hook", True), ("perturb", True), ("run", True)]
    assert "explanation" in answer


async def test_a_row_with_more_units_than_the_cap_is_refused_before_any_coalition_is_built() -> None:
    model = Recorder(units=9)
    one = {"x": np.zeros(1)}
    with pytest.raises(InvalidInput, match="9 units .* --max-explain-units 8"):
        await explanations.explain(
            model, one, one, 1, {}, explanations.Options(samples=16, seed=0, max_units=8, max_work=1 << 30), None
        )
    assert model.calls == [("hook", True)]
    assert not model.turn.locked()


def test_a_row_costing_more_than_the_work_cap_is_refused_saying_what_fits() -> None:
    """units x coalitions past ``--max-explain-work`` is refused; a row explained exactly (few units) counts its
    2**n - 2 coalitions, not the samples asked for."""
    chosen = explanations.Options(samples=2048, seed=0, max_units=512, max_work=131072)
    explanations.check_work(64, chosen)  # 64 x 2048 = 131072: at the cap
    with pytest.raises(
        InvalidInput,
        match=r"100 units x 2048 coalitions = 204800, over the server's --max-explain-work "
        r"131072 per row; at most 1310 samples fit",
    ):
        explanations.check_work(100, chosen)
    exact = explanations.Options(samples=2048, seed=0, max_units=512, max_work=10 * 1022)
    explanations.check_work(10, exact)  # exact: 1022
