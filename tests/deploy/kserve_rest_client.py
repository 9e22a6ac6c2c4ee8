"""Calls a Gatewise server's HTTP port with KServe's own REST client
(``kserve.InferenceRESTClient``, v2 protocol) and prints what came back as one JSON object.

Run by tests/deploy with the kserve environment's interpreter, as kserve_client.py is.

    python kserve_rest_client.py http://HOST:PORT
"""

from __future__ import annotations

import asyncio
import json
import sys

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig


async def call(base_url: str) -> dict:
    async with InferenceRESTClient(RESTConfig(protocol="v2", timeout=30, retries=3)) as client:
        report: dict = {
            "server_live": await client.is_server_live(base_url),
            "server_ready": await client.is_server_ready(base_url),
            "model_ready": await client.is_model_ready(base_url, "tiny-sentiment"),
        }
        # FP32 as binary data (set_data_from_numpy's default: the binary tensor data extension).
        x = InferInput("x", [2, 4], "FP32")
        x.set_data_from_numpy(np.arange(8, dtype=np.float32).reshape(2, 4))
        response = await client.infer(base_url, InferRequest("add-one", [x]), model_name="add-one")
        report["add_one"] = response.get_output_by_name("y").as_numpy().tolist()
        # BYTES as JSON data.
        text = InferInput("text", [2], "BYTES", data=["a great movie", "awful service"])
        request = InferRequest("tiny-sentiment", [text], request_id="kserve-rest-1")
        response = await client.infer(base_url, request, model_name="tiny-sentiment")
        labels = response.get_output_by_name("label").as_numpy().tolist()
        report["labels"] = [label.decode() if isinstance(label, bytes) else label for label in labels]
        report["response_id"] = response.id
        report["model_name"] = response.model_name
        try:
            await client.infer(base_url, InferRequest("nope", [x]), model_name="nope")
        except Exception as exc:  # noqa: BLE001 - httpx.HTTPStatusError: its message is what the user reads
            report["unknown_model_error"] = str(exc)
    return report


if __name__ == "__main__":
    print(json.dumps(asyncio.run(call(sys.argv[1]))))
