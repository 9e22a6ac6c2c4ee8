"""Adding an engine is one registration: a package that lists a ``Backend`` under the entry-point group
``gatewise.engines`` is served by a real server, with no change to config.py, the engines package or
the servicer; a broken or mis-named entry point is left out with an error in the log."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pytest
from gatewise.gateway.engines import registry
from gatewise.gateway.engines.base import Backend, Engine

from conftest import start_server

ECHO_ENGINE = '''
import numpy as np
from gatewise.gateway.engines.base import Backend, Engine, open_instances
from gatewise.protos.tensors import TensorSpec


class Scale(Engine):
    """Multiplies its input by config.toml's [engine] scale; counts its warm-ups."""

    inputs = (TensorSpec(name="x", datatype="FP32", shape=(-1, 2)),)
    outputs = (TensorSpec(name="y", datatype="FP32", shape=(-1, 2)),)

    def __init__(self, path, scale):
        self.scale = float(path.read_text()) * scale
        self.warmed = 0

    def warm_up(self):
        self.warmed += 1

    def describe(self):
        return {"engine": "scale", "warmed_up": str(self.warmed)}

    def infer(self, inputs):
        return {"y": inputs["x"] * self.scale}


def load(config, version_dir, count):
    scale = float(config.engine.get("scale", 1.0))
    return open_instances(lambda: Scale(version_dir / "model.scale", scale), count)


BACKEND = Backend("scale", "model.scale", "scale_platform", load)
NOT_A_BACKEND = object()
'''


def install(site: Path, entry_points: str) -> None:
    """A distribution on ``site`` (what pip would leave): the module and its dist-info with entry points."""
    site.mkdir(parents=True)
    (site / "scale_engine.py").write_text(ECHO_ENGINE)
    info = site / "scale_engine-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: scale-engine\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


def test_an_engine_from_an_entry_point_serves_with_its_own_settings(tmp_path: Path) -> None:
    """The registered file picks the backend, config.toml's [engine] reaches it, ModelConfig reports its
    platform and facts (its warm-up ran), and a broken entry point beside it only logs an error."""
    import tritonclient.grpc as triton

    site = tmp_path / "site"
    install(site, """
        [gatewise.engines]
        scale = scale_engine:BACKEND
        broken = scale_engine:NOT_A_BACKEND
    """)  # fmt: skip
    model = tmp_path / "models" / "doubler"
    (model / "1").mkdir(parents=True)
    (model / "1" / "model.scale").write_text("2")
    (model / "config.toml").write_text('name = "doubler"\nbackend = "scale"\n\n[engine]\nscale = 1.5\n')
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    server = start_server(tmp_path / "models", tmp_path / "server.log", env={"PYTHONPATH": path})
    try:
        client = triton.InferenceServerClient(server.url)
        x = triton.InferInput("x", [2, 2], "FP32")
        x.set_data_from_numpy(np.array([[1, 2], [3, 4]], dtype=np.float32))
        result = client.infer("doubler", [x])
        np.testing.assert_array_equal(result.as_numpy("y"), np.array([[3, 6], [9, 12]], dtype=np.float32))
        config = client.get_model_config("doubler").config
        assert (config.platform, config.backend) == ("scale_platform", "scale")
        assert config.parameters["warmed_up"].string_value == "1"
        client.close()
    finally:
        server.stop()
    assert "engine entry point 'broken' (scale_engine:NOT_A_BACKEND) must name a gatewise Backend" in server.log()


def test_register_refuses_a_second_engine_of_the_same_name() -> None:
    with pytest.raises(ValueError, match="an engine named 'onnxruntime' is registered already"):
        registry.register(Backend("onnxruntime", "model.other", "other", lambda config, folder, count: []))


def test_an_engine_needs_only_infer_and_its_tensors() -> None:
    """The base class gives the rest (warm-up, describe, close) defaults; infer is the one to write."""
    engine = Engine()
    engine.warm_up()
    engine.close()
    assert engine.describe() == {}
    with pytest.raises(NotImplementedError, match="Engine must implement infer"):
        engine.infer({})
