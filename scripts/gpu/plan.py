"""The GPU check's preparation: the wheel list, the carry plan, and the dry run that checks both here.

    python scripts/gpu/plan.py dry-run OUT     # resolve the wheels for cp312 manylinux x86_64, plan the carry,
                                               # check every command and module the check uses; OUT/dry-run.json
    python scripts/gpu/plan.py fetch           # download the wheels into .gpu-wheels/ (git-ignored)
    python scripts/gpu/plan.py pack            # tar them and split the tar into .carry/ parts; print the calls

The device tool moves at most 64 MiB per call, working tree included, so the wheels
(about 335 MiB, most of it onnxruntime-gpu) travel as one tar cut into parts, one part per
call, the last call running the check. Resolution asks the package index for metadata
only (``pip install --dry-run --report``), never for the large wheels.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WHEELS_FILE = Path(__file__).with_name("wheels.txt")
WHEEL_DIR = ROOT / ".gpu-wheels"
CARRY_DIR = ROOT / ".carry"
TAR_NAME = "gpu-wheels.tar"
CALL_LIMIT = 64 << 20
MARGIN = 2 << 20
"""Room left in each call for the tar's headers and files the tree gains before the run."""
PLATFORM = ["--python-version", "3.12", "--implementation", "cp", "--only-binary=:all:",
            *[arg for tag in ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                              "manylinux2014_x86_64") for arg in ("--platform", tag)]]  # fmt: skip
LOCAL_COMMANDS = ["bash", "python3", "tar", "cat", "sha256sum", "timeout", "tee", "git"]
DEVICE_COMMANDS = ["nvidia-smi"]
"""Only the GPU machine has these; the dry run lists them, the real run checks them first."""
MODULES = [
    "gatewise.converters",
    "gatewise.gateway.cli",
    "gatewise_lab.bench.run",
    "gatewise.gateway.engines.cuda",
    "gatewise.gateway.engines.onnxruntime",
]
OUT_FILES = [
    "check.log",
    "steps.tsv",
    "nvidia-smi.txt",
    "pytest-gpu.log",
    "ort-cuda.json",
    "bench-converters.log",
    "bench-gateway-w1.log",
    "bench-gateway-w2.log",
]
"""Everything the check writes under OUT: the device tool returns at most 8 files."""


def pins() -> list[tuple[str, int]]:
    """``(name==version, bytes)`` from wheels.txt."""
    rows = []
    for line in WHEELS_FILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            pin, size = line.split()
            rows.append((pin, int(size)))
    return rows


