"""A plugin shipped as its own package, found through the ``gatewise`` entry point, serves."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as triton

from conftest import start_server, stop_server
from models import add_one_graph, write_model

PLUGIN_MODULE = '''
"""Doubles the add-one model's output and reports which plugin did it."""
import numpy as np
from gatewise.plugins import Signature, hookimpl
from gatewise.protos.tensors import TensorSpec


@hookimpl
def gatewise_model_signature(model):
    return Signature(
        inputs=model.engine_inputs,
        outputs=(*model.engine_outputs, TensorSpec(name="by", datatype="BYTES", shape=(-1,))),
    )


@hookimpl
def gatewise_postprocess(model, outputs, batch):
    return {"y": outputs["y"] * 2, "by": np.array([b"doubler"] * batch.size, dtype=object)}
'''


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build and pip-install a throwaway package into its own folder; return that folder."""
    root = tmp_path_factory.mktemp("doubler")
    package = root / "src" / "gatewise_doubler"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN_MODULE)
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["setuptools>=69"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "gatewise-doubler"
            version = "0.0.1"

            [project.entry-points.gatewise]
            doubler = "gatewise_doubler"
            """
        )
    )
    site = root / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(root),
        ],
        check=True,
    )
    return site


def test_entry_point_plugin_is_registered(installed_plugin: Path) -> None:
    """PluginManager() lists the package's plugin under its entry-point name."""
    code = "from gatewise import PluginManager; print(PluginManager().names)"
    env = {**os.environ, "PYTHONPATH": f"{installed_plugin}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    names = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert "'doubler'" in names


def test_entry_point_plugin_serves_its_model(installed_plugin: Path, tmp_path: Path) -> None:
    """A model whose config names the installed plugin serves through it, added output included."""
    repository = tmp_path / "models"
    write_model(repository, "doubled", add_one_graph(), 'name = "doubled"\nplugin = "doubler"\n')
    env = {"PYTHONPATH": f"{installed_plugin}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    server = start_server(repository, tmp_path / "server.log", env=env)
    try:
        client = triton.InferenceServerClient(server.url)
        x = triton.InferInput("x", [1, 4], "FP32")
        x.set_data_from_numpy(np.zeros((1, 4), np.float32))
        result = client.infer("doubled", [x])
        np.testing.assert_array_equal(result.as_numpy("y"), np.full((1, 4), 2.0))
        assert list(result.as_numpy("by")) == [b"doubler"]
    finally:
        stop_server(server)
