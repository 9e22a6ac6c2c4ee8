"""config.toml parsing: valid files load, every mistake names its field."""

from __future__ import annotations

from pathlib import Path

import pytest
from gatewise.gateway.config import load_config, parse_config
from gatewise.protos.errors import InvalidConfig

VALID = """
name = "m"
plugin = "text-classification"
labels = ["a", "b"]
instances = 2
[batching]
max_batch_size = 16
preferred_batch_sizes = [4, 8]
[parameters]
max_length = 64
"""


def test_valid_config_is_parsed_with_defaults_filled() -> None:
    """Given fields are kept and the rest take documented defaults."""
    config = parse_config(VALID, source="m/config.toml")
    assert config.batching.max_batch_size == 16
    assert config.batching.max_queue_delay_ms == 0
    assert config.instances == 2
    assert config.onnxruntime.providers == ("tensorrt", "cuda", "cpu")
    assert config.parameters == {"max_length": 64}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "m"\nbatching = { max_batch_sise = 4 }', r"batching\.max_batch_sise: unknown field"),
        (
            'name = "m"\nbackend = "tensorflow"',
            r"backend: no engine named 'tensorflow'; registered: ",
        ),
        ('name = "m"\ninstances = 0', r"instances: Input should be greater than or equal to 1"),
        ('name = "m"\n[batching]\nmax_batch_size = 4\npreferred_batch_sizes = [8]', r"preferred_batch_sizes \[8\]"),
        ('name = "m"\n[[inputs]]\nname = "x"\ndatatype = "FP32"\nshape = [0, 2]', r"inputs\.0\.shape"),
        ('name = "m"\n[[inputs]]\nname = "x"\ndatatype = "FLOAT"\nshape = [2]', r"inputs\.0\.datatype"),
        ('name = "m" = 3', r"not valid TOML"),
    ],
)
def test_config_errors_name_the_field(text: str, message: str) -> None:
    """Each bad config raises InvalidConfig with the file and the field in its message."""
    with pytest.raises(InvalidConfig, match=message) as info:
        parse_config(text, source="m/config.toml")
    assert str(info.value).startswith("m/config.toml: ")


def test_name_defaults_to_folder_and_must_match_it(tmp_path: Path) -> None:
    """A config without a name takes its folder's; a different name is refused."""
    folder = tmp_path / "finance-sentiment"
    folder.mkdir()
    (folder / "config.toml").write_text("plugin = 'x'\n")
    assert load_config(folder).name == "finance-sentiment"
    (folder / "config.toml").write_text("name = 'other'\n")
    with pytest.raises(InvalidConfig, match="must match its folder"):
        load_config(folder)


def test_missing_config_file_is_reported(tmp_path: Path) -> None:
    """A model folder without config.toml fails with 'cannot read'."""
    (tmp_path / "m").mkdir()
    with pytest.raises(InvalidConfig, match="config.toml: cannot read"):
        load_config(tmp_path / "m")
