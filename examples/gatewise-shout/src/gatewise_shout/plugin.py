"""The ``shout`` plugin: every model hook, in the order the gateway calls them.

Registered through ``[project.entry-points.gatewise] shout = "gatewise_shout.plugin"``.
Hooks are plain functions marked with the ``gatewise`` hook marker; each may take any
subset of the arguments its spec names (pluggy passes them by name).
"""

from __future__ import annotations

import logging
import re

import numpy as np

# Everything a plugin needs comes from the `gatewise` package: the hook marker, the types
# hooks receive and return, and the errors they may raise.
from gatewise import EXPLANATION_OUTPUT, Explainer, InvalidInput, Signature, TensorSpec, Unit, hookimpl

log = logging.getLogger("gatewise_shout")
WORD = re.compile(r"\S+")


@hookimpl
def gatewise_model_load(model):
    # 1. Once per model version, after the engine loaded. Read assets and settings here.
    #    `model.state` is yours; keep it read-only once loading is done.
    model.state["suffix"] = str(model.parameters.get("suffix", "!"))


@hookimpl
def gatewise_model_signature(model):
    # 2. The public signature clients see. Returning None would keep the engine's own.
    return Signature(
        inputs=(TensorSpec(name="text", datatype="BYTES", shape=(-1,)),),
        outputs=(
            TensorSpec(name="shouted", datatype="BYTES", shape=(-1,)),
            TensorSpec(name="words_plus_one", datatype="FP32", shape=(-1, 1)),
            # Declaring `explanation` says this model can explain (see gatewise_explainer);
            # it is only computed for the requests that ask for it.
            EXPLANATION_OUTPUT,
        ),
    )


@hookimpl
def gatewise_warmup_inputs(model):
    # 3. One small batch of *public* inputs that runs the whole path before the model is ready.
    return {"text": np.array([b"warm up", b"a longer warm up row"], dtype=object)}


@hookimpl
def gatewise_preprocess(model, inputs, batch):
    # 4. Per batch: public inputs (rows of several requests) -> engine inputs.
    #    Raise InvalidInput (or ValueError) for bad input: only the request that sent it
    #    fails. Say which row was wrong, never echo the value.
    rows = []
    for index, value in enumerate(inputs["text"]):
        try:
            rows.append(value.decode("utf-8"))
        except UnicodeDecodeError:
            raise InvalidInput(f"input 'text' row {index} is not UTF-8") from None
    batch.state["rows"] = rows  # handed to postprocess
    log.debug("preprocessing %d row(s)", len(rows))  # counts, never payloads
    return {"x": np.array([[len(row.split())] for row in rows], dtype=np.float32)}


@hookimpl
def gatewise_postprocess(model, outputs, batch):
    # 5. Per batch: engine outputs -> public outputs, one row per input row.
    suffix = model.state["suffix"]
    shouted = np.array([(row.upper() + suffix).encode() for row in batch.state["rows"]], dtype=object)
    engine_out = next(iter(outputs.values())).astype(np.float32).reshape(len(shouted), -1)
    return {"shouted": shouted, "words_plus_one": engine_out}


@hookimpl
def gatewise_explainer(model, inputs, outputs, parameters):
    # 6. Only for a row a client asked to have explained, after it was inferred: say what the
    #    explanation weighs (units), how to build public inputs for any coalition of kept
    #    units (perturb), and which output number is explained (value). The gateway chooses
    #    the coalitions (exact Shapley values, or KernelSHAP within `explain_samples`), runs
    #    them through this model's batcher like any rows, and answers with one weight per unit.
    #    Here the engine adds one to the word count, so every word weighs exactly 1.0.
    if parameters.get("explain_label") not in (None, "", "words_plus_one"):
        raise ValueError("parameter 'explain_label' must be 'words_plus_one' for this model")
    text = inputs["text"][0].decode("utf-8")  # `inputs` and `outputs` hold the one row
    words = list(WORD.finditer(text))

    def perturb(keep):
        # keep: a [coalitions, units] bool matrix -> public inputs, one row per coalition.
        rows = [" ".join(word.group() for word, kept in zip(words, row, strict=True) if kept) for row in keep]
        return {"text": np.array([row.encode("utf-8") for row in rows], dtype=object)}

    return Explainer(
        label="words_plus_one",
        target="the engine's words_plus_one",
        units=[Unit(text=word.group(), start=word.start(), end=word.end()) for word in words],
        perturb=perturb,
        value=lambda perturbed: perturbed["words_plus_one"][:, 0],  # one number per perturbed row
    )
