"""The example plugin tested with the project's harness (``gatewise.testing``)."""

import gatewise_shout.plugin as shout
import numpy as np

from gatewise.testing import PluginHarness, model_context, texts


def test_shout_counts_words_and_upper_cases(tmp_path):
    model = model_context(
        tmp_path,
        "shouter",
        plugin="shout",
        parameters={"suffix": "!!"},
        engine_inputs=[("x", "FP32", (-1, 1))],
        engine_outputs=[("y", "FP32", (-1, 1))],
    )
    harness = PluginHarness(shout, model, engine=lambda inputs: {"y": inputs["x"] + 1})
    out = harness.infer({"text": texts(["hello there world", "hi"])})
    assert list(out["shouted"]) == [b"HELLO THERE WORLD!!", b"HI!!"]
    assert np.array_equal(out["words_plus_one"], [[4.0], [2.0]])
