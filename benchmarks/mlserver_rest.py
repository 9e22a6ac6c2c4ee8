"""Gatewise's HTTP front door beside MLServer's REST (FastAPI/uvicorn) on an equally trivial model.

    .venv/bin/python benchmarks/mlserver_rest.py --mlserver VENV/bin/mlserver [--seconds 5] [--rounds 3]

MLServer lives in its own virtual environment (``pip install mlserver==1.7.1``; its
dependencies do not match Gatewise's). Its model is a custom ``MLModel`` that returns x + 1
for FP32 [-1, 4] with MLServer's own ``NumpyCodec``; Gatewise serves the tests' add-one ONNX
model (the same arithmetic through ONNX Runtime and the dynamic batcher). Both are driven by
the same aiohttp client (``gatewise_lab.bench.http``) with the same JSON body, one keep-alive
connection per caller, interleaved rounds; each server runs alone while it is measured, one
process each (MLServer: ``parallel_workers`` 0, inference in its main process).
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from gatewise_lab.bench.clients import run_client
from gatewise_lab.bench.http import Payloads, http_closed_loop, start_both
from gatewise_lab.bench.run import summarise
from models import build_repository

MODEL = """
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class AddOne(MLModel):
    async def load(self) -> bool:
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        x = NumpyCodec.decode_input(payload.inputs[0])
        return InferenceResponse(model_name=self.name, outputs=[NumpyCodec.encode_output("y", x + 1)])
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_mlserver(mlserver: str, folder: Path) -> tuple[subprocess.Popen, str]:
    model = folder / "add-one"
    model.mkdir(parents=True)
    (model / "addone.py").write_text(MODEL)
    (model / "model-settings.json").write_text(
        json.dumps(
            {
                "name": "add-one",
                "implementation": "addone.AddOne",
                "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
            }
        )
    )
    port = free_port()
    settings = {"http_port": port, "grpc_port": free_port(), "metrics_port": free_port(), "parallel_workers": 0}
    (folder / "settings.json").write_text(json.dumps(settings))
    process = subprocess.Popen([mlserver, "start", str(folder)], cwd=model, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/v2/models/add-one/ready", timeout=1) as answer:
                if answer.status == 200:
                    return process, base
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("MLServer did not become ready within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mlserver", required=True, help="the mlserver executable of its own venv")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repository = build_repository(Path(tmp) / "models")
        rows: dict[str, list] = {"gatewise HTTP JSON": [], "MLServer REST JSON": []}
        for round_index in range(args.rounds):
            for name in rows:
                if name.startswith("gatewise"):
                    process, _, base = start_both(repository, 1)
                else:
                    process, base = start_mlserver(args.mlserver, Path(tmp) / f"mlserver-{round_index}")
                try:
                    payloads = Payloads(base, "add-one")
                    row = run_client(http_closed_loop(base, payloads, False, args.concurrency, args.seconds))
                finally:
                    process.terminate()
                    process.wait(timeout=60)
                rows[name].append(row)
                print(f"round {round_index + 1}: {name}: {row.rows_per_s:.0f} requests/s, p50 {row.p50_ms:.2f} ms, "
                      f"errors {row.errors}", flush=True)  # fmt: skip
    medians = {name: summarise(found) for name, found in rows.items()}
    for name, row in medians.items():
        print(
            f"{name}, concurrency {args.concurrency}: median {row.rows_per_s:.0f} requests/s, p50 {row.p50_ms:.2f} ms"
        )
    ratio = medians["gatewise HTTP JSON"].rows_per_s / medians["MLServer REST JSON"].rows_per_s
    print(f"gatewise / MLServer: {ratio:.2f}x")


if __name__ == "__main__":
    main()
