"""Helpers for testing a Gatewise plugin without a server, as ``structlog.testing`` does for logs.

Plugin authors import them from ``gatewise.testing``, which fronts this module.

Run a plugin's hooks in the gateway's order against any engine (a function, or an ONNX
file through ONNX Runtime), check the results keep the contract, and prove that nothing a
request sent reaches a log record::

    from gatewise.testing import PluginHarness, capture_logs, model_context, tiny_tokenizer

    def test_my_plugin(tmp_path):
        model = model_context(tmp_path, "my-model", plugin="my-plugin",
                              engine_inputs=[("input_ids", "INT64", (-1, -1))],
                              engine_outputs=[("logits", "FP32", (-1, 2))])
        tiny_tokenizer(model.assets, ["hello", "world"])
        harness = PluginHarness(my_plugin_module, model, engine=lambda inputs: {...})
        with capture_logs() as records:
            out = harness.infer({"text": texts(["hello world"])})
        assert_not_logged(records, ["world"])

With pytest, ``pytest_plugins = ["gatewise.testing"]`` in a ``conftest.py`` adds the
``gatewise_logs`` fixture (every record at every level, from every logger).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from gatewise.plugins import execution
from gatewise.plugins.context import BatchContext, ModelConfigView, ModelContext, Signature, Tensors
from gatewise.plugins.explainer import EXPLANATION_OUTPUT, conclude, perturbation
from gatewise.plugins.manager import BUILTIN_PLUGINS, PluginManager
from gatewise.protos.errors import ONNXRUNTIME_MISSING
from gatewise.protos.tensors import ONNX_TO_DATATYPE, TensorSpec

Engine = Callable[[Tensors], Tensors]
SpecLike = TensorSpec | tuple[str, str, Sequence[int]]

__all__ = [
    "PluginHarness", "assert_not_logged", "capture_logs", "model_context", "onnx_engine", "texts", "tiny_tokenizer",
]  # fmt: skip


def _spec(value: SpecLike) -> TensorSpec:
    if isinstance(value, TensorSpec):
        return value
    name, datatype, shape = value
    return TensorSpec(name=name, datatype=datatype, shape=tuple(shape))


def model_context(
    folder: Path,
    name: str,
    *,
    plugin: str | None = None,
    engine_inputs: Iterable[SpecLike] = (),
    engine_outputs: Iterable[SpecLike] = (),
    version: str = "1",
    labels: Iterable[str] = (),
    **config: Any,
) -> ModelContext:
    """A ModelContext for ``folder/name/version`` (folders created), with ``ModelConfigView`` fields from keywords."""
    path = Path(folder) / name / version
    path.mkdir(parents=True, exist_ok=True)
    (path.parent / "assets").mkdir(exist_ok=True)
    settings = ModelConfigView(plugin=plugin, labels=tuple(labels), **config)
    return ModelContext(
        name=name, version=version, config=settings, path=path,
        engine_inputs=tuple(_spec(item) for item in engine_inputs),
        engine_outputs=tuple(_spec(item) for item in engine_outputs),
    )  # fmt: skip


SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
"""The tiny tokenizers' special tokens, ids 0-4 in this order."""


