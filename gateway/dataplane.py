"""The data plane: what every front door (gRPC, HTTP) asks of the server, in plain types.

A front door translates its wire format into the types here (``InferRequest``, names,
versions), calls one method and translates the answer back; everything else lives here:
model lookup, decoding and checking inputs, requested outputs, explanations, inference,
decision records, metrics, statistics and the audit event. Nothing here knows grpc or HTTP: errors are
raised as ``GatewiseError`` and each door maps them to its own status in one function.

Inputs are decoded only after the model was found (``InferRequest.decode`` is called with
the server's element limit), so a request for an unknown model costs no decoding.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gatewise.gateway import __version__, explanations, metrics, tracing
from gatewise.gateway.drain import Drain
from gatewise.gateway.model import ServedModel
from gatewise.gateway.model_info import model_config_proto, platform, residency_parameters, statistics_proto
from gatewise.gateway.records.recorder import Recorder
from gatewise.gateway.repository import ModelRepository
from gatewise.gateway.security.principal import ANONYMOUS, Principal
from gatewise.gateway.security.views import visible_index
from gatewise.gateway.settings import ServerSettings
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos import model_config_pb2 as config_pb
from gatewise.protos.errors import GatewiseError, InvalidInput, ShuttingDown
from gatewise.protos.tensors import TensorSpec

EXTENSIONS = ("model_repository", "model_configuration", "statistics", "parameters", "binary_tensor_data")
SERVER_NAME = "gatewise"

Tensors = dict[str, np.ndarray]


@dataclass(frozen=True)
class Caller:
    """Who made a call and through which door: for metrics and the audit event."""

    principal: Principal | None
    """As authentication proved it; None without authentication (audited as 'anonymous')."""
    protocol: str
    """``grpc`` or ``http``: the metrics' ``protocol`` label."""
    method: str
    """The protocol's name for the call (``ModelInfer``, ``ModelStreamInfer``), for the audit event."""

    @property
    def name(self) -> str:
        return (self.principal or ANONYMOUS).name

    @property
    def via(self) -> str:
        """How the principal was proved (``key``, ``jwt``, ``certificate``; ``none`` for the anonymous caller)."""
        return (self.principal or ANONYMOUS).via


@dataclass
class InferRequest:
    """One inference request as a front door read it, before its tensors are decoded."""

    model_name: str
    decode: Callable[[ServedModel, int], Awaitable[tuple[Tensors, int]]]
    """Checks the inputs against the model (metadata first), decodes them (large ones off the loop) and
    returns them with the row count, given the largest BYTES element allowed; InvalidInput names
    what was wrong."""
    model_version: str = ""
    id: str = ""
    outputs: Sequence[str] = ()
    """The outputs asked for by name; empty: every public output but ``explanation``."""
    parameters: dict[str, Any] = field(default_factory=dict)
    deadline: float | None = None
    """``time.monotonic()`` by which the answer is due; None: no deadline."""
    rows: int = 0
    """The first input's first dimension as sent, for the audit event of a request that failed early."""


@dataclass
class InferResponse:
    """One answered request: its outputs in the order asked for, and the parameters its rows earned."""

    model_name: str
    model_version: str
    id: str
    outputs: list[tuple[str, np.ndarray]]
    parameters: dict[str, Any]


@dataclass(frozen=True)
class StreamError:
    """A request on a stream that failed: answered in-band, the stream goes on."""

    model_name: str
    id: str
    error: BaseException


@dataclass(frozen=True)
class ModelMetadata:
    name: str
    versions: list[str]
    platform: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


@dataclass(frozen=True)
class IndexEntry:
    name: str
    version: str
    state: str
    reason: str


def status_name(exc: BaseException) -> str:
    """The status a call ended with, as metrics and audit events name it (gRPC's code names)."""
    return exc.status.name if isinstance(exc, GatewiseError) else "INTERNAL"


