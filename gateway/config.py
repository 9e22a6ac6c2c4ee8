"""A model's ``config.toml``: parsed and validated at load time.

Every field is checked by pydantic with unknown keys forbidden, so a typo fails the model
with a message naming the field (``batching.max_queue_delay_ms: ...``) while the other
models keep serving.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from gatewise.gateway import length_policy
from gatewise.gateway.records.config import RecordsConfig
from gatewise.plugins.context import ModelConfigView
from gatewise.protos.errors import InvalidConfig
from gatewise.protos.tensors import TensorSpec
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CONFIG_FILE = "config.toml"
Provider = Literal["tensorrt", "cuda", "cpu"]
DriftPolicy = Literal["refuse", "warn"]
LoadPolicy = Literal["always", "on-demand"]
LOAD_POLICIES: tuple[str, ...] = LoadPolicy.__args__


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BatchingConfig(_Strict):
    """The model's dynamic batcher (``gateway.batcher``) and its batch policy (``gateway.batch_policy``)."""

    max_batch_size: int = Field(default=32, ge=1)
    """Most rows the engine runs at once."""
    max_queue_delay_ms: float = Field(default=0.0, ge=0)
    """How long the oldest queued request may wait for a batch to fill, in milliseconds.

    0 (Triton's default too) dispatches as soon as an instance is free: under load the
    queue fills while the engine works, so batches grow by themselves without adding
    latency when traffic is light."""
    preferred_batch_sizes: tuple[int, ...] = ()
    """Sizes worth dispatching at once without waiting for the delay."""
    max_queue_size: int = Field(default=1024, ge=1)
    """Most requests waiting; past it a request is refused with RESOURCE_EXHAUSTED."""
    explanation_share: float = Field(default=0.25, gt=0, le=1)
    """The share of a batch explanation rows may take while ordinary requests are about, and
    the size of the chunks they are queued in (see ``gateway.batch_policy``): what
    explanations may cost ordinary traffic under load. Default 0.25."""
    explanation_hold_ms: float = Field(default=10.0, ge=0)
    """While ordinary traffic is about, how long a batch of explanation rows alone is held back,
    in milliseconds, so that the clients an instance just answered get the next batch instead
    of queueing behind it. Default 10."""
    explanation_max_wait_ms: float = Field(default=100.0, ge=0)
    """How long an explanation chunk may wait, in milliseconds, before it takes its share of
    the next batch however busy ordinary traffic is (so explanations always progress). Default 100."""
    ordinary_recent_ms: float = Field(default=100.0, ge=0)
    """How recently, in milliseconds, an ordinary request must have arrived or been answered for
    ordinary traffic to count as about (explanation rows then keep to their share). Default 100."""
    length_split_min_saving: float = Field(default=length_policy.MIN_SAVING, ge=0, le=1)
    """The share of a batch's padded size (rows x longest length) that running its shorter and
    longer rows as two engine calls must save for the batch to split. Default 0.2."""
    max_concurrent_explanations: int = Field(default=2, ge=1)
    """Explained rows whose perturbed rows may be queued at once, per engine instance; further
    explanations wait their turn (bounded by their deadline) instead of being refused, so a burst
    of explanations neither floods the queue nor fails."""

    @model_validator(mode="after")
    def _preferred_fit(self) -> BatchingConfig:
        too_big = [size for size in self.preferred_batch_sizes if not 1 <= size <= self.max_batch_size]
        if too_big:
            raise ValueError(f"preferred_batch_sizes {too_big} must lie in 1..max_batch_size ({self.max_batch_size})")
        return self


class OnnxRuntimeConfig(_Strict):
    """ONNX Runtime settings; providers are tried in order, the missing ones skipped."""

    providers: tuple[Provider, ...] = ("tensorrt", "cuda", "cpu")
    intra_op_threads: int = Field(default=0, ge=0)
    """Threads per session for one operator; 0 lets ONNX Runtime choose."""
    spin_wait: bool = True
    """Let idle operator threads spin for the next operator, as ONNX Runtime does by default:
    lower latency where waking a sleeping thread is slow (figures in docs/benchmarks.md), at
    the cost of CPU while idle; turn it off where idle CPU matters more than latency."""
    device_id: int = Field(default=0, ge=0)
    memory_arena: bool | None = None
    """Keep ONNX Runtime's CPU memory arena, which holds on to the largest batch's working memory
    for the session's life (a MiniLM classifier: 125 MB more after one batch of 32 x 128 tokens
    on one thread, 340 MB on two; docs/benchmarks.md). None: on for pinned models (as ONNX
    Runtime does), off for on-demand ones, whose memory the budget must be able to count."""
    share_weights: bool | None = None
    """Read large initializers from a memory-mapped file shared by every instance and worker
    process (``gateway.weights``) instead of a private copy each. ONNX Runtime cannot prepack a
    weight it does not own, so small batches cost more CPU (MiniLM, one row: about 1.5x per call;
    8 rows: 1.08x). None: shared when the server runs more than one worker, where it saves a copy
    per worker; one process keeps a private, prepacked copy, which eviction frees all the same."""


