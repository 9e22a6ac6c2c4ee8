"""The ``[records]`` table: checked at load (a bad key names itself), merged over the server's defaults; digests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gatewise.gateway.config import parse_config
from gatewise.gateway.records.build import Artifacts, Draft, build
from gatewise.gateway.records.config import RecordsConfig, effective
from gatewise.protos.errors import InvalidConfig

BASE = 'name = "m"\nplugin = "finance"\n'


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ('policy = "sometimes"', "records.policy"),
        ("explanation = 1.5", "records.explanation"),
        ('explanation = "often"', "records.explanation"),
        ('inputs = "raw"', "records.inputs"),
        ("retention_days = 0", "records.retention_days"),
        ("keep_everything = true", "records.keep_everything: unknown field"),
        ('inputs = "digest"', 'inputs = "digest" needs digest_key_file'),
        (
            'inputs = "digest"\ndigest_key_file = "/nonexistent/key"',
            "records.digest_key_file: cannot read",
        ),
    ],
)
def test_a_malformed_records_table_is_refused_naming_the_key(table: str, named: str) -> None:
    with pytest.raises(InvalidConfig, match="config.toml") as refused:
        parse_config(f"{BASE}[records]\n{table}\n", source="m/config.toml")
    assert named in str(refused.value)


def test_a_short_digest_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "key").write_bytes(b"short")
    with pytest.raises(InvalidConfig, match="holds 5 bytes; an HMAC key needs at least 16"):
        parse_config(f'{BASE}[records]\ninputs = "digest"\ndigest_key_file = "{tmp_path / "key"}"\n', source="c")


def test_a_models_table_overrides_only_the_keys_it_sets() -> None:
    defaults = RecordsConfig(policy="require")
    assert effective(None, defaults, listed=False) is None
    assert effective(None, defaults, listed=True) == defaults
    own = RecordsConfig.model_validate({"explanation": 0.01})
    merged = effective(own, defaults, listed=False)
    assert merged is not None and (merged.policy, merged.sample_rate) == ("require", 0.01)
    assert effective(RecordsConfig.model_validate({"enabled": False}), defaults, listed=True) is None


def _draft(config: RecordsConfig, text: str) -> Draft:
    return Draft(
        model="m",
        version="1",
        config=config,
        artifact=None,
        plugin=None,
        plugin_version=None,
        principal="p",
        auth="key",
        request_id="r",
        trace_id=None,
        method="ModelInfer",
        status="OK",
        latency_ms=1.0,
        inputs={"text": np.array([text.encode()], dtype=object)},
        outputs={"label": np.array([b"positive"], dtype=object)},
    )


def test_digest_mode_keeps_a_keyed_digest_that_matches_identical_inputs_only(tmp_path: Path) -> None:
    (tmp_path / "key").write_bytes(b"k" * 32)
    config = RecordsConfig(inputs="digest", digest_key_file=tmp_path / "key")
    first = build(_draft(config, "card 4111 1111 1111 1111"), Artifacts(), b"k" * 32)
    again = build(_draft(config, "card 4111 1111 1111 1111"), Artifacts(), b"k" * 32)
    other = build(_draft(config, "card 4111 1111 1111 1111"), Artifacts(), b"x" * 32)
    assert first["inputs"] is None and len(first["input_digest"]) == 64
    assert first["input_digest"] == again["input_digest"] != other["input_digest"]
    assert "4111" not in str(first)
