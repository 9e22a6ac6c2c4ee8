"""``gatewise convert``: checkpoints and modules to repository entries, ONNX to TensorRT.

Mounted by the gateway's CLI as ``app.add_typer(convert_app, name="convert")``. Every
failure is a ConversionError whose message says what to do; it is printed without a
traceback and the command exits with status 1, having written nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from gatewise.converters.errors import ConversionError
from gatewise.plugins.text.encoding import DEFAULT_MAX_LENGTH
from gatewise.protos.errors import ONNXRUNTIME_MISSING, GatewiseError
from rich.console import Console
from rich.markup import escape

convert_app = typer.Typer(
    help="Convert fine-tuned models into repository entries the gateway serves.", no_args_is_help=True
)
err = Console(stderr=True)

Repository = Annotated[Path, typer.Option("--repository", "-r", help="The model repository to write into.")]
Name = Annotated[str, typer.Option("--name", "-n", help="The model's name (its folder in the repository).")]
Version = Annotated[int, typer.Option(help="Version folder to create; it must not exist yet.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar; results still go to the log.")]


def _require_onnxruntime() -> None:
    """Every command validates with ONNX Runtime: say which extra to install before anything is written."""
    try:
        import onnxruntime  # noqa: F401
    except ModuleNotFoundError:
        raise ConversionError(ONNXRUNTIME_MISSING) from None


def _run(action: Any) -> None:
    try:
        _require_onnxruntime()
        result = action()
    except GatewiseError as exc:  # ConversionError included
        # escape: messages name extras such as gatewise[cpu], which rich would read as markup
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    typer.echo(str(result))


def _samples(path: Path | None, flag: str = "--samples") -> Any:
    """The texts of a ``--samples`` (or ``--calibration``) file, a Samples read before anything is written; None
    without one."""
    from gatewise.converters.samples import read_samples

    return read_samples(path, flag=flag) if path is not None else None


@convert_app.command("onnx")
def convert_onnx(
    checkpoint: Annotated[
        Path, typer.Argument(help="A Hugging Face checkpoint folder (config.json, weights, tokenizer).")
    ],
    task: Annotated[str, typer.Option(help="text-classification, token-classification or feature-extraction.")],
    repository: Repository,
    name: Name,
    version: Version = 1,
    optimize: Annotated[
        bool, typer.Option(help="Fuse attention/LayerNorm/GELU with onnxruntime's transformer optimizer.")
    ] = False,
    fp16: Annotated[
        bool, typer.Option(help="FP16 graph for GPUs (FP32 inputs/outputs, LayerNorm/Softmax in FP32).")
    ] = False,
    int8: Annotated[
        bool, typer.Option(help="INT8 quantisation for CPUs: dynamic unless --int8-mode static says otherwise.")
    ] = False,
    int8_mode: Annotated[
        str | None,
        typer.Option(
            help="dynamic (scales computed per batch at run time; no data needed) or static (a Q/DQ model whose "
            "scales are calibrated once on --calibration, so a row's answer does not depend on its batch). "
            "Implies --int8."
        ),
    ] = None,
    calibration: Annotated[
        Path | None,
        typer.Option(
            help="Texts to calibrate static INT8 on, tokenised and batched as served: .txt (one text per line) or "
            ".jsonl (a 'text' field per line), at least 50 rows. Required by --int8-mode static."
        ),
    ] = None,
    calibration_method: Annotated[
        str | None,
        typer.Option(help="How static INT8 picks activation ranges: minmax (default), entropy or percentile."),
    ] = None,
    int8_activations: Annotated[
        str | None,
        typer.Option(
            help="Static INT8 activations: uint8 (asymmetric; what ONNX Runtime runs fastest on x86, the default "
            "there) or int8 (symmetric; the default elsewhere, and what TensorRT needs: pass int8 for a model you "
            "will build with `gatewise convert tensorrt`)."
        ),
    ] = None,
    accuracy_aware: Annotated[
        bool,
        typer.Option(
            help="When the INT8 model misses its tolerance, keep the groups of matrix products that cost the most "
            "agreement (one transformer block at a time, ranked by a trial each) in FP32 until it holds, at most "
            "half of them; prints what stayed FP32, the final agreement and the speed-up here. --no-accuracy-aware "
            "fails at once instead: quicker, and the model is either fully INT8 or refused."
        ),
    ] = True,
    min_agreement: Annotated[
        float | None,
        typer.Option(
            help="The INT8 step's deciding top-1 agreement with FP32, on rows where FP32 is clear (every row when "
            "fewer than half are); default 0.98. Above 0 and at most 1."
        ),
    ] = None,
    opset: Annotated[int, typer.Option(help="ONNX opset.")] = 17,
    max_length: Annotated[int, typer.Option(help="Tokens per row; longer texts are truncated.")] = DEFAULT_MAX_LENGTH,
    samples: Annotated[
        Path | None,
        typer.Option(
            help="Validate on your own held-out texts instead of the generic shipped set: .txt (one text per line) "
            "or .jsonl (a 'text' field per line; other fields ignored), at least 50 rows."
        ),
    ] = None,
    label: Annotated[
        list[str] | None, typer.Option(help="Label names in order (repeat); default: the checkpoint's id2label.")
    ] = None,
    plugin: Annotated[
        str | None,
        typer.Option(
            help="The plugin config.toml names for this model (a domain plugin, or an installed plugin's "
            "entry-point name); default: the task's built-in plugin (text-classification, ...)."
        ),
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Export a Hugging Face checkpoint to ONNX, validate every step, and write a repository entry."""
    from gatewise.converters.transformer import export_transformer

    mode: bool | str = int8_mode or int8
    _run(
        lambda: export_transformer(
            checkpoint,
            task,
            repository,
            name,
            version=version,
            opset=opset,
            max_length=max_length,
            optimize=optimize,
            fp16=fp16,
            int8=mode,
            labels=label or None,
            samples=_samples(samples),
            calibration=_samples(calibration, "--calibration"),
            calibration_method=calibration_method,
            int8_activations=int8_activations,
            accuracy_aware=accuracy_aware,
            min_agreement=min_agreement,
            plugin=plugin,
            quiet=quiet,
        )
    )


