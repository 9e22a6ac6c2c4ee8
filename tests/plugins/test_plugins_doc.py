"""docs/plugins.md's hook examples run as written: the preprocess example sends what the engine's signature lists."""

from __future__ import annotations

import re
import types
from pathlib import Path

import numpy as np
import pytest

from gatewise.testing import PluginHarness, model_context, texts, tiny_tokenizer

DOC = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text(encoding="utf-8")


POSTPROCESS = """
@hookimpl
def gatewise_postprocess(outputs):
    return {"label": np.array([b"x"] * len(outputs["logits"]), dtype=object)}
"""


def _plugin_from_the_doc() -> types.ModuleType:
    """The doc's load, signature and preprocess blocks as one plugin module, with a postprocess that fits them."""
    blocks = re.findall(r"^```python\n(.*?)^```", DOC, flags=re.M | re.S)
    hooks = r"^def gatewise_(model_load|model_signature|preprocess)\("
    wanted = [block for block in blocks if re.search(hooks, block, flags=re.M)]
    assert len(wanted) == 3
    module = types.ModuleType("doc_plugin")
    for block in [*wanted, POSTPROCESS]:
        exec(compile(block, "docs/plugins.md", "exec"), module.__dict__)
    return module


@pytest.mark.parametrize("inputs", [("input_ids", "attention_mask"), ("input_ids", "attention_mask", "token_type_ids")])
def test_the_preprocess_example_sends_exactly_the_engines_inputs(tmp_path: Path, inputs: tuple[str, ...]) -> None:
    """A DistilBERT-like engine (no token types) and a BERT-like one both get what they list, padded to the longest."""
    seen: list[dict[str, np.ndarray]] = []

    def engine(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        seen.append(tensors)
        return {"logits": np.zeros((len(tensors["input_ids"]), 2), np.float32)}

    model = model_context(
        tmp_path, "m", engine_inputs=[(name, "INT64", (-1, -1)) for name in inputs],
        engine_outputs=[("logits", "FP32", (-1, 2))],
    )  # fmt: skip
    tiny_tokenizer(model.assets, ["refund", "card", "failed", "4111"])  # "4111" is id 8
    harness = PluginHarness(_plugin_from_the_doc(), model, engine)
    harness.infer({"text": texts(["refund failed", "card 4111 1111 1111 1111 failed"])})
    sent = seen[-1]
    assert sorted(sent) == sorted(inputs)
    assert sent["input_ids"].shape[0] == 2 and sent["attention_mask"][0].sum() < sent["attention_mask"][1].sum()
    assert 8 not in sent["input_ids"], "the card number was masked before tokenising"
