"""What calling the cross-cutting hooks costs: ``redact_log`` (every ``gatewise.*`` log record, in the
logging thread) and ``request_finished`` (every request, in the audit thread), per call.

    .venv/bin/python benchmarks/hook_calls.py                 # this tree
    .venv/bin/python benchmarks/hook_calls.py --compare main  # beside plugins/manager.py of another revision

The built-in plugins only (no entry points); ``--calls`` calls per round, rounds interleaved
between the managers, the median round reported in microseconds per call.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gatewise.plugins.manager import PluginManager

EVENT = {
    "model_name": "m", "model_version": "1", "request_id": "r", "principal": "anonymous", "principal_via": "none",
    "status": "OK",
    "rows": 1, "duration_s": 0.01, "method": "ModelInfer",
}  # fmt: skip
MESSAGE = "card 4111 1111 1111 1111 refused for jane@example.com"


def manager_at(revision: str) -> type:
    """``PluginManager`` from ``plugins/manager.py`` as it was at ``revision``."""
    source = subprocess.run(
        ["git", "show", f"{revision}:plugins/manager.py"], capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "manager_at_revision.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("manager_at_revision", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PluginManager


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", help="a git revision whose plugins/manager.py to time beside this tree's")
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # the audit plugin logs each event: time the call, not the handler
    managers = {"this tree": PluginManager(entry_points=False)}
    if args.compare:
        managers[args.compare] = manager_at(args.compare)(entry_points=False)
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in managers}
    for _ in range(args.rounds):
        for name, manager in managers.items():
            started = time.perf_counter()
            for _ in range(args.calls):
                manager.redact_log(MESSAGE, "gatewise.bench", logging.INFO)
            middle = time.perf_counter()
            for _ in range(args.calls):
                manager.request_finished(**EVENT)
            ended = time.perf_counter()
            figures[name].append(((middle - started) / args.calls * 1e6, (ended - middle) / args.calls * 1e6))
    for name, rounds in figures.items():
        redact = statistics.median(figure for figure, _ in rounds)
        finished = statistics.median(figure for _, figure in rounds)
        print(f"{name}: redact_log {redact:.1f} us/call, request_finished {finished:.1f} us/call", file=sys.stdout)


if __name__ == "__main__":
    main()
