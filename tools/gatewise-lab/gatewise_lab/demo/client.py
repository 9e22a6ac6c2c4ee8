"""A minimal gRPC client for the demo, on the project's own generated stubs.

BYTES tensors travel in ``raw_input_contents`` as the protocol defines (each element a
4-byte little-endian length, then its bytes), framed by the gateway's own codec.
"""

from __future__ import annotations

import math
import time
from typing import Any

import grpc
import numpy as np
from gatewise.gateway.codec import deserialize_bytes, serialize_bytes, set_parameter
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos import grpc_service_pb2_grpc as pb_grpc
from gatewise.protos.tensors import DATATYPE_TO_NUMPY

TIMEOUT_S = 60.0
"""Per call: an explained request runs hundreds of perturbed rows on CPU (the gRPC deadline follows them)."""


class DemoClient:
    """Calls one gateway; ``infer`` takes and returns plain Python/numpy values."""

    def __init__(self, address: str) -> None:
        self.channel = grpc.insecure_channel(address)
        self.stub = pb_grpc.GRPCInferenceServiceStub(self.channel)

    def wait_ready(self, timeout_s: float, alive: Any = lambda: True) -> None:
        """Poll ServerReady until true; RuntimeError when ``alive()`` turns false or time runs out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not alive():
                raise RuntimeError("the gateway process exited before it was ready")
            try:
                if self.stub.ServerReady(pb.ServerReadyRequest(), timeout=1).ready:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the gateway was not ready within {timeout_s:.0f} s")

    def infer(
        self,
        model: str,
        inputs: dict[str, tuple[str, list[Any]]],
        parameters: dict[str, Any] | None = None,
        outputs: list[str] | None = None,
    ) -> dict[str, Any]:
        """``inputs``: name -> (datatype, one value per row); ``outputs``: the outputs to ask for (None: the
        model's default set, which never includes ``explanation``). BYTES outputs come back as str."""
        request = pb.ModelInferRequest(model_name=model)
        for name, (datatype, values) in inputs.items():
            request.inputs.add(name=name, datatype=datatype, shape=[len(values)])
            array = np.asarray(values, dtype=DATATYPE_TO_NUMPY[datatype])
            request.raw_input_contents.append(serialize_bytes(array) if datatype == "BYTES" else array.tobytes())
        for name in outputs or ():
            request.outputs.add(name=name)
        for key, value in (parameters or {}).items():
            set_parameter(request.parameters, key, value)
        response = self.stub.ModelInfer(request, timeout=TIMEOUT_S)
        answer: dict[str, Any] = {}
        for index, tensor in enumerate(response.outputs):
            raw = response.raw_output_contents[index]
            if tensor.datatype == "BYTES":
                elements = deserialize_bytes(tensor.name, raw, math.prod(tensor.shape), len(raw))
                answer[tensor.name] = [value.decode() for value in elements]
            else:
                dtype = DATATYPE_TO_NUMPY[tensor.datatype]
                answer[tensor.name] = np.frombuffer(raw, dtype=dtype).reshape(tuple(tensor.shape))
        return answer

    def close(self) -> None:
        self.channel.close()
