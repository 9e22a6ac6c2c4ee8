"""Triton's perf_analyzer (C++) as a second client, when its binary and libraries are present."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from gatewise_lab.bench.rows import Row
from gatewise_lab.bench.workload import SENTENCES

FIGURES = (r"Throughput: ([\d.]+) infer/sec", r"p50 latency: (\d+) usec", r"p99 latency: (\d+) usec")
"""Where perf_analyzer prints throughput, p50 and p99 in its report."""


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
    """perf_analyzer's own figures; None when it is not installed. A run that fails, times
    out or prints no figures is an error row with NaN figures and the reason in its note."""
    binary = find_perf_analyzer()
    if binary is None:
        return None
    name = f"perf_analyzer, concurrency {concurrency}"
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as data:
        json.dump({"data": [{"text": [sentence]} for sentence in SENTENCES]}, data)
    command = [
        binary, "-m", model_name, "-i", "grpc", "-u", url, "--input-data", data.name, "--shape", "text:1",
        "--concurrency-range", str(concurrency), "--measurement-interval", str(int(seconds * 1000 / 3)),
        "--stability-percentage", "50", "--max-trials", "20",
    ]  # fmt: skip
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=300, env=perf_analyzer_env(), check=False
        )
    except subprocess.TimeoutExpired:
        return failed_row(name, "no result within 300 s")
    finally:
        os.unlink(data.name)
    figures = [re.search(pattern, done.stdout) for pattern in FIGURES]
    if done.returncode != 0 or not all(figures):
        return failed_row(name, (done.stdout + done.stderr)[-200:])
    throughput, p50_us, p99_us = (float(found.group(1)) for found in figures if found)
    return Row(name, throughput, p50_us / 1000, p99_us / 1000)


def failed_row(name: str, reason: str) -> Row:
    """No figures rather than zeros, so no ratio is computed from a run that did not happen."""
    nan = float("nan")
    return Row(name, nan, nan, nan, errors=1, note=reason)


def interleaved_run(
    binary: str, model: str, protocol: str, url: str, concurrency: str, seconds: float, *extra: str, timeout: float
) -> tuple[float, int]:
    """One short fixed-concurrency measurement for benchmarks that interleave rounds:
    (throughput in infer/s, p50 in µs), NaN and -1 where perf_analyzer printed none."""
    command = [
        binary, "-m", model, "-i", protocol, "-u", url, "--concurrency-range", concurrency,
        "--measurement-interval", str(int(seconds * 1000)), "--stability-percentage", "100", "--max-trials", "3",
        *extra,
    ]  # fmt: skip
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=perf_analyzer_env(),
        timeout=timeout,
    )
    throughput = re.search(r"throughput: ([\d.]+) infer/sec", done.stdout)
    p50 = re.search(r"p50 latency: (\d+) usec", done.stdout)
    return (float(throughput.group(1)) if throughput else float("nan"), int(p50.group(1)) if p50 else -1)


def process_cpu_seconds(pid: int, children: bool = False) -> float:
    """User plus system CPU time of a process so far (with ``children``: and of its reaped children), from
    /proc (Linux only)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11 : 15 if children else 13]) / os.sysconf("SC_CLK_TCK")
