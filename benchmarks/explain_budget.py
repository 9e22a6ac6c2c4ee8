"""A long text explained with the largest budget: how long it takes and what it costs the server's memory.

    .venv/bin/python benchmarks/explain_budget.py --repository demo-models --model finance-sentiment

Starts a real ``gatewise serve`` (default explanation caps), warms the model with one full
batch of long texts (so the engine's memory arena is at its working size) and one short
explanation, then sends texts of the given sizes with ``explain_samples`` (default: the
server's ``--max-explain-samples``) and prints, per text: the answer (or the refusal), the
units weighed, the wall time and the server's resident-memory growth since the warm-up
(from /proc). The e2e test (tests/e2e/test_explanation_budget.py) asserts the answer and
the memory bound; times are measured here, not asserted.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import grpc
import numpy as np
from gatewise.gateway.codec import serialize_bytes
from gatewise.gateway.config import load_config
from gatewise.gateway.settings import ServerSettings
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos import grpc_service_pb2_grpc as pb_grpc

from gatewise_lab.bench.server import start_server

SENTENCE = "Quarterly revenue fell short of expectations and the shares dropped sharply in early trading. "


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def explain(stub: pb_grpc.GRPCInferenceServiceStub, model: str, text: str, samples: int) -> str:
    """One explained request; what came back, in words."""
    request = pb.ModelInferRequest(model_name=model)
    request.inputs.add(name="text", datatype="BYTES", shape=[1])
    request.raw_input_contents.append(serialize_bytes(np.array([text.encode()], dtype=object)))
    request.outputs.add(name="explanation")
    request.parameters["explain_samples"].int64_param = samples
    try:
        response = stub.ModelInfer(request, timeout=300)
    except grpc.RpcError as exc:
        return f"refused: {exc.code().name}: {exc.details()}"
    raw = response.raw_output_contents[0][4:]  # one BYTES element: 4-byte length, then the JSON
    document = json.loads(raw)
    return f"answered: {len(document['attributions'])} units, {document['samples']} coalitions ({document['method']})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", type=Path, default=Path("demo-models"))
    parser.add_argument("--model", default="finance-sentiment")
    parser.add_argument("--samples", type=int, default=ServerSettings().max_explain_samples)
    parser.add_argument("--kib", type=int, nargs="+", default=[1, 1024], help="Text sizes in KiB.")
    args = parser.parse_args()
    samples = args.samples
    process, url = start_server(args.repository, workers=1)
    try:
        with grpc.insecure_channel(url, options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            ordinary = pb.ModelInferRequest(model_name=args.model)
            batch = load_config(args.repository / args.model).batching.max_batch_size
            ordinary.inputs.add(name="text", datatype="BYTES", shape=[batch])
            long_rows = np.array([SENTENCE.encode() * 20] * batch, dtype=object)
            ordinary.raw_input_contents.append(serialize_bytes(long_rows))
            stub.ModelInfer(ordinary, timeout=300)
            explain(stub, args.model, SENTENCE, 64)
            base = rss_mb(process.pid)
            print(f"{args.model}, explain_samples {samples}; server RSS after warm-up {base:.0f} MB")
            for size in (kib * 1024 for kib in args.kib):
                text = (SENTENCE * (size // len(SENTENCE) + 1))[:size]
                started = time.perf_counter()
                outcome = explain(stub, args.model, text, samples)
                seconds = time.perf_counter() - started
                growth = rss_mb(process.pid) - base
                print(f"{size // 1024:>5} KiB: {seconds:6.2f} s, RSS +{growth:5.1f} MB; {outcome}")
    finally:
        process.terminate()
        process.wait(timeout=60)


if __name__ == "__main__":
    main()
