"""A model that fails to load, a crashing engine and a raising plugin fail only their own
requests, with a clear status; the other models keep serving and readiness says so."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import grpc
import numpy as np
import pytest
from gatewise.gateway.batcher import Pending
from gatewise.gateway.config import load_config
from gatewise.gateway.engines import close_all
from gatewise.gateway.model import ServedModel
from gatewise.plugins.manager import PluginManager
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos.errors import EngineError
from grpc_health.v1 import health_pb2, health_pb2_grpc

from conftest import write_admin_key
from reliability.faults import FaultyPlugin
from security.harness import add_one_request, authorised_channel, serving, stub, text_request


def crashy_request(index: int) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="crashy")
    request.inputs.add(name="idx", datatype="INT64", shape=[1, 4])
    request.raw_input_contents.append(np.full((1, 4), index, dtype=np.int64).tobytes())
    return request


async def status_of(call) -> str:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return f"{exc.code().name}: {exc.details()}"
    return "OK"


async def test_failures_stay_with_their_model(faulty_repository: Path) -> None:
    plugins = PluginManager(entry_points=False, extra=[("faulty", FaultyPlugin())])
    async with (
        serving(faulty_repository, plugins) as server,
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        client, health = stub(channel), health_pb2_grpc.HealthStub(channel)

        async def serving_status(name: str) -> int:
            return (await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)).status

        assert await serving_status("corrupt") == health_pb2.HealthCheckResponse.NOT_SERVING
        assert not (await client.ModelReady(pb.ModelReadyRequest(name="corrupt"), timeout=10)).ready
        calls = {
            "corrupt": client.ModelInfer(add_one_request("corrupt"), timeout=10),
            "crash": client.ModelInfer(crashy_request(99), timeout=10),
            "bad input": client.ModelInfer(add_one_request("faulty", value=FaultyPlugin.BAD_INPUT), timeout=10),
            "plugin crash": client.ModelInfer(add_one_request("faulty", value=FaultyPlugin.CRASH), timeout=10),
            "good crashy": client.ModelInfer(crashy_request(3), timeout=10),
            "good faulty": client.ModelInfer(add_one_request("faulty"), timeout=10),
            "add-one": client.ModelInfer(add_one_request(), timeout=10),
            "tiny": client.ModelInfer(text_request(b"good"), timeout=10),
        }
        results = dict(zip(calls, await asyncio.gather(*(status_of(call) for call in calls.values())), strict=True))
        assert results["corrupt"].startswith("UNAVAILABLE: model 'corrupt' is not ready (UNAVAILABLE)")
        # ONNX Runtime's own text (which quotes the batch's values) stays in the server log.
        assert results["crash"].startswith("INTERNAL: model 'crashy' failed to run a batch of 1 request(s) (")
        assert "ONNX Runtime" not in results["crash"] and "(incident " in results["crash"]
        assert (
            results["bad input"] == "INVALID_ARGUMENT: plugin 'faulty' failed in gatewise_preprocess: "
            "x[0, 0] = 7 is refused by the faulty plugin"
        )
        assert (
            results["plugin crash"] == "INTERNAL: plugin 'faulty' failed in gatewise_preprocess: "
            "the faulty plugin crashed"
        )
        assert {results[name] for name in ("good crashy", "good faulty", "add-one", "tiny")} == {"OK"}
        for name in ("crashy", "faulty", "add-one", "tiny-sentiment"):  # a failed request is not a dead model
            assert await serving_status(name) == health_pb2.HealthCheckResponse.SERVING


async def test_a_bad_new_version_leaves_the_old_one_serving(faulty_repository: Path) -> None:
    """Loading a corrupt version 2 fails that load only; version 1 keeps answering."""
    admin = write_admin_key(faulty_repository.parent / "keys")
    async with serving(faulty_repository, **admin.settings) as server:
        model_dir = faulty_repository / "add-one"
        (model_dir / "2").mkdir()
        (model_dir / "2" / "model.onnx").write_bytes(b"corrupt")
        async with authorised_channel(f"127.0.0.1:{server.port}", admin.metadata) as channel:
            client = stub(channel)
            load = client.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="add-one"), timeout=30)
            assert (await status_of(load)).startswith("UNAVAILABLE: model 'add-one' is not ready")
            response = await client.ModelInfer(add_one_request(), timeout=10)
            assert response.model_version == "1"


class RaisingEngine:
    """Stands in for an engine instance: every batch raises ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise self.error


def test_an_engine_failure_is_translated_once_at_the_engine_call(
    faulty_repository: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever an engine raises becomes one EngineError naming the model and the kind of failure,
    for every request of its call, without the engine's text (it may quote other requests' values),
    which is logged once, server side, with the incident number the requests get."""
    model_dir = faulty_repository / "add-one"
    model = ServedModel.load(load_config(model_dir), "1", model_dir / "1", PluginManager(entry_points=False))
    engines = list(model.engines)
    batch = [Pending(inputs={"x": np.ones((1, 4), np.float32)}, parameters={}, rows=1) for _ in range(2)]
    try:
        model.engines[0] = RaisingEngine(RuntimeError("device lost"))
        with caplog.at_level(logging.ERROR, logger="gatewise.model"):
            first, second = model.run_batch(batch, 0)
        assert first is second
        assert isinstance(first, EngineError)
        assert first.message.startswith("model 'add-one' failed to run a batch of 2 request(s) (RuntimeError); ")
        assert "device lost" not in first.message
        assert isinstance(first.__cause__, RuntimeError)
        logged = [record.getMessage() for record in caplog.records if "failed a batch" in record.getMessage()]
        incident = first.message.rsplit("(incident ", 1)[1].rstrip(")")
        assert len(logged) == 1 and "device lost" in logged[0] and incident in logged[0]
        own = EngineError("ONNX Runtime failed on add-one: input x[0] = 123.5 is out of range")
        model.engines[0] = RaisingEngine(own)
        first, second = model.run_batch(batch, 0)
        assert first is second and "123.5" not in first.message and "(EngineError)" in first.message
    finally:
        close_all(engines)
