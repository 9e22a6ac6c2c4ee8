"""The Hugging Face tasks the converters export, and what each becomes in the repository."""

from __future__ import annotations

from dataclasses import dataclass

from gatewise.converters.errors import UnsupportedTask
from gatewise.converters.validate import OutputKind


@dataclass(frozen=True)
class TaskSpec:
    """How one task is loaded, exported, validated and served."""

    name: str
    auto_class: str
    """The transformers Auto class that loads the checkpoint with its head."""
    plugin: str
    """The built-in plugin that serves it (config.toml ``plugin``)."""
    output: str
    """The engine's one output tensor."""
    kind: OutputKind
    token_level: bool
    """Outputs per token (judged on real tokens only) rather than per row."""
    has_labels: bool


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec("text-classification", "AutoModelForSequenceClassification", "text-classification",
                 "logits", "labels", token_level=False, has_labels=True),
        TaskSpec("token-classification", "AutoModelForTokenClassification", "token-classification",
                 "logits", "labels", token_level=True, has_labels=True),
        TaskSpec("feature-extraction", "AutoModel", "feature-extraction",
                 "embedding", "embedding", token_level=False, has_labels=False),
    )
}  # fmt: skip


def task_spec(task: str) -> TaskSpec:
    """The spec for ``task``; UnsupportedTask lists the ones there are."""
    try:
        return TASKS[task]
    except KeyError:
        raise UnsupportedTask(task, TASKS) from None
