"""The texts every text conversion step is validated on: the shipped generic set, or the user's own file.

Shipped with the package so that two conversions of the same checkpoint are judged on the
same rows; a user with domain text passes ``--samples FILE``. Every accepted format reduces
to the same thing, a list of texts in file order, so the same texts give the same verdict
whatever file holds them:

- ``.txt``: one text per line; blank lines and lines starting with ``#`` are skipped.
- ``.jsonl``: one JSON object per line with a string field ``"text"``; other fields (a
  ``"label"``, an id) are ignored, blank lines skipped.

Texts are stripped of surrounding whitespace in both formats, kept in order and never
deduplicated. Pre-tokenised tensors (``.npz``) are refused: validation must tokenise with the
entry's own tokenizer, exactly as serving will.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from gatewise.converters.errors import ConversionError, SampleError
from gatewise.converters.validate import TOLERANCES

SAMPLES_FILE = Path(__file__).parent / "samples" / "sentences.txt"
TEXT_FIELD = "text"
FORMATS = (".txt", ".jsonl")
HOW_TO = f"pass --samples FILE as .txt (one text per line) or .jsonl (one object per line with a {TEXT_FIELD!r} string)"
MIN_SAMPLES = math.ceil(round(1 / (1 - TOLERANCES["int8"].min_clear_agreement), 6))
"""Fewest rows a samples file may hold: 50, where one flipped row costs 2%, the INT8 gate's slack.

With fewer rows a single flip fails the strictest reduced-precision gate by itself, so the
verdict would say more about one sentence than about the model.
"""


@dataclass(frozen=True)
class Samples:
    """Texts to validate on, and where they came from (for the report and for refusals)."""

    texts: list[str]
    source: str
    generic: bool = False
    """True for the shipped sentences: a refusal then points to ``--samples``."""


def read_samples(path: Path | None = None, *, flag: str = "--samples") -> Samples:
    """The texts of ``path`` (``.txt`` or ``.jsonl``; default: the shipped generic set), in file order.

    Raises SampleError, naming the file and what to do, for an unreadable file, a format
    not accepted, a ``.jsonl`` line without a ``"text"`` string, or fewer than MIN_SAMPLES texts.
    ``flag`` is the option the file came from (``--calibration`` reads the same formats), for the advice.
    """
    if path is None:
        texts = _read_txt(SAMPLES_FILE)
        return Samples(texts, f"the {len(texts)} generic shipped sentences ({SAMPLES_FILE.name})", generic=True)
    path = Path(path)
    try:
        texts = _read_file(path)
    except SampleError as exc:
        if flag == "--samples":
            raise
        raise SampleError(path, exc.problem.replace(HOW_TO, HOW_TO.replace("--samples", flag))) from exc.__cause__
    return Samples(texts, f"{len(texts)} texts from {path}")


def _read_file(path: Path) -> list[str]:
    """The texts of a ``.txt`` or ``.jsonl`` file, at least MIN_SAMPLES of them."""
    suffix = path.suffix.lower()
    if suffix == ".npz":
        raise SampleError(
            path,
            "pre-tokenised tensors are not accepted for text models: validation tokenises with the entry's "
            f"own tokenizer, as serving does; {HOW_TO}",
        )
    if suffix not in FORMATS:
        raise SampleError(path, f"format {suffix or '(no suffix)'!r} is not accepted; {HOW_TO}")
    texts = _read_txt(path) if suffix == ".txt" else _read_jsonl(path)
    if len(texts) < MIN_SAMPLES:
        raise SampleError(
            path,
            f"{len(texts)} usable text(s); give at least {MIN_SAMPLES}: with fewer, one flipped row moves "
            "agreement past the reduced-precision tolerance by itself",
        )
    return texts


def load_samples(path: Path | None = None) -> list[str]:
    """Just the texts of :func:`read_samples`."""
    return read_samples(path).texts


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise SampleError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start}); {HOW_TO}") from exc
    except OSError as exc:
        raise SampleError(path, f"cannot be read ({exc.strerror or exc}); {HOW_TO}") from exc


def _read_txt(path: Path) -> list[str]:
    return [line.strip() for line in _lines(path) if line.strip() and not line.lstrip().startswith("#")]


def _read_jsonl(path: Path) -> list[str]:
    texts = []
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SampleError(path, f"line {number} is not JSON ({exc.msg}); {HOW_TO}") from exc
        if not isinstance(record, dict):
            raise SampleError(path, f"line {number} is a JSON {type(record).__name__}, not an object; {HOW_TO}")
        if TEXT_FIELD not in record:
            raise SampleError(
                path,
                f"line {number} has no {TEXT_FIELD!r} field (it has {', '.join(map(repr, record)) or 'none'}); "
                f"put each sample's text under {TEXT_FIELD!r}",
            )
        text = record[TEXT_FIELD]
        if not isinstance(text, str) or not text.strip():
            raise SampleError(
                path, f"line {number}: {TEXT_FIELD!r} must be a non-empty string, got {type(text).__name__} {text!r}"
            )
        texts.append(text.strip())
    return texts


def check_texts(texts: list[str]) -> None:
    """Refuse a Python-API sample list that cannot drive validation (fewer than 2 non-empty strings)."""
    if len(texts) < 2 or not all(isinstance(text, str) and text.strip() for text in texts):
        raise ConversionError("samples must hold at least 2 non-empty strings to validate on")