@convert_app.command("module")
def convert_module(
    module: Annotated[
        str, typer.Argument(help="'package.module:factory' or a file saved with torch.save(module, path).")
    ],
    examples: Annotated[Path, typer.Option(help="An .npz whose arrays are the named example inputs (batch >= 2).")],
    repository: Repository,
    name: Name,
    output: Annotated[list[str], typer.Option(help="Output tensor names, in the order forward returns them (repeat).")],
    version: Version = 1,
    dynamic_batch: Annotated[bool, typer.Option(help="Make the first axis of every input dynamic.")] = True,
    plugin: Annotated[str | None, typer.Option(help="The plugin config.toml names for this model.")] = None,
    opset: Annotated[int, typer.Option(help="ONNX opset.")] = 17,
    quiet: Quiet = False,
) -> None:
    """Export a plain torch.nn.Module (tabular models and the like) with named inputs and outputs."""

    def action() -> Path:
        import numpy as np
        from gatewise.converters.module import export_module

        try:
            with np.load(examples) as archive:
                inputs = {key: archive[key] for key in archive.files}
        except (OSError, ValueError) as exc:
            raise ConversionError(
                f"cannot read examples {examples}: {exc}; save them with numpy.savez(path, name=array, ...)"
            ) from exc
        path: Any = Path(module) if Path(module).suffix in (".pt", ".pth") else module
        return export_module(
            path,
            inputs,
            repository,
            name,
            output_names=output,
            version=version,
            dynamic_batch=dynamic_batch,
            plugin=plugin,
            opset=opset,
            quiet=quiet,
        )

    _run(action)


@convert_app.command("tensorrt")
def convert_tensorrt(
    model: Annotated[Path, typer.Argument(help="The ONNX model (ideally NAME/<version>/model.onnx in a repository).")],
    repository: Annotated[
        Path | None, typer.Option("--repository", "-r", help="Write a new version of NAME here.")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="The entry to add the engine to.")] = None,
    version: Annotated[int | None, typer.Option(help="Version folder to create (default: the next free one).")] = None,
    output: Annotated[Path | None, typer.Option(help="Write just the plan (and its .json stamp) here instead.")] = None,
    min_shapes: Annotated[
        list[str] | None, typer.Option("--min", help="Profile minimum, NAME:DxD,... (repeat for more profiles).")
    ] = None,
    opt_shapes: Annotated[list[str] | None, typer.Option("--opt", help="Profile optimum, NAME:DxD,...")] = None,
    max_shapes: Annotated[list[str] | None, typer.Option("--max", help="Profile maximum, NAME:DxD,...")] = None,
    max_batch: Annotated[
        int | None, typer.Option(help="Default profile batch limit (default: the entry's max_batch_size).")
    ] = None,
    max_length: Annotated[
        int | None, typer.Option(help="Default profile sequence limit (default: the entry's max_length).")
    ] = None,
    precision: Annotated[
        str, typer.Option(help="graph (what the ONNX holds), fp32, fp16 (TensorRT 10 flag), int8 (Q/DQ).")
    ] = "graph",
    timing_cache: Annotated[Path | None, typer.Option(help="Timing cache reused across builds.")] = None,
    no_timing_cache: Annotated[bool, typer.Option(help="Build without a timing cache.")] = False,
    samples: Annotated[
        Path | None, typer.Option(help="Validate on these texts (.txt or .jsonl) instead of the shipped set.")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Build a TensorRT engine (model.plan) with optimisation profiles, stamped with TensorRT version and GPU."""

    def action() -> Path:
        from gatewise.converters.engine_entry import DEFAULT_TIMING_CACHE, export_tensorrt
        from gatewise.converters.tensorrt_build import parse_shapes

        lows, bests, highs = min_shapes or [], opt_shapes or [], max_shapes or []
        if not len(lows) == len(bests) == len(highs):
            raise ConversionError("give --min, --opt and --max the same number of times (once per profile)")
        explicit = [
            (parse_shapes(lo), parse_shapes(mid), parse_shapes(hi))
            for lo, mid, hi in zip(lows, bests, highs, strict=True)
        ]
        cache = None if no_timing_cache else (timing_cache or DEFAULT_TIMING_CACHE)
        return export_tensorrt(
            model,
            repository=repository,
            name=name,
            version=version,
            output=output,
            explicit=explicit or None,
            max_batch=max_batch,
            max_length=max_length,
            precision=precision,
            timing_cache=cache,
            samples=None if samples is None else _samples(samples).texts,
            quiet=quiet,
        )

    _run(action)
