"""The fixed sentences every text conversion step is validated on, or the user's own file.

Shipped with the package so that two conversions of the same checkpoint are judged on the
same rows; a user with domain text passes ``--samples FILE`` (one text per line).
"""

from __future__ import annotations

from pathlib import Path

from converters.errors import ConversionError

SAMPLES_FILE = Path(__file__).parent / "samples" / "sentences.txt"
MIN_SAMPLES = 2


def load_samples(path: Path | None = None) -> list[str]:
    """Non-empty lines of ``path`` (default: the shipped set), ``#`` comment lines skipped."""
    path = Path(path) if path is not None else SAMPLES_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConversionError(f"cannot read samples file {path}: {exc}") from exc
    samples = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if len(samples) < MIN_SAMPLES:
        raise ConversionError(
            f"samples file {path} has {len(samples)} usable line(s); give at least {MIN_SAMPLES}, one text per line"
        )
    return samples
