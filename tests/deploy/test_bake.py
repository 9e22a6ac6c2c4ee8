"""deploy/container/bake.Containerfile: a derived image with a model repository and a
third-party plugin package baked in serves them with no volume mounted."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
import tritonclient.grpc as triton

from conftest import ROOT
from deploy.containers import Container, Engine
from models import add_one_graph, write_model

BAKED = "localhost/gatewise-baked:deploy-test"
SHOUTER_CONFIG = 'name = "shouter"\nplugin = "shout"\n\n[batching]\nmax_batch_size = 8\n'


def words_plus_one_graph() -> onnx.ModelProto:
    """y = x + 1 on FP32 [batch, 1]: the engine the example `shout` plugin feeds word counts."""
    return add_one_graph(width=1, name="words-plus-one")


def bake_context(folder: Path) -> Path:
    """models/ (add-one, shouter) and plugins/ (the example plugin as a wheel), as the
    Containerfile's header tells users to lay them out."""
    models, plugins = folder / "models", folder / "plugins"
    write_model(models, "add-one", add_one_graph(), 'name = "add-one"\n')
    write_model(models, "shouter", words_plus_one_graph(), SHOUTER_CONFIG)
    plugins.mkdir()
    wheel = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(plugins), str(ROOT / "examples" / "gatewise-shout")],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert wheel.returncode == 0, wheel.stderr
    return folder


@pytest.fixture(scope="module")
def baked(engine: Engine, image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    context = bake_context(tmp_path_factory.mktemp("bake"))
    seconds = engine.build(
        BAKED, context, ROOT / "deploy" / "container" / "bake.Containerfile", f"GATEWISE_IMAGE={image}"
    )
    print(f"\nbaked {BAKED} in {seconds:.1f} s")
    with engine.serving("gatewise-baked-test", BAKED) as container:
        yield container


def test_baked_image_serves_its_models_through_the_installed_plugin(baked: Container) -> None:
    client = triton.InferenceServerClient(baked.url)
    try:
        text = triton.InferInput("text", [2], "BYTES")
        text.set_data_from_numpy(np.array([b"one two three", b"hi"], dtype=object))
        result = client.infer("shouter", [text])
        index = {model["name"] for model in client.get_model_repository_index(as_json=True)["models"]}
    finally:
        client.close()
    assert result.as_numpy("shouted").tolist() == [b"ONE TWO THREE!", b"HI!"]
    assert result.as_numpy("words_plus_one").ravel().tolist() == [4.0, 2.0]
    assert index == {"add-one", "shouter"}


def test_bake_fails_when_a_model_names_a_plugin_that_is_not_installed(
    engine: Engine, image: str, tmp_path: Path
) -> None:
    """A missing plugin stops the build, not a rollout."""
    write_model(tmp_path / "models", "shouter", words_plus_one_graph(), SHOUTER_CONFIG)
    (tmp_path / "plugins").mkdir()
    containerfile = ROOT / "deploy" / "container" / "bake.Containerfile"
    with pytest.raises(AssertionError, match="plugins named in config.toml but not installed: \\['shout'\\]"):
        engine.build("localhost/gatewise-baked:deploy-test-bad", tmp_path, containerfile, f"GATEWISE_IMAGE={image}")
