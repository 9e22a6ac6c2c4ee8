"""Tiny, real Hugging Face checkpoints for tests: seconds to build and export, no model hub.

Plugin authors and this project's tests use them to run a whole convert -> serve path
on real (randomly initialised) BERT, DistilBERT, RoBERTa and XLM-R graphs. Outputs are
meaningless; shapes, names, offsets and numerics are not.
"""

from __future__ import annotations

import json
from pathlib import Path

from gatewise.converters.samples import load_samples
from gatewise.plugins.harness import tiny_tokenizer

TINY = {"hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 64, "max_position_embeddings": 80}


def tiny_checkpoint(
    folder: Path,
    model_type: str = "bert",
    task: str = "text-classification",
    *,
    labels: list[str] | None = None,
    pooling: str | None = None,
    seed: int = 0,
) -> Path:
    """Write a randomly initialised ``model_type`` checkpoint for ``task`` into ``folder``.

    ``pooling`` adds a sentence-transformers ``1_Pooling/config.json`` (cls, mean or max).
    """
    import torch
    import transformers
    from tokenizers import Tokenizer

    folder = Path(folder)
    tokenizer = Tokenizer.from_file(str(tiny_tokenizer(folder, train_on=load_samples())))
    config_class = transformers.AutoConfig.for_model(model_type).__class__
    sizes = dict(TINY, num_hidden_layers=2)
    if model_type == "distilbert":
        sizes = {"dim": 32, "n_heads": 4, "hidden_dim": 64, "n_layers": 2, "max_position_embeddings": 80}
    config = config_class(vocab_size=tokenizer.get_vocab_size(), pad_token_id=0, **sizes)
    if labels:
        config.num_labels = len(labels)
        config.id2label = dict(enumerate(labels))
        config.label2id = {label: index for index, label in enumerate(labels)}
    auto = {
        "text-classification": "AutoModelForSequenceClassification",
        "token-classification": "AutoModelForTokenClassification",
        "feature-extraction": "AutoModel",
    }[task]
    torch.manual_seed(seed)
    model = getattr(transformers, auto).from_config(config)
    # Random init gives near-zero logits; wider weights give clear labels to compare.
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith(("classifier", "score")) and parameter.ndim == 2:
                parameter.normal_(0.0, 1.0)
    transformers.logging.disable_progress_bar()
    try:
        model.save_pretrained(folder)
    finally:
        transformers.logging.enable_progress_bar()
    if pooling:
        (folder / "1_Pooling").mkdir(exist_ok=True)
        modes = {
            f"pooling_mode_{key}": key_mode == pooling
            for key, key_mode in (("cls_token", "cls"), ("mean_tokens", "mean"), ("max_tokens", "max"))
        }
        (folder / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 32, **modes}))
        (folder / "modules.json").write_text(
            json.dumps(
                [
                    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                ]
            )
        )
    return folder
