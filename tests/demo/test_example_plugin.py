"""The example third-party plugin installs as its own package and registers through the
``gatewise`` entry point, then serves through the harness like any built-in."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "gatewise-shout"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install --target`` into a temporary folder (the venv stays untouched)."""
    target = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(EXAMPLE)],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return target


def _pytest(site: Path, target: Path, cwd: Path) -> subprocess.CompletedProcess:
    """pytest on ``target`` in a fresh interpreter that sees only ``site`` (the installed example) and the repo."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(target)],
        capture_output=True, text=True, timeout=120, env={"PYTHONPATH": f"{site}:{ROOT}", "PATH": "/usr/bin:/bin"},
        cwd=cwd,
    )  # fmt: skip


def _run(site: Path, code: str) -> subprocess.CompletedProcess:
    """Python in a fresh process with ``site`` on the path, as an installed package would be."""
    env = {"PYTHONPATH": f"{site}:{ROOT}", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, cwd=site)


def test_entry_point_registers_the_plugin(installed: Path) -> None:
    result = _run(installed, "from gatewise.plugins.manager import PluginManager; print(PluginManager().names)")
    assert result.returncode == 0, result.stderr
    assert "'shout'" in result.stdout


def test_not_registered_without_the_package(tmp_path: Path) -> None:
    """The name comes from the installed package, not from the repository."""
    result = _run(tmp_path, "from gatewise.plugins.manager import PluginManager; print(PluginManager().names)")
    assert result.returncode == 0, result.stderr
    assert "'shout'" not in result.stdout


def test_installed_plugin_runs_its_hooks_by_name(installed: Path) -> None:
    code = """
import tempfile, numpy as np
from pathlib import Path
from gatewise.plugins.testing import PluginHarness, model_context, texts
model = model_context(Path(tempfile.mkdtemp()), "shouter", plugin="shout",
                      engine_inputs=[("x", "FP32", (-1, 1))], engine_outputs=[("y", "FP32", (-1, 1))])
harness = PluginHarness("shout", model, engine=lambda inputs: {"y": inputs["x"] + 1})
out = harness.infer({"text": texts(["one two three"])})
print(out["shouted"][0].decode(), float(out["words_plus_one"][0, 0]))
"""
    result = _run(installed, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ONE", "TWO", "THREE!", "4.0"]


def test_example_own_tests_pass_with_the_harness(installed: Path) -> None:
    result = _pytest(installed, EXAMPLE / "tests", cwd=installed)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_explanations_doc_test_passes_against_the_installed_plugin(installed: Path, tmp_path: Path) -> None:
    """docs/explanations.md's test of the example's explainer runs as written (through PluginHarness.explain)."""
    doc = (ROOT / "docs" / "explanations.md").read_text(encoding="utf-8")
    blocks = [body for body in re.findall(r"^```python\n(.*?)^```", doc, flags=re.M | re.S) if "def test_" in body]
    assert len(blocks) == 1
    (tmp_path / "test_doc_example.py").write_text(blocks[0], encoding="utf-8")
    result = _pytest(installed, tmp_path / "test_doc_example.py", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
