"""The serving wheel holds no demo or bench; the lab's wheel (tools/gatewise-lab) holds both and the data."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "tools" / "gatewise-lab"


def _checkout(destination: Path) -> Path:
    """The files git would put in a fresh clone (tracked or new, never ignored), copied: pip builds in-tree."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the files of a fresh clone are unknown")
    listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def _wheel(project: Path, out: Path) -> list[str]:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(project)], check=True, capture_output=True)  # fmt: skip
    (wheel,) = out.glob("*.whl")
    return zipfile.ZipFile(wheel).namelist()


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _checkout(tmp_path_factory.mktemp("clone"))


def test_serving_wheel_has_no_demo_bench_or_data(checkout: Path, tmp_path: Path) -> None:
    """``pip wheel .`` gives the gateway, plugins, converters and protos under ``gatewise/``, and nothing of the lab."""
    names = _wheel(checkout, tmp_path)
    for package in ("gateway", "plugins", "converters", "protos"):
        assert f"gatewise/{package}/__init__.py" in names
    assert "gatewise/converters/samples/sentences.txt" in names
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"gatewise"}, f"the wheel installs more than the gatewise namespace: {sorted(top_level)}"
    lab = [name for name in names if name.endswith(".jsonl") or name.startswith("gatewise_lab/")
           or "/demo/" in name or "/bench/" in name]  # fmt: skip
    assert lab == []


def test_lab_wheel_carries_demo_bench_and_data(checkout: Path, tmp_path: Path) -> None:
    """The lab's own wheel has both subpackages and every shipped ``.jsonl`` file."""
    names = _wheel(checkout / "tools" / "gatewise-lab", tmp_path)
    shipped = sorted(path.name for path in (LAB / "gatewise_lab" / "demo" / "data").glob("*.jsonl"))
    assert shipped and sorted(Path(name).name for name in names if name.endswith(".jsonl")) == shipped
    assert "gatewise_lab/demo/runner.py" in names and "gatewise_lab/bench/run.py" in names


@pytest.mark.parametrize(
    "arguments",
    [[], ["--repository", "demo-models"], ["--help"], ["demo-models", "-x", "--no-such-flag=3"]],
    ids=["bare", "options", "help", "anything"],
)
@pytest.mark.parametrize("command", ["demo", "bench"])
def test_command_without_the_lab_says_how_to_install_it(
    command: str, arguments: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the lab (no ``gatewise.commands`` entry point for it), ``gatewise demo``/``bench``
    exit 1 with one ``error:`` line naming the install, whatever arguments follow (never a traceback)."""
    from gatewise.gateway import cli

    installed = cli._command_entry_points()
    assert command in installed, "the lab's entry points are installed here (scripts/bootstrap.sh)"
    monkeypatch.setattr(cli, "_command_entry_points", lambda: {k: v for k, v in installed.items() if k != command})
    result = CliRunner().invoke(cli.app, [command, *arguments])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        (
            f"error: gatewise {command} needs the gatewise-lab package: pip install -e tools/gatewise-lab"
            " (from a clone of the repository; scripts/bootstrap.sh installs it)"
        )
    ]


@pytest.mark.parametrize("command", ["convert", "demo", "bench"])
def test_commands_come_from_their_entry_points(command: str) -> None:
    """``gatewise --help`` lists them and each one's own help works, through the entry points."""
    from gatewise.gateway import cli

    assert command in CliRunner().invoke(cli.app, ["--help"]).output
    result = CliRunner().invoke(cli.app, [command, "--help"])
    assert result.exit_code == 0 and "not installed" not in result.output, result.output
