"""Validation samples: the same texts give the same verdict in every format, batched as serving
batches them; bad sample files are refused with what to do, and nothing is written."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import typer
from converter_fixtures import checkpoint, convert_onnx_cli, exported  # noqa: F401 - pytest fixtures
from gatewise.converters.cli import convert_app
from gatewise.converters.errors import DriftError, SampleError
from gatewise.converters.pipeline import Validator
from gatewise.converters.progress import Steps
from gatewise.converters.samples import MIN_SAMPLES, load_samples, read_samples
from gatewise.converters.text import encode
from gatewise.converters.validate import CLEAR_MARGIN, TOLERANCES, check, compare, failures, top1_margin
from tokenizers import Tokenizer

LABELS = ["negative", "neutral", "positive"]


def write_txt(path: Path, texts: list[str]) -> Path:
    path.write_text("# held-out sentences\n" + "\n".join(texts) + "\n", encoding="utf-8")
    return path


def write_jsonl(path: Path, texts: list[str]) -> Path:
    """Labels first, as the demo's data files hold them, and a blank line: neither may reach the model."""
    lines = [json.dumps({"label": LABELS[i % 3], "text": text, "id": i}) for i, text in enumerate(texts)]
    path.write_text("\n".join(lines[:5] + [""] + lines[5:]) + "\n", encoding="utf-8")
    return path


def figures(entry: Path) -> list[dict]:
    """Every step's measures, without the line that names the samples file and the INT8 speed-up (timed)."""
    reports = json.loads((entry / "1" / "validation.json").read_text())
    for report in reports:
        report.get("quantization", {}).pop("speed", None)
    return [{key: value for key, value in report.items() if key != "samples"} for report in reports]


def test_jsonl_and_txt_with_the_same_texts_read_as_the_same_rows(tmp_path: Path) -> None:
    """A .jsonl line yields its "text" field only: no braces, no label, in file order, nothing dropped."""
    texts = load_samples()
    from_txt = read_samples(write_txt(tmp_path / "s.txt", texts))
    from_jsonl = read_samples(write_jsonl(tmp_path / "s.jsonl", texts))
    assert from_txt.texts == from_jsonl.texts == texts
    assert not from_txt.generic and not from_jsonl.generic


def test_the_same_texts_give_identical_figures_and_verdict_as_txt_and_jsonl(checkpoint, tmp_path: Path) -> None:
    """Converting with INT8 on the same texts as .txt and as .jsonl writes the same agreement figures."""
    texts = load_samples()
    verdicts = {}
    for suffix, write in ((".txt", write_txt), (".jsonl", write_jsonl)):
        samples = write(tmp_path / f"held-out{suffix}", texts)
        code, stderr = convert_onnx_cli(checkpoint("bert"), tmp_path / suffix[1:], "--int8", "--samples", str(samples))
        verdicts[suffix] = code, figures(tmp_path / suffix[1:] / "m") if code == 0 else stderr
    assert verdicts[".txt"][0] == verdicts[".jsonl"][0] == 0, verdicts
    assert verdicts[".txt"][1] == verdicts[".jsonl"][1]
    int8 = verdicts[".txt"][1][-1]
    assert int8["step"] == "onnx -> int8" and int8["rows"] == len(texts)
    assert int8["agreement"] is not None and int8["clear_rows"] is not None


def test_validation_batches_rows_as_serving_does(checkpoint, tmp_path: Path) -> None:
    """Batches of max_batch_size in the given order, each padded to its own longest row; the report says so."""
    from gatewise.converters import export_transformer

    entry = export_transformer(
        checkpoint("bert"),
        "text-classification",
        tmp_path,
        "m",
        max_length=32,
        quiet=True,
        extra_config={"batching": {"max_batch_size": 16}},
    )
    texts = load_samples()
    batching = json.loads((entry / "1" / "validation.json").read_text())[0]["batching"]
    assert batching["max_batch_size"] == 16 and batching["order"] == "as given"
    assert batching["batches"] == [16, 16, 16, 16, len(texts) - 64]
    tokenizer = Tokenizer.from_file(str(entry / "assets" / "tokenizer.json"))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    alone = [encode(tokenizer, texts[start : start + 16], names, 32) for start in range(0, len(texts), 16)]
    assert batching["padded_to"] == [batch["input_ids"].shape[1] for batch in alone]
    validator = Validator(
        encode(tokenizer, texts, names, 32), {"logits": "labels"}, Steps("t", 1, quiet=True), batch_size=16
    )
    for mine, serving in zip(validator.batches, alone, strict=True):
        assert all(np.array_equal(mine[name], serving[name]) for name in names)
    assert "in 5 batch(es) of up to 16 (the entry's max_batch_size), in the given order" in validator.describe()