class TensorRTConfig(_Strict):
    """Native TensorRT engine settings."""

    device_id: int = Field(default=0, ge=0)


class VersionPolicy(_Strict):
    """Which version folders serve: the newest ``latest`` ones, or exactly ``versions``."""

    latest: int | None = Field(default=1, ge=1)
    versions: tuple[int, ...] | None = None

    @model_validator(mode="after")
    def _one_choice(self) -> VersionPolicy:
        if self.versions is not None and self.latest not in (None, 1):
            raise ValueError("give either latest or versions, not both")
        return self


class ModelConfig(_Strict):
    """Everything ``config.toml`` may hold for one model."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    backend: str = "onnxruntime"
    """The default engine where a version folder's file does not decide it: a registered backend's
    name (``gateway.engines.registry``: ``onnxruntime``, ``tensorrt``, or one installed under the
    entry-point group ``gatewise.engines``)."""
    plugin: str | None = None
    """The plugin that maps the public signature to the engine's; none: tensors in, tensors out."""
    task: str | None = None
    """What the model does (text-classification, token-classification, ...), for the plugin."""
    labels: tuple[str, ...] = ()
    inputs: tuple[TensorSpec, ...] = ()
    """The engine's inputs, checked against the engine at load when given."""
    outputs: tuple[TensorSpec, ...] = ()
    batching: BatchingConfig = BatchingConfig()
    instances: int = Field(default=1, ge=1, le=64)
    """Engine instances working in parallel, each with its own session or context."""
    version_policy: VersionPolicy = VersionPolicy()
    onnxruntime: OnnxRuntimeConfig = OnnxRuntimeConfig()
    tensorrt: TensorRTConfig = TensorRTConfig()
    engine: dict[str, Any] = {}
    """Settings for an engine installed under ``gatewise.engines``, read by that engine as they are
    (the built-in ones have their own tables above)."""
    parameters: dict[str, Any] = {}
    """Free-form settings read by the plugin (max_length, thresholds, ...)."""
    load: LoadPolicy | None = None
    """``always``: loaded at startup and never evicted (pinned); ``on-demand``: loaded by its first
    request and evicted, least recently used first, when the memory budget needs room. Unset:
    the server's ``--default-load`` (``always`` unless changed)."""
    records: RecordsConfig | None = None
    """Decision records for this model (docs/records.md): kept where the server's ``--records``
    or ``--records-url`` says; a malformed table refuses the model, naming the key."""
    drift_policy: DriftPolicy = "refuse"
    """What a version whose outputs drift past its reference tolerance on this host does at
    load (the converters store the reference rows, ``<version>/reference.npz``): ``refuse``
    (the default) fails that version with the figures; ``warn`` serves it, with a warning in
    the log, the ``gatewise_model_drifted`` gauge at 1 and a ``drift`` ModelConfig parameter."""

    @field_validator("backend")
    @classmethod
    def _registered(cls, name: str) -> str:
        from gatewise.gateway.engines import registry  # the engines package imports this module

        known = registry.backends()
        if name not in known:
            raise ValueError(f"no engine named {name!r}; registered: {', '.join(sorted(known))}")
        return name

    @property
    def max_batch_size(self) -> int:
        return self.batching.max_batch_size

    def plugin_view(self) -> ModelConfigView:
        """What the model's plugin sees of this config (``ModelContext.config``)."""
        return ModelConfigView(plugin=self.plugin, task=self.task, labels=self.labels, parameters=self.parameters)


def parse_config(text: str, *, source: str, folder_name: str | None = None) -> ModelConfig:
    """Parse TOML text into a ModelConfig; errors name ``source`` and each bad field."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidConfig(source, f"not valid TOML: {exc}") from exc
    if folder_name is not None:
        raw.setdefault("name", folder_name)
    try:
        config = ModelConfig.model_validate(raw)
    except ValidationError as exc:
        raise InvalidConfig(source, _describe(exc)) from exc
    if folder_name is not None and config.name != folder_name:
        raise InvalidConfig(source, f"name: {config.name!r} must match its folder {folder_name!r}")
    return config


def load_config(model_dir: Path) -> ModelConfig:
    """Read ``model_dir/config.toml``; the model's name defaults to its folder's name."""
    path = model_dir / CONFIG_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidConfig(str(path), f"cannot read: {exc.strerror}") from exc
    return parse_config(text, source=str(path), folder_name=model_dir.name)


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "(top level)"
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "value_error":
            message = str(error["ctx"]["error"])  # our own validators' words, without pydantic's "Value error, "
        else:
            message = error["msg"]
        parts.append(f"{field}: {message}")
    return "; ".join(parts)
