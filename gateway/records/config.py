"""The ``[records]`` table of a model's ``config.toml``, and the server-wide defaults it overrides.

Validated like the rest of ``config.toml`` (unknown keys forbidden), so a malformed table
refuses that model at load with a message naming the key (``records.policy: ...``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from gatewise.gateway.records.chain import read_key
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Policy = Literal["drop", "require"]
InputsKept = Literal["redacted", "digest", "none"]


class RecordsConfig(BaseModel):
    """What is kept of each decision of one model, and what happens when it cannot be kept."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    """Keep a record of every answered and refused request of this model."""
    outputs: bool = True
    """Keep the outputs the model computed (labels, scores, decisions, entities ...)."""
    explanation: Literal["never", "always"] | float = "never"
    """``never``; ``always`` (every decision gets one, computed in the background when the
    request did not ask for it); or a fraction in (0, 1]: that share of decisions is explained
    in the background. An explanation the client asked for is kept unless ``never``."""
    inputs: InputsKept = "redacted"
    """``redacted``: the inputs as the model saw them, identifiers replaced by their tags
    (``[CARD]``); ``digest``: only an HMAC-SHA256 of the raw inputs under ``digest_key_file``
    (identical inputs match, nothing of them is kept); ``none``: nothing of the inputs."""
    digest_key_file: Path | None = None
    """A file holding the HMAC key for ``inputs = "digest"`` (32 bytes or more of secret)."""
    retention_days: int | None = Field(default=None, ge=1)
    """How long records are kept; ``gatewise records purge`` removes older ones. None: kept until purged."""
    policy: Policy = "drop"
    """``drop``: a record that cannot be kept is counted and logged, serving goes on. ``require``:
    the request is answered UNAVAILABLE instead; nothing is returned without its record."""

    @field_validator("explanation")
    @classmethod
    def _fraction(cls, value: Any) -> Any:
        if isinstance(value, float | int) and not isinstance(value, bool) and not 0 < value <= 1:
            raise ValueError(f"must be 'never', 'always' or a fraction in (0, 1], got {value}")
        return value

    @model_validator(mode="after")
    def _digest_key(self) -> RecordsConfig:
        if self.inputs == "digest" and self.digest_key_file is None:
            raise ValueError('inputs = "digest" needs digest_key_file (the HMAC key)')
        return self

    @field_validator("digest_key_file")
    @classmethod
    def _readable_key(cls, path: Path | None) -> Path | None:
        if path is not None:
            read_key(path)
        return path

    @property
    def sample_rate(self) -> float:
        """The share of decisions explained in the background: 0 for never, 1 for always."""
        if self.explanation == "never":
            return 0.0
        if self.explanation == "always":
            return 1.0
        return float(self.explanation)


def effective(model_table: RecordsConfig | None, defaults: RecordsConfig, listed: bool) -> RecordsConfig | None:
    """A model's records config: its own table's keys over the server's defaults; None: not recorded.

    A model without a table is recorded only when the server lists it (``--records-models``).
    """
    if model_table is None:
        return defaults if listed and defaults.enabled else None
    merged = defaults.model_dump()
    merged.update(model_table.model_dump(exclude_unset=True))
    config = RecordsConfig.model_validate(merged)
    return config if config.enabled else None
