"""Gateway overhead benchmark: the same as ``gatewise bench``, runnable as a script.

    python benchmarks/gateway.py --repository demo-models --model finance-sentiment --seconds 5 --rounds 3

Prints the in-process limit (plugin + engine, batch 1 and max batch), the gateway through
gRPC at concurrency 1, 16 and 64 (and perf_analyzer when it can start), and the ratios.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from gateway.bench import run_bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", type=Path, default=Path("demo-models"))
    parser.add_argument("--model", default="finance-sentiment")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    run_bench(args.repository, args.model, sorted(args.concurrency), args.seconds, args.workers, Console(), args.rounds)


if __name__ == "__main__":
    main()
