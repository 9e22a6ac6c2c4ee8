"""The console works from an installed wheel: its templates, scripts, stylesheet and vendored uPlot ship inside it."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = ROOT / "gateway" / "console"


def test_the_wheel_carries_every_console_template_and_asset(tmp_path: Path) -> None:
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("gatewise-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    on_disk = {
        "gatewise/gateway/console/" + str(path.relative_to(CONSOLE))
        for folder in ("templates", "static")
        for path in (CONSOLE / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert on_disk and on_disk <= names, sorted(on_disk - names)


def test_the_vendored_chart_library_matches_its_manifest() -> None:
    """uPlot as fetched from the npm registry (npm pack uplot@VERSION), its licence beside it."""
    folder = CONSOLE / "static" / "vendor" / "uplot"
    manifest = json.loads((folder / "manifest.json").read_text())
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    assert "MIT License" in (folder / "LICENSE").read_text()
    assert f"uplot-{manifest['version']}.tgz" in manifest["source"]
