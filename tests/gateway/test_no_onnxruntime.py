"""Neither ONNX Runtime package installed (``pip install gatewise`` without ``[cpu]`` or ``[gpu]``):
the server, the converters and the plugin harness each say which extra to install, in one line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from gatewise.protos.errors import ONNXRUNTIME_MISSING

from conftest import start_server
from models import build_repository

# A package that fails to import as an absent one does: first on PYTHONPATH, it hides the installed onnxruntime.
ABSENT = 'raise ModuleNotFoundError("No module named \'onnxruntime\'", name="onnxruntime")\n'


@pytest.fixture
def no_onnxruntime_path(tmp_path: Path) -> Path:
    shadow = tmp_path / "shadow"
    (shadow / "onnxruntime").mkdir(parents=True)
    (shadow / "onnxruntime" / "__init__.py").write_text(ABSENT)
    return shadow


def test_the_server_starts_and_reports_each_onnx_model_unavailable_naming_both_extras(
    tmp_path: Path, no_onnxruntime_path: Path
) -> None:
    import tritonclient.grpc as triton

    repository = build_repository(tmp_path / "models")
    server = start_server(repository, tmp_path / "server.log", env={"PYTHONPATH": str(no_onnxruntime_path)})
    try:
        client = triton.InferenceServerClient(server.url)
        states = {model.name: model for model in client.get_model_repository_index().models}
        client.close()
    finally:
        server.stop()
    assert states["tiny-sentiment"].state == "UNAVAILABLE"
    assert states["tiny-sentiment"].reason == ONNXRUNTIME_MISSING
    assert "pip install 'gatewise[cpu]'" in ONNXRUNTIME_MISSING and "'gatewise[gpu]'" in ONNXRUNTIME_MISSING
    assert "Traceback" not in server.log()


def test_convert_stops_before_writing_and_names_both_extras(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gatewise.converters.cli import convert_app
    from typer.testing import CliRunner

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # ``import onnxruntime`` now fails
    args = ["onnx", str(tmp_path), "--task", "text-classification", "--repository", str(tmp_path / "repo")]
    result = CliRunner().invoke(convert_app, [*args, "--name", "m", "--quiet"])
    assert result.exit_code == 1
    assert "error:" in result.stderr and "'gatewise[cpu]'" in result.stderr
    assert not (tmp_path / "repo").exists()


def test_the_plugin_harness_refuses_an_onnx_engine_naming_both_extras(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gatewise.testing import onnx_engine

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'gatewise\[cpu\]'"):
        onnx_engine(tmp_path / "model.onnx")
