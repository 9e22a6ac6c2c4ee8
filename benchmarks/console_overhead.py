"""What an open console costs serving: REST throughput at concurrency 64 with the console closed and open.

    .venv/bin/python benchmarks/console_overhead.py --repository /work/demo-models --model finance-sentiment

The same as ``gatewise bench --console`` (tools/gatewise-lab/gatewise_lab/bench/console.py, which
says what each state does): one ``gatewise serve --console``, interleaved rounds of console
closed, open with a poller doing what the models page does, and open in a real headless
Chromium. Prints each state's median round and each open state's throughput and p99 over
closed. Figures: docs/benchmarks.md ("Console open vs closed").
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from gatewise_lab.bench.console import run_console_bench
from gatewise_lab.bench.plan import BenchPlan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", type=Path, default=Path("demo-models"))
    parser.add_argument("--model", default="finance-sentiment")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per state per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true", help="leave out the headless Chromium state")
    args = parser.parse_args()
    plan = BenchPlan(args.repository, args.model, (args.concurrency,), args.seconds, args.rounds)
    run_console_bench(plan, Console(), not args.no_browser)


if __name__ == "__main__":
    main()