def test_token_outputs_of_different_batch_widths_join_back_in_row_order() -> None:
    """Per-batch token outputs are re-padded to the widest batch so padding stays unjudged."""
    mask = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 0, 0]])
    inputs = {"input_ids": mask * 7, "attention_mask": mask}
    validator = Validator(inputs, {"logits": "labels"}, Steps("t", 1, quiet=True), valid=mask, batch_size=2)
    assert [batch["input_ids"].shape for batch in validator.batches] == [(2, 3), (1, 2)]
    joined = validator.run(lambda batch: {"logits": batch["input_ids"][..., None].astype(float)})
    assert joined["logits"].shape == (3, 3, 1)
    assert np.array_equal(joined["logits"][..., 0], (mask * 7)[:, :3])


def near_tie_rows(rows: int, flipped_ties: int, flipped_clear: int) -> tuple[np.ndarray, np.ndarray]:
    """Clear rows (margin ~0.9), the last ones near-ties (margin ~0.01); some of each flipped."""
    reference = np.tile(np.array([[3.0, 0.0, -3.0]]), (rows, 1))
    reference[rows // 2 :] = [0.02, 0.0, -3.0]
    candidate = reference.copy()
    candidate[rows - flipped_ties :] = reference[rows - flipped_ties :, [1, 0, 2]]
    candidate[:flipped_clear] = reference[:flipped_clear, [1, 0, 2]]
    return reference, candidate


def test_clear_margin_is_a_named_threshold_on_softmax_probabilities() -> None:
    margins = top1_margin(np.array([[3.0, 0.0, -3.0], [0.02, 0.0, -3.0]]))
    assert margins[0] > CLEAR_MARGIN > margins[1] and CLEAR_MARGIN == 0.1


def test_near_tie_flips_do_not_sink_int8_but_a_clear_flip_does() -> None:
    """6% of rows flipped, all near-ties: INT8 passes and reports both figures; two clear flips fail it."""
    reference, candidate = near_tie_rows(100, flipped_ties=6, flipped_clear=0)
    report = compare("onnx -> int8", "logits", reference, candidate, "labels")
    assert (report.agreement, report.clear_rows, report.clear_agreement) == (0.94, 50, 1.0)
    assert failures(report, TOLERANCES["int8"]) == []
    assert "top-1 agreement 94.00%, 100.00% on the 50 with a clear margin (>= 0.1)" in report.summary()
    reference, candidate = near_tie_rows(100, flipped_ties=0, flipped_clear=2)
    with pytest.raises(DriftError, match=r"96.00% < 98.00% on the 50 rows with a clear margin \(>= 0.1\)"):
        check(compare("onnx -> int8", "logits", reference, candidate, "labels"), TOLERANCES["int8"])


def test_a_model_that_hesitates_on_most_rows_is_held_to_the_strict_gate_on_every_row() -> None:
    """With fewer than half the rows clear, near-ties cannot be set aside: 97% overall fails INT8."""
    reference = np.tile(np.array([[0.02, 0.0, -3.0]]), (100, 1))
    reference[:10] = [3.0, 0.0, -3.0]
    candidate = reference.copy()
    candidate[-3:] = reference[-3:, [1, 0, 2]]
    found = failures(compare("s", "logits", reference, candidate, "labels"), TOLERANCES["int8"])
    assert found == [
        "top-1 agreement 97.00% < 98.00%: only 10 of 100 rows have a clear margin (>= 0.1), too few to set "
        "near-ties aside, so every row is held to the clear-margin tolerance"
    ]


def test_a_broad_shift_of_near_ties_fails_the_overall_floor() -> None:
    """Clear rows all agree, but 12% of rows flipped: past the 90% INT8 floor."""
    reference, candidate = near_tie_rows(100, flipped_ties=12, flipped_clear=0)
    found = failures(compare("s", "logits", reference, candidate, "labels"), TOLERANCES["int8"])
    assert found == ["top-1 agreement 88.00% < 90.00% over all rows"]


def test_a_refusal_on_the_generic_samples_says_how_to_pass_your_own() -> None:
    reference, candidate = near_tie_rows(100, flipped_ties=0, flipped_clear=5)
    report = compare("onnx -> int8", "logits", reference, candidate, "labels")
    with pytest.raises(DriftError, match=r"generic shipped sentences.*--samples FILE as \.txt .* or \.jsonl") as caught:
        check(report, TOLERANCES["int8"], generic_samples=True)
    assert "try without the reduced-precision step" in str(caught.value)
    with pytest.raises(DriftError) as own:
        check(report, TOLERANCES["int8"])
    assert "--samples" not in str(own.value)


def test_the_pipeline_marks_the_shipped_samples_as_generic(checkpoint, tmp_path: Path, monkeypatch) -> None:
    """A drift refusal from export_transformer without samples points to --samples."""
    import gatewise.converters.transformer
    from gatewise.converters import export_transformer

    seen = []
    real = gatewise.converters.transformer.Validator

    def spy(*args, **kwargs):
        validator = real(*args, **kwargs)
        seen.append(validator.generic_samples)
        return validator

    monkeypatch.setattr(gatewise.converters.transformer, "Validator", spy)
    export_transformer(checkpoint("bert"), "text-classification", tmp_path / "a", "m", max_length=32, quiet=True)
    export_transformer(
        checkpoint("bert"), "text-classification", tmp_path / "b", "m", max_length=32, quiet=True, samples=["a b", "c"]
    )
    assert seen == [True, False]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "s.jsonl",
            '{"sentence": "Revenue rose.", "label": "positive"}\n',
            r"line 1 has no 'text' field \(it has 'sentence', 'label'\); put each",
        ),
        ("s.jsonl", '{"text": 3}\n', r"line 1: 'text' must be a non-empty string, got int 3"),
        ("s.jsonl", '["Revenue rose."]\n', r"line 1 is a JSON list, not an object; pass --samples FILE as \.txt"),
        ("s.jsonl", "Revenue rose.\n", r"line 1 is not JSON"),
        (
            "s.txt",
            "one\ntwo\nthree\n",
            rf"3 usable text\(s\); give at least {MIN_SAMPLES}: with fewer, one flipped row",
        ),
        ("s.csv", "text\nRevenue rose.\n", r"format '\.csv' is not accepted; pass --samples FILE as \.txt"),
        ("s.npz", "", r"pre-tokenised tensors are not accepted for text models"),
    ],
)
def test_a_bad_samples_file_says_what_to_do_and_writes_nothing(
    exported, tmp_path: Path, name: str, content: str, message: str
) -> None:
    """Wrong fields, wrong types, too few rows or a wrong format: exit 1, advice, the repository unchanged."""
    repository = tmp_path / "models"
    shutil.copytree(exported("bert", "text-classification").parent, repository)
    before = snapshot(repository)
    samples = tmp_path / name
    samples.write_text(content, encoding="utf-8")
    code, stderr = convert_onnx_cli(
        Path("/nonexistent-checkpoint"), repository, "--version", "2", "--samples", str(samples)
    )
    assert code == 1
    assert "error: samples file" in stderr and "Nothing was written" in stderr
    assert re.search(message, stderr.replace("\n", "")), stderr
    assert snapshot(repository) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".gatewise-convert-")]


def test_too_few_rows_names_the_minimum_and_a_missing_file_is_a_sample_error(tmp_path: Path) -> None:
    """The minimum is 50 rows, as --help and the refusals say; the 50th row makes a file usable."""
    assert MIN_SAMPLES == 50
    onnx = typer.main.get_command(convert_app).commands["onnx"]  # type: ignore[attr-defined]
    assert f"at least {MIN_SAMPLES} rows" in next(param.help for param in onnx.params if param.name == "samples")
    with pytest.raises(SampleError, match=r"cannot be read"):
        read_samples(tmp_path / "missing.txt")
    short = write_txt(tmp_path / "short.txt", load_samples()[: MIN_SAMPLES - 1])
    with pytest.raises(SampleError, match=rf"{MIN_SAMPLES - 1} usable text\(s\); give at least {MIN_SAMPLES}"):
        read_samples(short)
    assert len(read_samples(write_txt(tmp_path / "ok.txt", load_samples()[:MIN_SAMPLES])).texts) == MIN_SAMPLES
