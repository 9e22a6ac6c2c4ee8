"""Gateway overhead benchmark: the same as ``gatewise bench``, runnable as a script.

    python benchmarks/gateway.py --repository demo-models --model finance-sentiment --seconds 5 --rounds 3

Prints the in-process limit (plugin + engine, batch 1 and max batch), the gateway through
gRPC at concurrency 1, 16 and 64, unary and on one stream (and perf_analyzer when it can
start), the floor an empty call costs, and the ratios. The bench lives in the lab
(``tools/gatewise-lab``, installed by ``scripts/bootstrap.sh``), outside the serving wheel.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from gatewise_lab.bench.plan import BenchPlan
from gatewise_lab.bench.run import run_bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", type=Path, default=Path("demo-models"))
    parser.add_argument("--model", default="finance-sentiment")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-perf-analyzer", dest="perf_analyzer", action="store_false")
    args = parser.parse_args()
    plan = BenchPlan(args.repository, args.model, tuple(args.concurrency), args.seconds, args.rounds, args.workers)
    run_bench(plan, Console(), args.perf_analyzer)


if __name__ == "__main__":
    main()
