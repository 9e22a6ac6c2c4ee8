"""Open a Hugging Face checkpoint folder: config, weights with the task's head, tokenizer.

Every way a checkpoint can be unusable is turned into a CheckpointError that says what to
do, before anything is exported or written.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatewise.converters.errors import CheckpointError, MissingTokenizer, UnsupportedArchitecture
from gatewise.converters.tasks import TaskSpec

SUPPORTED_MODEL_TYPES = ("bert", "distilbert", "roberta", "xlm-roberta")
"""BERT-family encoders the converters are tested on (MiniLM checkpoints are ``bert``)."""
POOLING_MODES = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean", "pooling_mode_max_tokens": "max"}
DEFAULT_POOLING = "mean"
VOCAB_FILES = ("vocab.txt", "vocab.json", "sentencepiece.bpe.model", "spiece.model", "tokenizer.model")
"""Files a fast tokenizer can be built from when tokenizer.json is missing."""


@dataclass
class Checkpoint:
    """A loaded checkpoint, ready to export."""

    path: Path
    task: TaskSpec
    model: Any
    """The torch module, in eval mode."""
    tokenizer: Any
    """A ``tokenizers.Tokenizer``: exactly what the gateway will serve with."""
    model_type: str
    input_names: list[str]
    labels: list[str] = field(default_factory=list)
    pooling: str | None = None
    num_heads: int = 0
    hidden_size: int = 0
    max_positions: int = 0
    """The longest token sequence the position embeddings allow."""


def read_config(path: Path) -> Any:
    """The checkpoint's transformers config, with the architecture checked."""
    from transformers import AutoConfig

    if not path.is_dir():
        raise CheckpointError(path, "is not a folder; give the folder that holds config.json and the weights")
    if not (path / "config.json").is_file():
        raise CheckpointError(path, "has no config.json; save the model with `model.save_pretrained(folder)`")
    try:
        config = AutoConfig.from_pretrained(path)
    except Exception as exc:
        raise CheckpointError(path, f"config.json cannot be read ({exc}); check that it is valid JSON") from exc
    if config.model_type not in SUPPORTED_MODEL_TYPES:
        raise UnsupportedArchitecture(path, config.model_type, SUPPORTED_MODEL_TYPES)
    return config


def read_pooling(path: Path) -> str:
    """The sentence-transformers pooling mode of the checkpoint, or ``mean`` without one."""
    folder = path / "1_Pooling"
    modules = path / "modules.json"
    if modules.is_file():
        try:
            for module in json.loads(modules.read_text(encoding="utf-8")):
                if str(module.get("type", "")).endswith("Pooling"):
                    folder = path / module.get("path", "1_Pooling")
        except (ValueError, AttributeError) as exc:
            raise CheckpointError(path, f"modules.json is not valid sentence-transformers JSON ({exc})") from exc
    config_file = folder / "config.json"
    if not config_file.is_file():
        return DEFAULT_POOLING
    try:
        settings = json.loads(config_file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CheckpointError(path, f"{config_file} is not valid JSON ({exc})") from exc
    chosen = [mode for key, mode in POOLING_MODES.items() if settings.get(key)]
    unsupported = [
        key for key, value in settings.items() if key.startswith("pooling_mode") and value and key not in POOLING_MODES
    ]
    if unsupported or len(chosen) != 1:
        raise CheckpointError(
            path,
            f"{config_file} asks for pooling "
            f"{sorted(k for k, v in settings.items() if k.startswith('pooling_mode') and v)}; "
            "the converters support exactly one of cls, mean or max",
        )
    return chosen[0]


def load_tokenizer(path: Path) -> Any:
    """``tokenizer.json`` if present, else a fast tokenizer built by transformers from vocab files."""
    from tokenizers import Tokenizer

    file = path / "tokenizer.json"
    if file.is_file():
        try:
            return Tokenizer.from_file(str(file))
        except Exception as exc:
            raise MissingTokenizer(path, f"tokenizer.json cannot be parsed ({exc})") from exc
    present = [name for name in VOCAB_FILES if (path / name).is_file()]
    if not present:
        # transformers would build an empty tokenizer here rather than fail.
        raise MissingTokenizer(path, f"none of {', '.join(('tokenizer.json', *VOCAB_FILES))} is in the folder")
    try:
        from transformers import AutoTokenizer

        backend = getattr(AutoTokenizer.from_pretrained(path), "backend_tokenizer", None)
    except Exception as exc:
        raise MissingTokenizer(path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc
    if backend is None:
        raise MissingTokenizer(path, "transformers built a slow tokenizer only")
    return Tokenizer.from_str(backend.to_str())


def load_checkpoint(path: Path, task: TaskSpec, labels: list[str] | None = None) -> Checkpoint:
    """Config, tokenizer and model of ``path`` with ``task``'s head; ``labels`` replaces id2label."""
    import transformers

    path = Path(path)
    config = read_config(path)
    tokenizer = load_tokenizer(path)
    pooling = read_pooling(path) if task.name == "feature-extraction" else None
    if labels is not None and task.has_labels:
        config.num_labels = len(labels)
        config.id2label = dict(enumerate(labels))
        config.label2id = {label: index for index, label in enumerate(labels)}
    auto_class = getattr(transformers, task.auto_class)
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()  # our own bar is showing
    try:
        model = auto_class.from_pretrained(path, config=config, attn_implementation="eager")
    except Exception as exc:
        raise CheckpointError(path, f"cannot load the weights for {task.name} ({exc})") from exc
    finally:
        transformers.logging.set_verbosity(verbosity)
        transformers.logging.enable_progress_bar()
    model.eval()
    accepted = inspect.signature(model.forward).parameters
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in accepted and getattr(config, "type_vocab_size", 0) > 1:
        names.append("token_type_ids")
    found = [config.id2label[index] for index in range(config.num_labels)] if task.has_labels else []
    return Checkpoint(
        path=path,
        task=task,
        model=model,
        tokenizer=tokenizer,
        model_type=config.model_type,
        input_names=names,
        labels=[str(label) for label in found],
        pooling=pooling,
        num_heads=int(getattr(config, "num_attention_heads", getattr(config, "n_heads", 0))),
        hidden_size=int(getattr(config, "hidden_size", getattr(config, "dim", 0))),
        max_positions=_max_positions(config),
    )


def _max_positions(config: Any) -> int:
    positions = int(getattr(config, "max_position_embeddings", 0))
    if config.model_type in ("roberta", "xlm-roberta"):
        # RoBERTa numbers positions from padding_idx + 1.
        positions -= int(getattr(config, "pad_token_id", 1) or 0) + 1
    return positions
