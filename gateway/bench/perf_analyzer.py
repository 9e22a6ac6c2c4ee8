"""Triton's perf_analyzer (C++) as a second client, when its binary and libraries are present."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from gateway.bench.inprocess import SENTENCES
from gateway.bench.rows import Row


def perf_analyzer_env() -> dict[str, str]:
    """perf_analyzer links libcudart.so.12 even for CPU runs: point it at the pip wheel's copy."""
    env = dict(os.environ)
    try:
        import nvidia.cuda_runtime
    except ImportError:
        return env
    lib = Path(next(iter(nvidia.cuda_runtime.__path__))) / "lib"
    env["LD_LIBRARY_PATH"] = f"{lib}:{env.get('LD_LIBRARY_PATH', '')}"
    return env


def find_perf_analyzer() -> str | None:
    """The binary tritonclient's wheel put beside this interpreter, else one on PATH.

    Looking beside ``sys.executable`` first finds it when the virtual environment is used
    without being activated (``.venv/bin/python -m ...``), as the scripts and CI do.
    """
    beside = Path(sys.executable).parent / "perf_analyzer"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("perf_analyzer")


def perf_analyzer_row(url: str, model_name: str, concurrency: int, seconds: float) -> Row | None:
    """perf_analyzer's own figures; None when it is not installed, an error row when it fails."""
    binary = find_perf_analyzer()
    if binary is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as data:
        data.write('{"data": [' + ",".join(f'{{"text": ["{s}"]}}' for s in SENTENCES) + "]}")
    command = [
        binary, "-m", model_name, "-i", "grpc", "-u", url, "--input-data", data.name, "--shape", "text:1",
        "--concurrency-range", str(concurrency), "--measurement-interval", str(int(seconds * 1000 / 3)),
        "--stability-percentage", "50", "--max-trials", "20",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=perf_analyzer_env(), check=False)
    os.unlink(data.name)
    name = f"perf_analyzer, concurrency {concurrency}"
    if done.returncode != 0:
        return Row(name, 0, 0, 0, 1, (done.stdout + done.stderr)[-200:])
    throughput = float(re.search(r"Throughput: ([\d.]+) infer/sec", done.stdout).group(1))
    p50 = float(re.search(r"p50 latency: (\d+) usec", done.stdout).group(1)) / 1000
    p99 = float(re.search(r"p99 latency: (\d+) usec", done.stdout).group(1)) / 1000
    return Row(name, throughput, p50, p99)
