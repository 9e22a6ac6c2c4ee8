"""Generators for the demo's training data: seeded templates plus hand-written sentences.

Each domain module has ``generate(seed) -> dict[split, list[record]]``. Held-out splits use
templates and vocabulary that never appear in training, so the reported held-out scores
measure generalisation, not recall of a template. ``python -m gatewise_lab.demo.corpus`` writes
the ``.jsonl`` files shipped in ``gatewise_lab/demo/data/``.
"""

from gatewise_lab.demo.corpus.io import DATA_DIR, read_jsonl, write_jsonl

__all__ = ["DATA_DIR", "read_jsonl", "write_jsonl"]
