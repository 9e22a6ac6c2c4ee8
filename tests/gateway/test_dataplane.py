"""The data plane without any front door: plain tensors in, plain answers out, errors as raised."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from gatewise.gateway.dataplane import Caller, DataPlane, InferRequest, InferResponse, StreamError
from gatewise.gateway.drain import Drain
from gatewise.gateway.repository import ModelRepository
from gatewise.gateway.settings import ServerSettings
from gatewise.plugins.manager import PluginManager
from gatewise.protos import errors
from gatewise.protos.errors import GatewiseError, InvalidInput, ModelNotFound, ShuttingDown
from prometheus_client import REGISTRY

CALLER = Caller(None, "http", "infer")


@pytest.fixture
async def dataplane(repository: Path) -> AsyncIterator[DataPlane]:
    repo = ModelRepository(repository, PluginManager(entry_points=False))
    await repo.load_all()
    plane = DataPlane(repo, ServerSettings(repository=repository), Drain())
    yield plane
    await repo.close()


def add_one(rows: int = 2, model: str = "add-one", **fields: object) -> InferRequest:
    x = np.arange(rows * 4, dtype=np.float32).reshape(rows, 4)

    async def decode(served: object, limit: int) -> tuple[dict[str, np.ndarray], int]:
        return {"x": x}, rows

    return InferRequest(model_name=model, decode=decode, rows=rows, **fields)


async def test_infer_takes_and_returns_plain_tensors(dataplane: DataPlane) -> None:
    """No proto on either side: numpy in, (name, numpy) out, with the request's id echoed."""
    answer = await dataplane.infer(add_one(id="r1"), CALLER)
    assert (answer.model_name, answer.model_version, answer.id) == ("add-one", "1", "r1")
    [(name, y)] = answer.outputs
    assert name == "y"
    np.testing.assert_array_equal(y, np.arange(8, dtype=np.float32).reshape(2, 4) + 1)


async def test_an_unknown_model_is_refused_before_its_inputs_are_decoded(dataplane: DataPlane) -> None:
    """Decoding costs nothing for a model that is not there."""

    async def decode(served: object, limit: int) -> tuple[dict[str, np.ndarray], int]:
        raise AssertionError("decoded a request for an unknown model")

    with pytest.raises(ModelNotFound, match="'nope'"):
        await dataplane.infer(InferRequest(model_name="nope", decode=decode), CALLER)


async def test_decode_gets_the_servers_element_limit(dataplane: DataPlane) -> None:
    seen: list[int] = []

    async def decode(served: object, limit: int) -> tuple[dict[str, np.ndarray], int]:
        seen.append(limit)
        return {"x": np.ones((1, 4), dtype=np.float32)}, 1

    await dataplane.infer(InferRequest(model_name="add-one", decode=decode), CALLER)
    assert seen == [dataplane.settings.max_string_bytes]


async def test_an_unknown_requested_output_names_the_outputs_there_are(dataplane: DataPlane) -> None:
    with pytest.raises(InvalidInput, match=r"no output\(s\) \['z'\]; it has \['y'\]"):
        await dataplane.infer(add_one(outputs=["z"]), CALLER)


async def test_requests_are_counted_under_the_callers_protocol(dataplane: DataPlane) -> None:
    def count(protocol: str) -> float:
        labels = {"model": "add-one", "status": "OK", "protocol": protocol}
        return REGISTRY.get_sample_value("gatewise_requests_total", labels) or 0.0

    before = count("http"), count("grpc")
    await dataplane.infer(add_one(), CALLER)
    assert (count("http"), count("grpc")) == (before[0] + 1, before[1])


async def test_a_stream_answers_failures_in_band_and_goes_on(dataplane: DataPlane) -> None:
    async def requests() -> AsyncIterator[InferRequest]:
        yield add_one(id="a")
        yield add_one(model="nope", id="b")
        yield add_one(id="c")

    answers = [item async for item in dataplane.stream_infer(requests(), CALLER)]
    by_id = {item.id: item for item in answers}
    assert set(by_id) == {"a", "b", "c"}
    assert isinstance(by_id["a"], InferResponse) and isinstance(by_id["c"], InferResponse)
    assert isinstance(by_id["b"], StreamError) and isinstance(by_id["b"].error, ModelNotFound)


async def test_a_stream_ends_with_shutting_down_once_the_drain_closes(dataplane: DataPlane) -> None:
    gate_closed = False

    async def requests() -> AsyncIterator[InferRequest]:
        nonlocal gate_closed
        yield add_one(id="before")
        dataplane.drain.close()
        gate_closed = True
        yield add_one(id="after")

    seen: list[InferResponse | StreamError] = []
    with pytest.raises(ShuttingDown):
        async for item in dataplane.stream_infer(requests(), CALLER):
            seen.append(item)
    assert gate_closed
    assert {item.id for item in seen} <= {"before", "after"}
    refused = [item for item in seen if isinstance(item, StreamError)]
    assert all(isinstance(item.error, ShuttingDown) for item in refused)


async def test_repository_index_can_list_only_ready_models(dataplane: DataPlane) -> None:
    everything = {row.name: row.state for row in dataplane.repository_index()}
    assert everything["broken"] != "READY" and everything["add-one"] == "READY"
    assert {row.name for row in dataplane.repository_index(ready_only=True)} == {"add-one", "tiny-sentiment"}


async def test_load_refuses_parameters_by_name(dataplane: DataPlane) -> None:
    with pytest.raises(InvalidInput, match=r"\['config'\] are not supported"):
        await dataplane.load("add-one", ["config"])


def _every_error_class() -> list[type[GatewiseError]]:
    return [value for value in vars(errors).values() if isinstance(value, type) and issubclass(value, GatewiseError)]


@pytest.mark.parametrize(
    ("code", "http"),
    [
        (grpc.StatusCode.INTERNAL, 500),
        (grpc.StatusCode.NOT_FOUND, 404),
        (grpc.StatusCode.UNAVAILABLE, 503),
        (grpc.StatusCode.INVALID_ARGUMENT, 400),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
        (grpc.StatusCode.UNAUTHENTICATED, 401),
        (grpc.StatusCode.PERMISSION_DENIED, 403),
    ],
)
def test_every_error_knows_both_statuses_and_they_agree(code: grpc.StatusCode, http: int) -> None:
    """One tree, two tables: an error's HTTP status follows from the same class as its gRPC code
    (two refinements: TooLarge, an InvalidInput, is 413; OverBudget, which no retry fixes, 507)."""
    refined = (errors.TooLarge, errors.OverBudget)
    classes = [cls for cls in _every_error_class() if cls.status == code and cls not in refined]
    assert classes, code
    assert {cls.http_status for cls in classes} == {http}


def test_a_plugin_error_on_bad_input_is_400_and_invalid_argument() -> None:
    refused = errors.PluginError("p", "gatewise_preprocess", ValueError("no"), bad_input=True)
    failed = errors.PluginError("p", "gatewise_preprocess", RuntimeError("no"))
    assert (refused.status, refused.http_status) == (grpc.StatusCode.INVALID_ARGUMENT, 400)
    assert (failed.status, failed.http_status) == (grpc.StatusCode.INTERNAL, 500)
