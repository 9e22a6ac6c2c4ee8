"""The real demo build: train, convert, evaluate every model, then reuse it (slow, minutes).

It builds where ``gatewise demo`` does by default (``demo-models/``, git-ignored) unless
``GATEWISE_DEMO_REPOSITORY`` names another folder, so it shares the demo's cache: the
first run trains (about four minutes on two cores), later runs reuse the models.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def built() -> Path:
    from gatewise_lab.demo.build import build_repository

    repository = Path(os.environ.get("GATEWISE_DEMO_REPOSITORY") or ROOT / "demo-models")
    build_repository(repository)
    return repository


def test_every_model_beats_chance_on_held_out_data(built: Path) -> None:
    manifest = json.loads((built / "demo-build.json").read_text())
    assert manifest["finance-sentiment"]["held_out"]["accuracy"] > 0.8
    assert manifest["retail-sentiment"]["held_out"]["accuracy"] > 0.8
    assert manifest["medical-ner"]["held_out"]["entity_f1"] > 0.5
    assert manifest["finance-fraud"]["held_out"]["roc_auc"] > 0.85
    assert manifest["retail-search"]["held_out"]["category_precision_at_1"] > 0.8
    finance = manifest["finance-sentiment"]["held_out"]
    assert finance["int8_accuracy"] > 0.8 and finance["int8_agreement"] > 0.9  # static INT8 beside FP32
    assert (built / "finance-sentiment-int8" / "1" / "model.onnx").is_file()


def test_second_build_reuses_everything(built: Path) -> None:
    from gatewise_lab.demo.build import build_repository

    before = {p: p.stat().st_mtime for p in built.glob("*/1/model.onnx")}
    started = time.perf_counter()
    build_repository(built)
    assert time.perf_counter() - started < 5
    assert {p: p.stat().st_mtime for p in built.glob("*/1/model.onnx")} == before


def test_demo_calls_every_model_over_grpc(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gatewise_lab.demo import run_demo

    assert run_demo(built) == 0
    printed = capsys.readouterr().out
    for name in ("finance-sentiment", "finance-fraud", "medical-ner", "retail-sentiment", "retail-search"):
        assert name in printed
    assert "4111 1111 1111 1111" in printed  # the input column shows what came in ...
    assert "CARD" in printed  # ... and what was masked in it
    for why in ("finance-sentiment: why", "retail-sentiment: why", "finance-fraud: why", "why the top result"):
        assert why in printed  # each explaining model was asked for its explanation and drew it
    assert "probability of 'positive'" in printed and "log-odds" in printed and "█" in printed