def tree_bytes() -> int:
    """What every call sends besides its carry: tracked and untracked-not-ignored files."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT, check=True, capture_output=True
        )
        .stdout.decode()
        .split("\0")
    )
    return sum((ROOT / name).stat().st_size for name in listed if name and (ROOT / name).is_file())


def carry_plan(total: int, tree: int) -> dict[str, object]:
    """Parts of the wheel tar, each fitting one call beside the tree; the check runs in the call of the last part."""
    part = CALL_LIMIT - tree - MARGIN
    if part < 8 << 20:
        raise SystemExit(f"the working tree ({tree / 2**20:.1f} MiB) leaves no room to carry wheels in a 64 MiB call")
    count = math.ceil(total / part)
    return {
        "tree_mib": round(tree / 2**20, 1),
        "wheels_mib": round(total / 2**20, 1),
        "part_mib": round(part / 2**20, 1),
        "parts": count,
        "calls": count,
        "largest_call_mib": round((tree + min(part, total)) / 2**20, 1),
        "fits": tree + min(part, total) + MARGIN <= CALL_LIMIT,
    }


def resolve(names: list[str]) -> dict[str, str]:
    """Each pin's wheel for cp312 manylinux x86_64, from the index's metadata (no wheel downloads)."""
    import tempfile

    with tempfile.TemporaryDirectory() as target:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--quiet",
                "--no-deps",
                "--ignore-installed",
                "--target",
                target,
                "--report",
                "-",
                *PLATFORM,
                *names,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    if done.returncode != 0:
        raise SystemExit(f"the wheel list does not resolve for cp312 manylinux x86_64:\n{done.stderr.strip()}")
    report = json.loads(done.stdout)
    found = {item["metadata"]["name"].lower().replace("_", "-"): item["download_info"]["url"].rsplit("/", 1)[-1]
             for item in report["install"]}  # fmt: skip
    missing = [name for name in names if name.split("==")[0].lower().replace("_", "-") not in found]
    if missing:
        raise SystemExit(f"not resolved: {missing}")
    return found


def check_commands() -> dict[str, object]:
    missing = [name for name in LOCAL_COMMANDS if shutil.which(name) is None]
    failed = []
    for module in MODULES:
        done = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            failed.append(f"{module}: {done.stderr.strip().splitlines()[-1]}")
    scripts = [ROOT / "scripts" / "gpu" / "ort_cuda.py", ROOT / "benchmarks" / "converters.py"]
    absent = [str(path) for path in scripts if not path.is_file()]
    import os

    wide = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    bench = subprocess.run(
        [sys.executable, "-m", "gatewise_lab", "bench", "--help"], cwd=ROOT, capture_output=True, text=True, env=wide
    )
    options = [flag for flag in ("--workers", "--concurrency", "--seconds", "--rounds", "--no-perf-analyzer")
               if flag not in bench.stdout]  # fmt: skip
    tests = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-m",
            "gpu",
            "tests/gpu",
            "tests/converters/test_tensorrt_build.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    collected = [line for line in tests.stdout.splitlines() if "::" in line]
    problems = [
        *(f"command {name} not found" for name in missing),
        *failed,
        *(f"missing {p}" for p in absent),
        *(f"gatewise bench has no {flag}" for flag in options),
    ]
    if not collected:
        problems.append(f"no GPU tests collected: {tests.stdout[-500:]}")
    return {
        "commands": LOCAL_COMMANDS,
        "device_only": DEVICE_COMMANDS,
        "modules": MODULES,
        "gpu_tests": collected,
        "problems": problems,
    }


def dry_run(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    rows = pins()
    total = sum(size for _, size in rows)
    present = {p.name: p.stat().st_size for p in WHEEL_DIR.glob("*.whl")} if WHEEL_DIR.is_dir() else {}
    report = {
        "wheels": resolve([pin for pin, _ in rows]),
        "carry": carry_plan(total, tree_bytes()),
        "check": check_commands(),
        "out_files": OUT_FILES,
        "wheels_present_here": len(present),
    }
    (out / "dry-run.json").write_text(json.dumps(report, indent=2) + "\n")
    carry = report["carry"]
    print(f"wheels: {len(rows)} resolve for cp312 manylinux x86_64 ({carry['wheels_mib']} MiB)")
    print(
        f"carry: {carry['parts']} calls of at most {carry['largest_call_mib']} MiB (tree {carry['tree_mib']} MiB "
        f"+ a part of {carry['part_mib']} MiB); the last call runs the check"
    )
    problems = report["check"]["problems"] + (
        [] if carry["fits"] and len(OUT_FILES) <= 8 else ["the plan does not fit"]
    )
    for problem in problems:
        print(f"problem: {problem}")
    print(
        "dry run: "
        + ("ok" if not problems else "FAILED")
        + f" (device-only commands, checked there: {', '.join(DEVICE_COMMANDS)})"
    )
    return 1 if problems else 0


def fetch() -> int:
    WHEEL_DIR.mkdir(exist_ok=True)
    names = [pin for pin, _ in pins()]
    return subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(WHEEL_DIR), *PLATFORM, *names]
    ).returncode


def pack() -> int:
    """One tar of the listed wheels (and their sha256), cut into parts that fit a call each."""
    rows = pins()
    wheels = sorted(WHEEL_DIR.glob("*.whl"))
    if len(wheels) != len(rows):
        raise SystemExit(
            f"{WHEEL_DIR} holds {len(wheels)} wheels, wheels.txt lists {len(rows)}: run `plan.py fetch` first"
        )
    CARRY_DIR.mkdir(exist_ok=True)
    for old in CARRY_DIR.glob(f"{TAR_NAME}*"):
        old.unlink()
    sums = "".join(f"{hashlib.sha256(w.read_bytes()).hexdigest()}  {w.name}\n" for w in wheels)
    (WHEEL_DIR / "SHA256SUMS").write_text(sums)
    tar = CARRY_DIR / TAR_NAME
    with tarfile.open(tar, "w") as archive:
        for path in [*wheels, WHEEL_DIR / "SHA256SUMS"]:
            archive.add(path, arcname=path.name)
    plan = carry_plan(tar.stat().st_size, tree_bytes())
    part = int(plan["part_mib"] * 2**20)
    with tar.open("rb") as source:
        index = 0
        while chunk := source.read(part):
            (CARRY_DIR / f"{TAR_NAME}.part{index:02d}").write_bytes(chunk)
            index += 1
    tar.unlink()
    parts = sorted(CARRY_DIR.glob(f"{TAR_NAME}.part*"))
    print(
        f"{len(parts)} parts; make these device calls one right after another (parts stay while the machine is warm):"
    )
    for path in parts[:-1]:
        print(f'  run carry=[".carry/{path.name}"] command="ls -la .carry"')
    print(f'  run carry=[".carry/{parts[-1].name}"] timeout_s=600 command="bash scripts/gpu-check.sh $OUT"')
    return 0


if __name__ == "__main__":
    verb = sys.argv[1] if len(sys.argv) > 1 else ""
    if verb == "dry-run" and len(sys.argv) == 3:
        raise SystemExit(dry_run(Path(sys.argv[2])))
    if verb in ("fetch", "pack") and len(sys.argv) == 2:
        raise SystemExit(fetch() if verb == "fetch" else pack())
    raise SystemExit(__doc__)