def tiny_tokenizer(
    assets: Path,
    words: Iterable[str] = (),
    *,
    lowercase: bool = True,
    train_on: Iterable[str] | None = None,
    vocab_size: int = 300,
) -> Path:
    """Write a small BERT-style WordPiece ``tokenizer.json`` into ``assets`` and return its path.

    The vocabulary is ``SPECIAL_TOKENS`` then ``words`` in order (ids a test can rely on), or,
    given ``train_on``, WordPiece trained on those sentences up to ``vocab_size``. [CLS] ...
    [SEP] around each text, real character offsets into the original text.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    if train_on is None:
        vocabulary = {token: index for index, token in enumerate(SPECIAL_TOKENS)}
        for word in words:
            vocabulary.setdefault(word.lower() if lowercase else word, len(vocabulary))
        tokenizer = Tokenizer(models.WordPiece(vocabulary, unk_token="[UNK]"))
    else:
        tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    if train_on is not None:
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False
        )
        tokenizer.train_from_iterator(train_on, trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[(token, tokenizer.token_to_id(token)) for token in ("[CLS]", "[SEP]")],
    )
    assets.mkdir(parents=True, exist_ok=True)
    path = assets / "tokenizer.json"
    tokenizer.save(str(path))
    return path


def onnx_engine(model_file: Path) -> tuple[Engine, tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """An engine function over an ONNX file (CPU), with its input and output specs."""
    try:
        import onnxruntime as ort
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(ONNXRUNTIME_MISSING) from exc

    session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])

    def describe(nodes: Sequence[Any]) -> tuple[TensorSpec, ...]:
        return tuple(
            TensorSpec(name=node.name, datatype=ONNX_TO_DATATYPE[node.type],
                       shape=tuple(d if isinstance(d, int) and d > 0 else -1 for d in node.shape))
            for node in nodes
        )  # fmt: skip

    names = [node.name for node in session.get_outputs()]

    def run(inputs: Tensors) -> Tensors:
        return dict(zip(names, session.run(names, inputs), strict=True))

    return run, describe(session.get_inputs()), describe(session.get_outputs())


def texts(values: Iterable[str]) -> np.ndarray:
    """A BYTES tensor of UTF-8 strings, as the gateway hands ``text`` to a plugin."""
    return np.array([value.encode("utf-8") for value in values], dtype=object)


class PluginHarness:
    """Runs one plugin's model hooks as the gateway does, and checks what they return."""

    def __init__(self, plugin: object | str, model: ModelContext, engine: Engine, *, name: str = "under-test") -> None:
        builtin = next(
            (key for key, path in BUILTIN_PLUGINS.items() if getattr(plugin, "__name__", None) == path), None
        )
        if isinstance(plugin, str) or builtin:
            manager, name = PluginManager(entry_points=True), builtin or str(plugin)
        else:
            manager = PluginManager(entry_points=False, extra=[(name, plugin)])
        self.hooks = manager.model_hooks(name)
        self.model = model
        self.engine = engine
        self.hooks.load(model)
        self.signature: Signature | None = self.hooks.signature(model)
        self.warm_up()

    def warm_up(self) -> Tensors:
        """The server's warm-up: the plugin's ``gatewise_warmup_inputs``, else two zero rows of the public
        signature, through ``infer_batch``; a plugin that cannot take it fails here as it would fail to load."""
        signature = self.signature or Signature(self.model.engine_inputs, self.model.engine_outputs)
        inputs = execution.warmup_inputs(self.hooks, self.model, signature)
        return self.infer_batch(inputs, BatchContext.single(len(next(iter(inputs.values())))))

    def infer(self, inputs: Tensors, parameters: dict[str, Any] | None = None) -> Tensors:
        """One request of ``inputs`` through preprocess -> engine -> postprocess."""
        rows = len(next(iter(inputs.values())))
        return self.infer_batch(inputs, BatchContext.single(rows, parameters))

    def infer_batch(self, inputs: Tensors, batch: BatchContext) -> Tensors:
        """Rows of several requests at once (``batch.request_of_row`` says whose each row is).

        Runs the server's own sequence (``plugins.execution.execute``, as ``ServedModel.execute``
        does); per-row flags the plugin set are in ``batch.row_flags`` afterwards.
        """
        outputs, _ = execution.execute(self.hooks, self.model, inputs, batch, self.engine)
        self._check(outputs)
        return outputs

    def explain(
        self, inputs: Tensors, parameters: dict[str, Any] | None = None, *, samples: int = 256, seed: int = 0
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Explain a one-row request as the gateway does: (the ``explanation`` document, the derived outputs).

        The coalitions run through ``infer_batch`` in batches of 64, in place of the gateway's batcher.
        """
        parameters = dict(parameters or {})
        outputs = self.infer(inputs, parameters)
        for name, array in outputs.items():
            if array.shape[0] != 1:
                raise AssertionError(f"explain() takes one row; output {name!r} has {array.shape[0]}")
        explainer = self.hooks.explainer(self.model, inputs, outputs, parameters)
        if explainer is None:
            raise AssertionError("the plugin returned no explainer")
        perturbed = perturbation(explainer, parameters, samples, seed)
        parts = []
        for start in range(0, perturbed.rows, 64):
            chunk = {name: array[start : start + 64] for name, array in perturbed.inputs.items()}
            rows = min(64, perturbed.rows - start)
            parts.append(self.infer_batch(chunk, BatchContext.single(rows, perturbed.parameters)))
        produced = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
        return conclude(explainer, perturbed, produced, seed)

    def _check(self, outputs: Tensors) -> None:
        """The outputs are exactly the signature's (``execute`` has checked the rows, as the server does)."""
        if self.signature is None:
            return
        declared = {spec.name for spec in self.signature.outputs} - {EXPLANATION_OUTPUT.name}
        declared -= set(self.signature.derived)
        if set(outputs) - declared or declared - set(outputs):
            raise AssertionError(f"outputs {sorted(outputs)} differ from the signature's {sorted(declared)}")


class _ListHandler(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(level=logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def capture_logs() -> Iterator[list[logging.LogRecord]]:
    """Every record from every logger at every level while the block runs."""
    records: list[logging.LogRecord] = []
    handler = _ListHandler(records)
    root = logging.getLogger()
    loggers = [root] + [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    levels = {logger: logger.level for logger in loggers}
    disabled = {logger: logger.disabled for logger in loggers}
    root.addHandler(handler)
    try:
        for logger in loggers:
            logger.setLevel(logging.DEBUG)
            logger.disabled = False
        yield records
    finally:
        root.removeHandler(handler)
        for logger, level in levels.items():
            logger.setLevel(level)
            logger.disabled = disabled[logger]


def assert_not_logged(records: Iterable[logging.LogRecord], secrets: Iterable[str]) -> None:
    """Fail if any secret appears in any record's message, arguments or exception text."""
    for record in records:
        rendered = [record.getMessage(), repr(record.args), str(record.exc_info or ""), record.exc_text or ""]
        for secret in secrets:
            if any(secret in text for text in rendered):
                raise AssertionError(f"{secret!r} reached log record from {record.name!r} at {record.levelname}")


try:
    import pytest
except ImportError:  # pragma: no cover - the helpers above work without pytest
    pytest = None

if pytest is not None:

    @pytest.fixture
    def gatewise_logs() -> Iterator[list[logging.LogRecord]]:
        """Every log record (DEBUG and up, all loggers) emitted during the test."""
        with capture_logs() as records:
            yield records
