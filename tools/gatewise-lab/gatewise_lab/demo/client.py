"""A minimal gRPC client for the demo, on the project's own generated stubs.

BYTES tensors travel in ``raw_input_contents`` as the protocol defines: each element a
4-byte little-endian length, then its bytes.
"""

from __future__ import annotations

import struct
import time
from typing import Any

import grpc
import numpy as np

from protos import grpc_service_pb2 as pb
from protos import grpc_service_pb2_grpc as pb_grpc

_NUMPY = {"FP32": np.float32, "FP64": np.float64, "INT32": np.int32, "INT64": np.int64, "BOOL": np.bool_}


def encode_bytes(values: list[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(value)) + value for value in values)


def decode_bytes(raw: bytes) -> list[bytes]:
    values, offset = [], 0
    while offset < len(raw):
        (length,) = struct.unpack_from("<I", raw, offset)
        values.append(raw[offset + 4 : offset + 4 + length])
        offset += 4 + length
    return values


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

    def infer(self, model: str, inputs: dict[str, tuple[str, list[Any]]], parameters: dict[str, Any] | None = None) -> dict[str, Any]:
        """``inputs``: name -> (datatype, one value per row). BYTES outputs come back as str."""
        request = pb.ModelInferRequest(model_name=model)
        for name, (datatype, values) in inputs.items():
            tensor = request.inputs.add(name=name, datatype=datatype, shape=[len(values)])
            del tensor
            if datatype == "BYTES":
                raw = encode_bytes([v if isinstance(v, bytes) else str(v).encode() for v in values])
            else:
                raw = np.asarray(values, dtype=_NUMPY[datatype]).tobytes()
            request.raw_input_contents.append(raw)
        for key, value in (parameters or {}).items():
            field = "bool_param" if isinstance(value, bool) else "int64_param" if isinstance(value, int) else \
                "double_param" if isinstance(value, float) else "string_param"  # fmt: skip
            setattr(request.parameters[key], field, value)
        response = self.stub.ModelInfer(request, timeout=30)
        outputs: dict[str, Any] = {}
        for index, tensor in enumerate(response.outputs):
            raw = response.raw_output_contents[index]
            if tensor.datatype == "BYTES":
                outputs[tensor.name] = [value.decode() for value in decode_bytes(raw)]
            else:
                outputs[tensor.name] = np.frombuffer(raw, dtype=_NUMPY[tensor.datatype]).reshape(tuple(tensor.shape))
        return outputs

    def close(self) -> None:
        self.channel.close()
