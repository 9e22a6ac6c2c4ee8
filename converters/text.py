"""Token tensors for the sample texts, made exactly as the serving plugins make them."""

from __future__ import annotations

from typing import Any

import numpy as np


def pad_id(tokenizer: Any) -> int:
    """The tokenizer's padding id (``[PAD]`` or ``<pad>``), 0 when it names none."""
    for token in ("[PAD]", "<pad>"):
        token_id = tokenizer.token_to_id(token)
        if token_id is not None:
            return int(token_id)
    return 0


def encode(tokenizer: Any, texts: list[str], input_names: list[str], max_length: int) -> dict[str, np.ndarray]:
    """int64 ``input_names`` tensors for ``texts``: truncated at ``max_length``, padded to the longest row."""
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.no_padding()
    encodings = tokenizer.encode_batch(texts, add_special_tokens=True)
    longest = max(len(encoding.ids) for encoding in encodings)
    ids = np.full((len(texts), longest), pad_id(tokenizer), dtype=np.int64)
    mask = np.zeros((len(texts), longest), dtype=np.int64)
    types = np.zeros((len(texts), longest), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        length = len(encoding.ids)
        ids[row, :length] = encoding.ids
        mask[row, :length] = 1
        types[row, :length] = encoding.type_ids
    available = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    return {name: available[name] for name in input_names}

