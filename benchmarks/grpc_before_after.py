"""gRPC before and after a change to the request path: perf_analyzer -i grpc on add-one against
two checkouts, alternating, each server alone.

    .venv/bin/python benchmarks/grpc_before_after.py REPOSITORY CONCURRENCY ROUNDS SECONDS

BEFORE_PYTHON is the interpreter of a venv holding the old checkout (``git worktree add DIR
COMMIT`` then ``pip install -r requirements/dev.txt`` there); AFTER_PYTHON defaults to this
interpreter. Reports throughput, p50 and the server's CPU per request. Figures: docs/benchmarks.md.
"""

import os
import re
import socket
import subprocess
import sys
import time

import grpc
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos import grpc_service_pb2_grpc as pb_grpc

from gatewise_lab.bench.perf_analyzer import find_perf_analyzer, perf_analyzer_env

servers = {"before": os.environ["BEFORE_PYTHON"], "after": os.environ.get("AFTER_PYTHON", sys.executable)}
repo, conc, rounds, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
pa = find_perf_analyzer()
res = {k: [] for k in servers}


def port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


for r in range(rounds):
    for name, python in servers.items():
        p = port()
        env = {**os.environ, "GATEWISE_HTTP_PORT": "0"}
        proc = subprocess.Popen(
            [python, "-m", "gatewise", "serve", "--repository", repo, "--grpc-port", str(p), "--log-level", "WARNING"],
            env=env,
            stderr=subprocess.DEVNULL,
            cwd="/tmp",
        )
        url = f"127.0.0.1:{p}"
        with grpc.insecure_channel(url) as ch:
            stub = pb_grpc.GRPCInferenceServiceStub(ch)
            for _ in range(300):
                try:
                    if stub.ServerReady(pb.ServerReadyRequest(), timeout=1).ready:
                        break
                except grpc.RpcError:
                    time.sleep(0.2)

            def count(stub=stub):
                return (
                    stub.ModelStatistics(pb.ModelStatisticsRequest(name="add-one"))
                    .model_stats[0]
                    .inference_stats.success.count
                )

            def cpu(pid=proc.pid):
                f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
                return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

            c0, n0 = cpu(), count()
            out = subprocess.run(
                [
                    pa,
                    "-m",
                    "add-one",
                    "-i",
                    "grpc",
                    "-u",
                    url,
                    "--concurrency-range",
                    conc,
                    "--measurement-interval",
                    str(int(secs * 1000)),
                    "--stability-percentage",
                    "100",
                    "--max-trials",
                    "3",
                ],
                capture_output=True,
                text=True,
                env=perf_analyzer_env(),
                timeout=120,
            )
            c1, n1 = cpu(), count()
        proc.terminate()
        proc.wait(timeout=60)
        thr = re.search(r"throughput: ([\d.]+) infer/sec", out.stdout)
        p50 = re.search(r"p50 latency: (\d+) usec", out.stdout)
        row = (
            float(thr.group(1)) if thr else float("nan"),
            int(p50.group(1)) if p50 else -1,
            (c1 - c0) / max(n1 - n0, 1) * 1e6,
        )
        res[name].append(row)
        print(r, name, f"{row[0]:.0f} infer/s, p50 {row[1]} us, server CPU {row[2]:.0f} us/request", flush=True)


def med(rows, i):
    """The median of column i, NaN (a perf_analyzer run that reported nothing) left out."""
    values = sorted(x[i] for x in rows if x[i] == x[i] and x[i] != -1)
    return values[len(values) // 2] if values else float("nan")


for name, rows in res.items():
    print(f"{name}: median {med(rows, 0):.0f} infer/s, p50 {med(rows, 1)} us, server CPU {med(rows, 2):.0f} us/request")
