"""Torch wrappers that give each task's graph named tensor inputs and one named output.

Feature extraction pools and L2-normalises inside the graph: the engine then returns the
final ``[batch, dim]`` embedding, so ONNX Runtime and TensorRT serve the same graph, the
device-to-host copy is ``batch x dim`` instead of ``batch x seq x dim``, and TensorRT can
fuse the pooling. (The plugin still pools a 3-D output, for ONNX files made elsewhere.)
"""

from __future__ import annotations

from typing import Any


def task_module(model: Any, task: str, input_names: list[str], pooling: str | None = None) -> Any:
    """A module whose ``forward`` takes ``input_names`` as keywords and returns one tensor."""
    import torch

    class TaskGraph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
        ) -> torch.Tensor:
            inputs = {"input_ids": input_ids, "attention_mask": additive_mask(attention_mask)}
            if token_type_ids is not None:
                inputs["token_type_ids"] = token_type_ids
            result = self.model(**inputs)
            if task == "feature-extraction":
                return pool(result.last_hidden_state, attention_mask, pooling or "mean")
            return result.logits

    return TaskGraph().eval()


def additive_mask(attention_mask: Any) -> Any:
    """The classic BERT ``[batch, 1, 1, seq]`` additive mask (0 keep, -10000 drop).

    transformers 5 builds its 4-D mask with index arithmetic that onnxruntime's attention
    fusion does not recognise; this form fuses into one Attention op (faster on CPU:
    docs/benchmarks.md), and -10000 stays finite in FP16 where ``finfo(float32).min`` would become -inf.
    """
    import torch

    # Two Unsqueeze ops, as in classic BERT: the pattern onnxruntime matches.
    return (1.0 - attention_mask.unsqueeze(1).unsqueeze(2).to(torch.float32)) * -10000.0


def pool(hidden: Any, attention_mask: Any, mode: str) -> Any:
    """Pool ``[batch, seq, dim]`` hidden states over real tokens, then L2-normalise each row."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "cls":
        pooled = hidden[:, 0]
    elif mode == "mean":
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    elif mode == "max":
        # -1e4, not finfo.min: the graph may later be converted to FP16.
        pooled = hidden.masked_fill(mask == 0, -1e4).amax(dim=1)
    else:
        raise ValueError(f"pooling {mode!r} is not one of cls, mean, max")
    return torch.nn.functional.normalize(pooled, p=2.0, dim=-1)
