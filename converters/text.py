"""Token tensors for the sample texts, made exactly as the serving plugins make them."""

from __future__ import annotations

from typing import Any

import numpy as np
from gatewise.plugins.text.encoding import token_arrays


def encode(tokenizer: Any, texts: list[str], input_names: list[str], max_length: int) -> dict[str, np.ndarray]:
    """int64 ``input_names`` tensors for ``texts``: truncated at ``max_length``, padded to the longest row."""
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.no_padding()
    available = token_arrays(tokenizer, tokenizer.encode_batch(texts, add_special_tokens=True))
    return {name: available[name] for name in input_names}
