"""Static INT8: a Q/DQ model calibrated on the user's texts, whose rows answer the same in any batch;
bad calibration input fails with what to pass, and nothing is written."""

from __future__ import annotations

import json
import platform
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from converter_fixtures import checkpoint, convert_onnx_cli, exported  # noqa: F401 - pytest fixtures
from gatewise.converters.errors import ConversionError
from gatewise.converters.runtime import run_onnx
from gatewise.converters.samples import MIN_SAMPLES, load_samples
from gatewise.converters.tensorrt_build import TensorRTError, check_parsable, graph_precision, plan_precision
from gatewise.converters.text import encode
from gatewise.converters.transformer import export_transformer
from gatewise.gateway.config import load_config
from tokenizers import Tokenizer

TEXTS = load_samples()
CALIBRATION = tuple(TEXTS)
INVARIANCE = 1e-5
"""How far a row's logits may move between batches for static INT8: float reordering only."""


def batch_drift(entry: Path, row: str) -> float:
    """Largest logit difference of ``row`` run alone and inside batches of other sizes, lengths and positions."""
    tokenizer = Tokenizer.from_file(str(entry / "assets" / "tokenizer.json"))
    model = entry / "1" / "model.onnx"
    names = ["input_ids", "attention_mask", "token_type_ids"]
    alone = run_onnx(model, encode(tokenizer, [row], names, 32))["logits"][0]
    worst = 0.0
    for others in (TEXTS[10:11], TEXTS[20:24], TEXTS[:15], TEXTS[30:61]):
        for position in (0, len(others) // 2, len(others)):
            batch = [*others[:position], row, *others[position:]]
            logits = run_onnx(model, encode(tokenizer, batch, names, 32))["logits"][position]
            worst = max(worst, float(np.abs(logits - alone).max()))
    return worst


def test_static_int8_is_a_validated_qdq_graph_recorded_with_its_calibration(exported: Callable[..., Path]) -> None:
    """The model holds Q/DQ nodes (no run-time scale ops), is validated against FP32, and names its method."""
    entry = exported("bert", "text-classification", int8="static", calibration=CALIBRATION)
    graph = onnx.load(str(entry / "1" / "model.onnx")).graph
    ops = {node.op_type for node in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert not ops & {"DynamicQuantizeLinear", "MatMulInteger"}
    reports = json.loads((entry / "1" / "validation.json").read_text())
    assert [report["step"] for report in reports] == ["pytorch -> onnx", "onnx -> int8-static"]
    assert reports[-1]["agreement"] is not None
    quantization = reports[-1]["quantization"]
    assert quantization["mode"] == "static" and quantization["format"] == "QDQ"
    assert quantization["calibration_method"] == "minmax"
    assert quantization["calibration_batches"] == [32, 32, 2]
    parameters = load_config(entry).parameters
    assert parameters["precision"] == "int8" and parameters["int8"] == "static"
    assert parameters["calibration_method"] == "minmax"


def test_static_int8_row_is_the_same_alone_and_in_any_batch(exported: Callable[..., Path]) -> None:
    """Static scales are fixed, so neither batch-mates nor their padding move a row's logits."""
    entry = exported("bert", "text-classification", int8="static", calibration=CALIBRATION)
    for row in (TEXTS[3], TEXTS[40]):
        assert batch_drift(entry, row) <= INVARIANCE


def test_dynamic_int8_row_moves_with_its_batch_on_the_same_model(exported: Callable[..., Path]) -> None:
    """Dynamic INT8 scales each batch by its own range, so the same row's logits move with its batch-mates."""
    entry = exported("bert", "text-classification", int8=True)
    assert load_config(entry).parameters["int8"] == "dynamic"
    assert batch_drift(entry, TEXTS[3]) > 10 * INVARIANCE


def test_static_qdq_graph_for_tensorrt_has_symmetric_activations_and_plans_as_strongly_typed_int8(
    exported: Callable[..., Path],
) -> None:
    """With ``int8_activations="int8"`` the unfused static model is explicit INT8 that TensorRT 10 and 11 take."""
    entry = exported("bert", "text-classification", int8="static", calibration=CALIBRATION, int8_activations="int8")
    model = entry / "1" / "model.onnx"
    check_parsable(model)
    assert graph_precision(model) == "int8-qdq"
    assert load_config(entry).parameters["int8_activations"] == "int8"
    zero_points = {node.input[2] for node in onnx.load(str(model)).graph.node if node.op_type == "QuantizeLinear"}
    initializers = {init.name: init for init in onnx.load(str(model)).graph.initializer}
    assert all(initializers[name].data_type == onnx.TensorProto.INT8 for name in zero_points)
    for major in (10, 11):
        plan = plan_precision("graph", "int8-qdq", major)
        assert plan.precision == "int8" and plan.strongly_typed


def test_static_int8_for_this_x86_host_runs_unsigned_activations_which_tensorrt_refuses(
    exported: Callable[..., Path],
) -> None:
    """By default on x86 the activations are uint8 (ORT's U8S8 kernels); TensorRT's check says what to pass."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the uint8 default is x86's")
    entry = exported("bert", "text-classification", int8="static", calibration=CALIBRATION)
    assert load_config(entry).parameters["int8_activations"] == "uint8"
    reports = json.loads((entry / "1" / "validation.json").read_text())
    assert reports[-1]["quantization"]["activations"] == "uint8 asymmetric, per tensor"
    with pytest.raises(TensorRTError, match="--int8-activations int8"):
        check_parsable(entry / "1" / "model.onnx")


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_cli_calibrates_on_a_jsonl_file_with_the_method_named(checkpoint, tmp_path: Path, method: str) -> None:
    """``--int8-mode static --calibration FILE --calibration-method M`` prints and records M."""
    calibration = tmp_path / "calibration.jsonl"
    calibration.write_text("".join(json.dumps({"label": 0, "text": text}) + "\n" for text in TEXTS))
    code, stderr = convert_onnx_cli(
        checkpoint("bert"),
        tmp_path / "repo",
        "--int8-mode",
        "static",
        "--calibration",
        str(calibration),
        "--calibration-method",
        method,
    )
    assert code == 0, stderr
    config = load_config(tmp_path / "repo" / "m")
    assert config.parameters["int8"] == "static" and config.parameters["calibration_method"] == method
    reports = json.loads((tmp_path / "repo" / "m" / "1" / "validation.json").read_text())
    assert reports[-1]["quantization"]["calibration"] == f"{len(TEXTS)} texts from {calibration}"


@pytest.mark.parametrize(
    ("options", "advice"),
    [
        (["--int8-mode", "static"], r"pass --calibration FILE .*or use --int8 alone for dynamic INT8"),
        (["--int8", "--int8-mode", "static"], r"pass --calibration FILE"),
        (["--int8", "--calibration-method", "entropy"], r"are for static INT8: add --int8-mode static"),
        (["--int8-mode", "weekly"], r"INT8 mode 'weekly' is not one of dynamic, static"),
        (["--int8", "--int8-activations", "int8"], r"--int8-activations .*add --int8-mode static"),
    ],
)
def test_inconsistent_int8_options_fail_with_what_to_pass_and_write_nothing(
    checkpoint, tmp_path: Path, options: list[str], advice: str
) -> None:
    """Static INT8 without calibration data, or calibration options without it, is refused before any step runs."""
    code, stderr = convert_onnx_cli(checkpoint("bert"), tmp_path / "repo", *options)
    assert code == 1
    assert re.search(advice, " ".join(stderr.split())), stderr
    assert not (tmp_path / "repo").exists()


def test_calibration_with_dynamic_int8_and_an_unknown_method_are_refused(checkpoint, tmp_path: Path) -> None:
    """The Python API refuses the same combinations as the CLI, before touching the repository."""
    with pytest.raises(ConversionError, match="are for static INT8"):
        export_transformer(
            checkpoint("bert"), "text-classification", tmp_path, "m", int8=True, calibration=TEXTS, quiet=True
        )
    with pytest.raises(ConversionError, match="calibration method 'kl' is not one of minmax, entropy, percentile"):
        export_transformer(
            checkpoint("bert"),
            "text-classification",
            tmp_path,
            "m",
            int8="static",
            calibration=TEXTS,
            calibration_method="kl",
            quiet=True,
        )
    with pytest.raises(ConversionError, match="--int8-activations must be uint8 or int8, got 'int4'"):
        export_transformer(
            checkpoint("bert"), "text-classification", tmp_path, "m", int8="static", calibration=TEXTS,
            int8_activations="int4", quiet=True,
        )  # fmt: skip
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("few.txt", "\n".join(TEXTS[: MIN_SAMPLES - 1]), rf"{MIN_SAMPLES - 1} usable text\(s\); give at least"),
        ("cols.jsonl", "\n".join(json.dumps({"sentence": t}) for t in TEXTS), r"line 1 has no 'text' field"),
        ("types.jsonl", "\n".join(json.dumps({"text": 3}) for _ in TEXTS), r"'text' must be a non-empty string"),
        ("tokens.npz", "", r"pre-tokenised tensors are not accepted.*pass --calibration FILE"),
    ],
)
def test_a_bad_calibration_file_fails_with_advice_and_writes_nothing(
    checkpoint, tmp_path: Path, name: str, content: str, problem: str
) -> None:
    """Calibration files are read by the same reader as --samples, and refusals point to --calibration."""
    calibration = tmp_path / name
    calibration.write_text(content)
    code, stderr = convert_onnx_cli(
        checkpoint("bert"), tmp_path / "repo", "--int8-mode", "static", "--calibration", str(calibration)
    )
    message = " ".join(stderr.split())
    assert code == 1
    assert re.search(problem, message), message
    assert "Nothing was written" in message and "--samples" not in message
    assert not (tmp_path / "repo").exists()