class DataPlane:
    """The server's operations, shared by the gRPC servicer and the HTTP endpoints."""

    def __init__(
        self, repository: ModelRepository, settings: ServerSettings, drain: Drain, recorder: Recorder | None = None
    ) -> None:
        self.repository = repository
        self.settings = settings
        self.drain = drain
        self.recorder = recorder
        """Keeps decision records (``gateway.records``); None when the server keeps none."""
        self.ready = False
        """Set once the initial load pass finished; cleared when shutting down."""
        tracing.configure(settings.tracing)

    # ------------------------------------------------------------ health and metadata

    def live(self) -> bool:
        return True

    def model_ready(self, name: str, version: str = "") -> bool:
        return self.repository.is_ready(name, version)

    def server_metadata(self) -> tuple[str, str, tuple[str, ...]]:
        """(name, version, extensions)."""
        return SERVER_NAME, __version__, EXTENSIONS

    def model_metadata(self, name: str, version: str = "") -> ModelMetadata:
        model = self.repository.info(name, version)  # never loads an on-demand model
        return ModelMetadata(
            name=model.name,
            versions=self.repository.versions(model.name),
            platform=platform(model),
            inputs=model.signature.inputs,
            outputs=explanations.listed_outputs(model),
        )

    def model_config(self, name: str, version: str = "") -> config_pb.ModelConfig:
        """Triton's ModelConfig message (HTTP sends its JSON form), with residency parameters; never loads."""
        model = self.repository.info(name, version)
        proto = model_config_proto(model)
        residency_parameters(proto, self.repository, model)
        return proto

    def statistics(self, name: str = "", version: str = "") -> pb.ModelStatisticsResponse:
        """Triton's statistics of one model version, every version of a model, or (no name) every model."""
        repository = self.repository
        if name:
            models = [repository.info(name, version)]
            if not version:
                models = [repository.info(name, each) for each in repository.versions(name)]
        else:
            models = [
                repository.info(each, version)
                for each, entry in repository.entries.items()
                if entry.versions or entry.described
                for version in repository.versions(each)
            ]
        return pb.ModelStatisticsResponse(model_stats=[statistics_proto(model) for model in models])

    # ------------------------------------------------------------ repository

    def repository_index(self, ready_only: bool = False, principal: Principal | None = None) -> list[IndexEntry]:
        """The models ``principal`` may see (None: the anonymous caller), reasons without paths."""
        visible = visible_index(self.repository.index(), principal, self.repository.root)
        rows = [IndexEntry(*row) for row in visible]
        return [row for row in rows if row.state == "READY"] if ready_only else rows

    async def load(self, name: str, parameters: Sequence[str] = ()) -> None:
        if parameters:
            raise InvalidInput(
                f"repository load parameters {sorted(parameters)} are not supported; "
                "edit the model's config.toml and load again"
            )
        await self.repository.load(name)  # and pins it: never evicted until unloaded

    async def unload(self, name: str) -> None:
        await self.repository.unload(name)

    # ------------------------------------------------------------ inference

    def check_served(self, name: str, version: str, caller: Caller) -> None:
        """Raise, and record, what ``infer`` would for a model that is not served: lets a front door
        refuse before it reads a request body."""
        try:
            self.repository.info(name, version)  # an on-demand model that is not resident yet is served
        except GatewiseError as exc:
            request = InferRequest(model_name=name, model_version=version, decode=_nothing)
            self._finished(request, caller, None, status_name(exc), 0.0)
            raise

    async def infer(self, request: InferRequest, caller: Caller) -> InferResponse:
        """Run one request: lookup, decode, check, infer, explain when asked; metrics and audit either way."""
        started = time.perf_counter()
        model: ServedModel | None = None
        status = "OK"
        inputs = outputs = None
        try:
            # Held until answered, so it is never evicted under this request; loads it when on demand.
            model = await self.repository.acquire(request.model_name, request.model_version, request.deadline)
            inputs, rows = await request.decode(model, self.settings.max_string_bytes)
            parameters = request.parameters
            requested, explaining = explanations.outputs_for(model, list(request.outputs), parameters)
            # explain_* parameters are read (and checked) only when this request gets an explanation.
            if explaining:
                chosen = explanations.options(model, parameters, rows, self.settings)
            result = await model.infer(inputs, rows, parameters, request.deadline)
            if explaining:
                derived = await explanations.explain(
                    model, inputs, result.outputs, rows, parameters, chosen, request.deadline
                )
                result.outputs.update(derived)
            outputs = result.outputs
            return InferResponse(
                model_name=model.name,
                model_version=model.version,
                id=request.id,
                outputs=[(name, result.outputs[name]) for name in requested],
                parameters=dict(result.parameters),
            )
        except asyncio.CancelledError:
            status = "CANCELLED"
            raise
        except Exception as exc:
            status = status_name(exc)  # what the client gets, for metrics and the audit trail
            raise
        finally:
            # The decision record (gateway.records); under policy "require" a record that was not
            # kept turns the answer into UNAVAILABLE (503), raised once metrics and audit have seen it.
            unkept = None
            try:
                if self.recorder is not None and status != "CANCELLED":
                    unkept = await self.recorder.keep(model, request.id, tracing.trace_id(), caller.method,
                                                      caller.principal, inputs, outputs, status, started)  # fmt: skip
                    status = status_name(unkept) if unkept else status
            finally:
                if model is not None:  # the request is done with it: it may be evicted from now on
                    self.repository.release(model)
            self._finished(request, caller, model, status, time.perf_counter() - started)
            if unkept is not None:
                raise unkept

    async def stream_infer(
        self, requests: AsyncIterator[InferRequest], caller: Caller
    ) -> AsyncIterator[InferResponse | StreamError]:
        """Answer a stream's requests as they finish (match them by ``id``), failures in-band.

        When the drain closes, requests read from then on are answered with ShuttingDown, and
        once every earlier one is answered the stream itself ends with ShuttingDown (raised),
        so the client reconnects to another replica. An error reading ``requests`` (a message
        that did not parse) is raised once the answers before it are out.
        """
        answers: asyncio.Queue[InferResponse | StreamError | _StreamEvent] = asyncio.Queue()
        running: set[asyncio.Task] = set()
        # Backpressure: one slot per request read and not yet taken back by the door (``yield``
        # returns once it did), so a client that sends and never reads stalls on its transport's
        # flow control instead of growing the server's memory.
        slots = asyncio.Semaphore(self.settings.max_stream_inflight)

        async def answer(request: InferRequest) -> None:
            reply: InferResponse | StreamError
            try:
                if self.drain.closed:
                    raise ShuttingDown()
                reply = await self.infer(request, caller)
            except Exception as exc:  # noqa: BLE001 - every request on a stream gets exactly one answer
                reply = StreamError(request.model_name, request.id, exc)
            # Out of ``running`` before the answer is queued: the stream may end once both are empty.
            running.discard(asyncio.current_task())
            answers.put_nowait(reply)

        async def read() -> None:
            incoming = aiter(requests)
            try:
                while True:
                    await slots.acquire()
                    try:
                        request = await anext(incoming)
                    except StopAsyncIteration:
                        break
                    task = asyncio.create_task(answer(request))
                    running.add(task)
                    task.add_done_callback(running.discard)
            except Exception as exc:  # noqa: BLE001 - a request that did not parse ends the stream
                await answers.put(_StreamEvent(error=exc))
                return
            while running:
                await asyncio.gather(*list(running))
            await answers.put(_StreamEvent(done=True))

        reader = asyncio.create_task(read())
        forget_drain = self.drain.on_close(lambda: answers.put_nowait(_StreamEvent(closing=True)))
        closing = False
        try:
            while True:
                item = await answers.get()
                if isinstance(item, InferResponse | StreamError):
                    yield item
                    slots.release()
                elif item.error is not None:
                    raise item.error
                elif item.done:
                    return
                else:
                    closing = True
                if closing and not running and answers.empty():
                    raise ShuttingDown()
        finally:
            forget_drain()
            reader.cancel()
            for task in list(running):
                task.cancel()

    def _finished(
        self, request: InferRequest, caller: Caller, model: ServedModel | None, status: str, elapsed: float
    ) -> None:
        """Metrics, statistics and the audit event of one answered (or refused) request."""
        name = model.name if model else request.model_name
        if model is not None and status == "OK":
            model.metrics.requests_ok[caller.protocol].inc()
        else:
            metrics.REQUESTS.labels(self._metric_label(model, name), status, caller.protocol).inc()
        if model is not None:
            model.stats.record_request(status == "OK", elapsed)
            model.metrics.latency.observe(elapsed)
        # Hooks never run on the event loop: the audit thread delivers this.
        self.repository.plugins.post_request_finished(
            model_name=name,
            model_version=model.version if model else request.model_version,
            request_id=request.id,
            principal=caller.name,
            principal_via=caller.via,
            status=status,
            rows=request.rows,
            duration_s=elapsed,
            method=caller.method,
        )

    def _metric_label(self, model: ServedModel | None, name: str) -> str:
        """A model the repository knows (served, loading or failed) by name; any other name a
        client sends is ``<unknown>``, so clients cannot grow the number of series."""
        return name if model is not None or name in self.repository.entries else metrics.UNKNOWN_MODEL


@dataclass(frozen=True)
class _StreamEvent:
    """What stream_infer's reader or the drain tells the stream besides answers."""

    done: bool = False
    closing: bool = False
    error: BaseException | None = None


async def _nothing(model: ServedModel, max_element_bytes: int) -> tuple[Tensors, int]:
    return {}, 0
