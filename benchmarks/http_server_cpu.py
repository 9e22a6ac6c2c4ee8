"""Server CPU per request and throughput by protocol, with perf_analyzer (C++) as the client.

    .venv/bin/python benchmarks/http_server_cpu.py REPOSITORY MODEL CONCURRENCY ROUNDS SECONDS

One gatewise process serves both doors; each round runs perf_analyzer -i grpc, then -i http,
and reads the server's own utime+stime (/proc) over the requests its statistics counted. A
C++ client keeps the client's cost out of what is compared (a Python client spends more CPU
per HTTP request than per gRPC call, on the same cores). Figures: docs/benchmarks.md.
"""

import json
import os
import re
import subprocess
import sys
import urllib.request

from gatewise_lab.bench.http import start_both
from gatewise_lab.bench.perf_analyzer import find_perf_analyzer, perf_analyzer_env

repo, model, conc, rounds, secs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
process, grpc_url, base = start_both(__import__("pathlib").Path(repo), 1)
http_url = base.removeprefix("http://")
pa = find_perf_analyzer()


def cpu():
    f = open(f"/proc/{process.pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def count():
    s = json.loads(urllib.request.urlopen(f"{base}/v2/models/{model}/stats").read())["model_stats"][0]
    return s["inference_stats"]["success"]["count"]


extra = []
if model != "add-one":
    data = "/tmp/gatewise-bench-texts.json"
    open(data, "w").write(
        json.dumps(
            {
                "data": [
                    {"text": ["Shares rose after the company raised its full-year guidance."]},
                    {"text": ["The bank kept its dividend unchanged."]},
                ]
            }
        )
    )
    extra = ["--input-data", data, "--shape", "text:1"]
res = {"grpc": [], "http": []}
try:
    for r in range(rounds):
        for proto, url in (("grpc", grpc_url), ("http", http_url)):
            c0, n0 = cpu(), count()
            out = subprocess.run(
                [
                    pa,
                    "-m",
                    model,
                    "-i",
                    proto,
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
                    *extra,
                ],
                capture_output=True,
                text=True,
                env=perf_analyzer_env(),
                timeout=300,
            )
            c1, n1 = cpu(), count()
            thr = re.search(r"throughput: ([\d.]+) infer/sec", out.stdout)
            p50 = re.search(r"p50 latency: (\d+) usec", out.stdout)
            row = (
                float(thr.group(1)) if thr else float("nan"),
                (c1 - c0) / max(n1 - n0, 1) * 1e6,
                int(p50.group(1)) if p50 else -1,
            )
            res[proto].append(row)
            print(r, proto, f"{row[0]:.1f} infer/s, server CPU {row[1]:.0f} us/request, p50 {row[2]} us", flush=True)
finally:
    process.terminate()
    process.wait(timeout=60)
for proto, rows in res.items():
    rows.sort(key=lambda x: x[0])
    m = rows[len(rows) // 2]
    cpu_us = sorted(x[1] for x in rows)[len(rows) // 2]
    print(f"{proto}: median round {m[0]:.1f} infer/s, server CPU {cpu_us:.0f} us/request (median), p50 {m[2]} us")
