"""A virtual environment that holds KServe's SDK, beside (never inside) the project's own.

kserve 0.21 requires ``protobuf<7`` while Gatewise requires ``protobuf>=7.35``, and no
kserve release accepts protobuf 7, so the tests that use its client or its resource models
run scripts with this environment's interpreter. The environment is kept between runs and
rebuilt when kserve-requirements.txt changes.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "kserve-requirements.txt"
VENV = HERE / ".kserve-venv"


def kserve_python() -> Path:
    """The interpreter of the kserve environment, made (about a minute) if missing or stale."""
    python = VENV / "bin" / "python"
    stamp = VENV / "requirements.sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True, timeout=120)
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"installing {REQUIREMENTS.name} failed:\n{result.stdout}\n{result.stderr}")
    stamp.write_text(wanted)
    return python


def run_script(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python tests/deploy/SCRIPT ARGS`` with the kserve environment's interpreter."""
    return subprocess.run(
        [str(kserve_python()), str(HERE / script), *args], capture_output=True, text=True, timeout=timeout
    )
