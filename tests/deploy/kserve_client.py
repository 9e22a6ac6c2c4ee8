"""Calls a Gatewise server with KServe's own client (``kserve.InferenceGRPCClient``) and
prints what came back as one JSON object.

Run by tests/deploy with the interpreter of a separate virtual environment that holds the
``kserve`` SDK: kserve pins ``protobuf<7``, Gatewise ``protobuf>=7.35``, so the two never
share one environment (and kserve's stubs would also claim ``inference.*`` in protobuf's
default pool, which tritonclient's stubs already hold in the test environment).

    python kserve_client.py HOST:PORT
"""

from __future__ import annotations

import asyncio
import json
import sys

import numpy as np
from kserve import InferenceGRPCClient, InferInput, InferRequest


async def call(url: str) -> dict:
    async with InferenceGRPCClient(url, timeout=30, retries=3) as client:
        report: dict = {
            "server_live": await client.is_server_live(),
            "server_ready": await client.is_server_ready(),
            "model_ready": await client.is_model_ready("tiny-sentiment"),
        }
        # FP32 as raw_input_contents (set_data_from_numpy's binary default).
        x = InferInput("x", [2, 4], "FP32")
        x.set_data_from_numpy(np.arange(8, dtype=np.float32).reshape(2, 4))
        response = await client.infer(InferRequest("add-one", [x]))
        report["add_one"] = response.get_output_by_name("y").as_numpy().tolist()
        # BYTES as typed contents (bytes_contents), the other encoding the protocol allows.
        text = InferInput("text", [2], "BYTES", data=["a great movie", "awful service"])
        response = await client.infer(InferRequest("tiny-sentiment", [text], request_id="kserve-1"))
        labels = response.get_output_by_name("label").as_numpy().tolist()
        report["labels"] = [label.decode() if isinstance(label, bytes) else label for label in labels]
        report["response_id"] = response.id
        report["model_name"] = response.model_name
    return report


if __name__ == "__main__":
    print(json.dumps(asyncio.run(call(sys.argv[1]))))
