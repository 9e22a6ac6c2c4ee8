"""Text in, token tensors out: UTF-8 decoding and batched tokenisation.

The Rust tokenizer's ``encode_batch`` releases the GIL, and rows are padded to the
longest row of the batch, never to a fixed length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from gatewise.plugins.context import BatchContext, ModelContext, Tensors
from gatewise.protos.errors import InvalidInput
from gatewise.protos.tensors import DATATYPE_TO_NUMPY, TensorSpec
from tokenizers import Encoding, Tokenizer

TOKENIZER_FILE = "tokenizer.json"
DEFAULT_MAX_LENGTH = 128
"""Tokens per row where ``parameters.max_length`` is not set: what the converters export and profile for."""
TEXT_INPUT = TensorSpec(name="text", datatype="BYTES", shape=(-1,))


def decode_texts(inputs: Tensors, name: str = "text") -> list[str]:
    """The BYTES tensor ``name`` as Python strings; InvalidInput names a row that is not UTF-8."""
    if name not in inputs:
        raise InvalidInput(f"input {name!r} is missing")
    texts = []
    for row, value in enumerate(inputs[name].reshape(-1)):
        try:
            texts.append(value.decode("utf-8") if isinstance(value, bytes) else str(value))
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"input {name!r} row {row} is not valid UTF-8 ({exc.reason} at byte {exc.start})"
            ) from exc
    return texts


def load_tokenizer(model: ModelContext) -> Tokenizer:
    """The model's ``assets/tokenizer.json``, truncating at ``parameters.max_length``."""
    path = model.assets / TOKENIZER_FILE
    if not path.is_file():
        raise FileNotFoundError(f"model {model.name!r} has no tokenizer at {path}")
    tokenizer = Tokenizer.from_file(str(path))
    max_length = int(model.parameters.get("max_length", DEFAULT_MAX_LENGTH))
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.no_padding()
    return tokenizer


@dataclass
class TokenBatch:
    """The engine inputs for a batch of texts, the texts and encodings behind them."""

    tensors: Tensors
    texts: list[str]
    encodings: list[Encoding]
    attention_mask: np.ndarray
    truncated: np.ndarray


def pad_id(tokenizer: Tokenizer) -> int:
    """The tokenizer's padding id (``[PAD]`` or ``<pad>``), 0 when it names none."""
    for token in ("[PAD]", "<pad>"):
        token_id = tokenizer.token_to_id(token)
        if token_id is not None:
            return int(token_id)
    return 0


def token_arrays(tokenizer: Tokenizer, encodings: list[Encoding]) -> dict[str, np.ndarray]:
    """int64 ``input_ids``, ``attention_mask`` and ``token_type_ids``, padded to the longest row."""
    longest = max((len(encoding.ids) for encoding in encodings), default=0)
    ids = np.full((len(encodings), longest), pad_id(tokenizer), dtype=np.int64)
    mask = np.zeros_like(ids)
    type_ids = np.zeros_like(ids)
    for row, encoding in enumerate(encodings):
        length = len(encoding.ids)
        ids[row, :length] = encoding.ids
        mask[row, :length] = 1
        type_ids[row, :length] = encoding.type_ids
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": type_ids}


def tokenize(model: ModelContext, tokenizer: Tokenizer, texts: list[str]) -> TokenBatch:
    """Encode ``texts`` in one batch call, padded to the longest row, typed as the engine wants."""
    # NOTE: a long text is cut to what fits in max_length first; tokenising all of a 1 MiB row
    # would take seconds and leave ~100 MB with the tokenizer's allocator, for tokens truncated away.
    visible = [visible_text(tokenizer, text) for text in texts]
    encodings = tokenizer.encode_batch(visible, add_special_tokens=True)
    available = token_arrays(tokenizer, encodings)
    tensors = {}
    for spec in model.engine_inputs:
        if spec.name not in available:
            raise RuntimeError(f"model {model.name!r} engine input {spec.name!r} is not a tokenizer output")
        tensors[spec.name] = available[spec.name].astype(_numpy_dtype(spec.datatype), copy=False)
    rows = zip(visible, texts, encodings, strict=True)
    truncated = np.array([len(seen) < len(text) or bool(encoding.overflowing) for seen, text, encoding in rows], bool)
    return TokenBatch(tensors, texts, encodings, available["attention_mask"], truncated)


def tokenize_batch(model: ModelContext, inputs: Tensors, batch: BatchContext, input_name: str = "text") -> TokenBatch:
    """Decode, tokenise, flag truncated rows (the response says so) and count padding."""
    tokens = tokenize(model, model.state["tokenizer"], decode_texts(inputs, input_name))
    batch.flag_rows("truncated", tokens.truncated)
    lengths = np.array([len(encoding.ids) for encoding in tokens.encodings])
    batch.tokens += int(lengths.max(initial=0)) * len(lengths)
    batch.padded_tokens += int((lengths.max(initial=0) - lengths).sum())
    return tokens


_WORD_REST = re.compile(r"\S*")


def seen_length(tokenizer: Tokenizer, text: str) -> int:
    """How many characters of ``text`` the model sees: all of it, or up to the end of the
    word holding the last token that fits in the tokenizer's ``max_length``.

    Words past that are truncated away and cannot change the output, so explanations weigh
    only ``text[:seen_length]``. Prefixes cut at whitespace are tokenised, doubling from
    about eight characters per token, so a 1 MiB text costs a few kilobytes of tokens.
    """
    truncation = tokenizer.truncation
    if truncation is None:
        return len(text)
    size = 8 * int(truncation["max_length"])
    while size < len(text):
        cut = max(text.rfind(" ", 0, size), text.rfind("\n", 0, size))
        if cut > 0:
            encoding = tokenizer.encode(text[:cut], add_special_tokens=True)
            if encoding.overflowing:
                return _end_of_tokens(text, encoding)
        size *= 2
    encoding = tokenizer.encode(text, add_special_tokens=True)
    return _end_of_tokens(text, encoding) if encoding.overflowing else len(text)


def visible_text(tokenizer: Tokenizer, text: str) -> str:
    """``text``, or for a text longer than eight characters per token of ``max_length``, the part
    of it the model sees (``seen_length``): the tokens are the same, at a fraction of the cost."""
    truncation = tokenizer.truncation
    if truncation is None or len(text) <= 8 * int(truncation["max_length"]):
        return text
    return text[: seen_length(tokenizer, text)]


def _end_of_tokens(text: str, encoding: Encoding) -> int:
    """The end of the word that holds the last (non-special) token of ``encoding``."""
    pairs = zip(encoding.offsets, encoding.special_tokens_mask, strict=True)
    ends = [end for (_, end), special in pairs if not special]
    end = max(ends, default=0)
    found = _WORD_REST.match(text, end)
    return found.end() if found else end


def _numpy_dtype(datatype: str) -> np.dtype:
    """Token ids are INT32 or INT64; an engine input of any other datatype gets int64."""
    return DATATYPE_TO_NUMPY[datatype if datatype in ("INT32", "INT64") else "INT64"]


def warmup_texts() -> Tensors:
    """Two rows of different lengths, so warm-up exercises padding too."""
    return {"text": np.array([b"Warm-up.", b"A second, longer warm-up sentence for padding."], dtype=object)}
