"""The GRPCInferenceService: proto -> internal types -> one call into the core -> proto.

Thin on purpose: decoding is ``codec``, checks are ``validation``, work is
``ServedModel``. Every error becomes its gRPC status in one place, ``grpc_status``: a
``GatewiseError`` its own code and message, anything else INTERNAL. ``_status`` aborts
unary calls with it and ModelStreamInfer answers in-band with it. Nothing here blocks
the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from gatewise.gateway import __version__, explanations, metrics, tracing
from gatewise.gateway.codec import encode_outputs, parameter_value, set_parameter
from gatewise.gateway.drain import Drain
from gatewise.gateway.engines import registry
from gatewise.gateway.intake import read_inputs
from gatewise.gateway.model import ServedModel, VersionInfo
from gatewise.gateway.records.recorder import Recorder
from gatewise.gateway.repository import ModelRepository
from gatewise.gateway.security import ANONYMOUS, current_principal, visible_index
from gatewise.gateway.settings import ServerSettings
from gatewise.gateway.throttle import RateLimitedLog
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos import grpc_service_pb2_grpc as pb_grpc
from gatewise.protos import model_config_pb2 as config_pb
from gatewise.protos.errors import GatewiseError, InvalidInput, ShuttingDown
from gatewise.protos.tensors import DATATYPE_TO_TRITON

log = logging.getLogger("gatewise.servicer")
_failures = RateLimitedLog(log)

EXTENSIONS = ("model_repository", "model_configuration", "statistics", "parameters", "binary_tensor_data")
_Response = TypeVar("_Response")
VersionView = ServedModel | VersionInfo
"""A version as clients see it: loaded, or described while it is not resident."""


def status_code(exc: BaseException) -> grpc.StatusCode:
    """The code a client gets for ``exc``: a GatewiseError's own, INTERNAL for anything else."""
    return exc.status if isinstance(exc, GatewiseError) else grpc.StatusCode.INTERNAL


def grpc_status(exc: Exception, method: str) -> tuple[grpc.StatusCode, str]:
    """(code, message) a client gets when ``method`` failed with ``exc``: the one error -> status table.

    A GatewiseError carries both. Anything else is a bug: it is logged here with its
    traceback, and the client reads only its type, never its text (which may quote a request).
    """
    if isinstance(exc, GatewiseError):
        return exc.status, exc.message
    _failures(logging.ERROR, f"{method}:{type(exc).__name__}", "%s failed", method, exc_info=exc)
    return status_code(exc), f"{method} failed: {type(exc).__name__}"


def _status(
    method: Callable[..., Awaitable[_Response]],
) -> Callable[..., Awaitable[_Response]]:
    """Abort a failed unary call with ``grpc_status``: the last line of defence keeps the server up."""

    @functools.wraps(method)
    async def wrapper(self: InferenceServicer, request: Any, context: grpc.aio.ServicerContext) -> _Response:
        try:
            return await method(self, request, context)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a status, never a dead server
            await context.abort(*grpc_status(exc, method.__name__))
        raise AssertionError("unreachable: context.abort raises")

    return wrapper


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """The Open Inference Protocol, plus the Triton extensions clients call."""

    def __init__(
        self, repository: ModelRepository, settings: ServerSettings, drain: Drain, recorder: Recorder | None = None
    ) -> None:
        self.repository = repository
        self.recorder = recorder
        """Keeps decision records (``gateway.records``); None when the server keeps none."""
        self.settings = settings
        tracing.configure(settings.tracing)
        self.ready = False
        """Set once the initial load pass finished; cleared when shutting down."""
        self.drain = drain
        """Admits this service's calls (``gateway.admission``); streams wind down when it closes."""

    # ------------------------------------------------------------ health and metadata

    async def ServerLive(self, request: pb.ServerLiveRequest, context: Any) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: pb.ServerReadyRequest, context: Any) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.ready)

    async def ModelReady(self, request: pb.ModelReadyRequest, context: Any) -> pb.ModelReadyResponse:
        return pb.ModelReadyResponse(ready=self.repository.is_ready(request.name, request.version))

    async def ServerMetadata(self, request: pb.ServerMetadataRequest, context: Any) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name="gatewise", version=__version__, extensions=EXTENSIONS)

    @_status
    async def ModelMetadata(self, request: pb.ModelMetadataRequest, context: Any) -> pb.ModelMetadataResponse:
        model = self.repository.info(request.name, request.version)  # never loads an on-demand model
        response = pb.ModelMetadataResponse(
            name=model.name,
            versions=self.repository.versions(model.name),
            platform=registry.get(model.config.backend).platform,
        )
        for spec in model.signature.inputs:
            response.inputs.add(name=spec.name, datatype=spec.datatype, shape=spec.shape)
        for spec in explanations.listed_outputs(model):
            response.outputs.add(name=spec.name, datatype=spec.datatype, shape=spec.shape)
        return response

    @_status
    async def ModelConfig(self, request: pb.ModelConfigRequest, context: Any) -> pb.ModelConfigResponse:
        model = self.repository.info(request.name, request.version)
        proto = model_config_proto(model)
        residency_parameters(proto, self.repository, model)
        return pb.ModelConfigResponse(config=proto)

    @_status
    async def ModelStatistics(self, request: pb.ModelStatisticsRequest, context: Any) -> pb.ModelStatisticsResponse:
        repository = self.repository
        if request.name:
            models = [repository.info(request.name, request.version)]
            if not request.version:
                models = [repository.info(request.name, version) for version in repository.versions(request.name)]
        else:
            models = [
                repository.info(name, version)
                for name, entry in repository.entries.items()
                if entry.versions or entry.described
                for version in repository.versions(name)
            ]
        return pb.ModelStatisticsResponse(model_stats=[statistics_proto(model) for model in models])

    # ------------------------------------------------------------ repository

    @_status
    async def RepositoryIndex(self, request: pb.RepositoryIndexRequest, context: Any) -> pb.RepositoryIndexResponse:
        response = pb.RepositoryIndexResponse()
        rows = visible_index(self.repository.index(), current_principal(), self.repository.root)
        for name, version, state, reason in rows:
            if request.ready and state != "READY":
                continue
            response.models.add(name=name, version=version, state=state, reason=reason)
        return response

    @_status
    async def RepositoryModelLoad(
        self, request: pb.RepositoryModelLoadRequest, context: Any
    ) -> pb.RepositoryModelLoadResponse:
        if request.parameters:
            raise InvalidInput(
                f"RepositoryModelLoad parameters {sorted(request.parameters)} are not supported; "
                "edit the model's config.toml and load again"
            )
        await self.repository.load(request.model_name)  # and pins it: never evicted until unloaded
        return pb.RepositoryModelLoadResponse()

    @_status
    async def RepositoryModelUnload(
        self, request: pb.RepositoryModelUnloadRequest, context: Any
    ) -> pb.RepositoryModelUnloadResponse:
        await self.repository.unload(request.model_name)
        return pb.RepositoryModelUnloadResponse()

    # ------------------------------------------------------------ inference

    @_status
    async def ModelInfer(
        self, request: pb.ModelInferRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInferResponse:
        with tracing.span("infer", model=request.model_name):
            return await self._infer(request, context, "ModelInfer")

    async def ModelStreamInfer(
        self, request_iterator: AsyncIterator[pb.ModelInferRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ModelStreamInferResponse]:
        """Requests are answered as they finish (matched by ``id``), errors in-band.

        Backpressure: at most ``max_stream_inflight`` requests per stream are read and not
        yet written back. Past that, no further request is read, so a client that sends and
        never reads stalls on HTTP/2 flow control instead of growing the server's memory.

        When shutdown closes the drain, requests read from then on are answered in-band
        with UNAVAILABLE, and once every earlier one is answered the stream ends with
        UNAVAILABLE, so the client reconnects to another replica.
        """
        answers: asyncio.Queue[pb.ModelStreamInferResponse | _StreamEvent] = asyncio.Queue()
        running: set[asyncio.Task] = set()
        # One slot per request read and not yet written back; ``yield`` returns once grpc took the answer.
        slots = asyncio.Semaphore(self.settings.max_stream_inflight)

        async def answer(request: pb.ModelInferRequest) -> None:
            try:
                if self.drain.closed:
                    raise ShuttingDown()
                response = await self._infer(request, context, "ModelStreamInfer")
                reply = pb.ModelStreamInferResponse(infer_response=response)
            except Exception as exc:  # noqa: BLE001 - every request on a stream gets exactly one answer
                _, message = grpc_status(exc, "ModelStreamInfer")
                echo = pb.ModelInferResponse(model_name=request.model_name, id=request.id)
                reply = pb.ModelStreamInferResponse(error_message=message, infer_response=echo)
            # Out of ``running`` before the answer is queued: the stream may end once both are empty.
            running.discard(asyncio.current_task())
            answers.put_nowait(reply)

        async def read() -> None:
            requests = aiter(request_iterator)
            try:
                while True:
                    await slots.acquire()
                    try:
                        request = await anext(requests)
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
                if isinstance(item, pb.ModelStreamInferResponse):
                    yield item
                    slots.release()
                elif item.error is not None:
                    raise item.error
                elif item.done:
                    return
                else:
                    closing = True
                if closing and not running and answers.empty():
                    await context.abort(*grpc_status(ShuttingDown(), "ModelStreamInfer"))
        finally:
            forget_drain()
            reader.cancel()
            for task in list(running):
                task.cancel()

    async def _infer(
        self, request: pb.ModelInferRequest, context: grpc.aio.ServicerContext, method: str
    ) -> pb.ModelInferResponse:
        started = time.perf_counter()
        model: ServedModel | None = None
        status = "OK"
        inputs = outputs = None
        try:
            remaining = context.time_remaining()
            deadline = None if remaining is None else time.monotonic() + remaining
            # Held until answered, so it is never evicted under this request; loads it when on demand.
            model = await self.repository.acquire(request.model_name, request.model_version, deadline)
            inputs, rows = await read_inputs(request, model, self.settings.max_string_bytes)
            parameters = {key: parameter_value(value) for key, value in request.parameters.items()}
            named = [output.name for output in request.outputs]
            requested, explaining = explanations.outputs_for(model, named, parameters)
            # explain_* parameters are read (and checked) only when this request gets an explanation.
            if explaining:
                chosen = explanations.options(model, parameters, rows, self.settings)
            result = await model.infer(inputs, rows, parameters, deadline)
            if explaining:
                derived = await explanations.explain(model, inputs, result.outputs, rows, parameters, chosen, deadline)
                result.outputs.update(derived)
            response = pb.ModelInferResponse(model_name=model.name, model_version=model.version, id=request.id)
            encode_outputs(response, ((name, result.outputs[name]) for name in requested))
            for name, value in result.parameters.items():
                set_parameter(response.parameters, name, value)
            outputs = result.outputs
            return response
        except asyncio.CancelledError:
            status = "CANCELLED"
            raise
        except Exception as exc:
            status = status_code(exc).name  # what the client gets, for metrics and the audit trail
            raise
        finally:
            # The decision record (gateway.records); under policy "require" a record that was not
            # kept turns the answer into UNAVAILABLE, raised once metrics and audit have seen it.
            unkept = None
            try:
                if self.recorder is not None and status != "CANCELLED":
                    trace = tracing.trace_id()
                    who = current_principal()
                    unkept = await self.recorder.keep(
                        model, request.id, trace, method, who, inputs, outputs, status, started
                    )
                    status = status_code(unkept).name if unkept else status
            finally:
                if model is not None:  # the request is done with it: it may be evicted from now on
                    self.repository.release(model)
            elapsed = time.perf_counter() - started
            name = model.name if model else request.model_name
            if model is not None and status == "OK":
                model.metrics.requests_ok.inc()
            else:
                metrics.REQUESTS.labels(self._metric_label(model, name), status).inc()
            if model is not None:
                model.stats.record_request(status == "OK", elapsed)
                model.metrics.latency.observe(elapsed)
            # Hooks never run on the event loop: the audit thread delivers this.
            caller = current_principal() or ANONYMOUS
            self.repository.plugins.post_request_finished(
                model_name=name,
                model_version=model.version if model else request.model_version,
                request_id=request.id,
                principal=caller.name,
                principal_via=caller.via,
                status=status,
                rows=request.inputs[0].shape[0] if request.inputs and request.inputs[0].shape else 0,
                duration_s=elapsed,
                method=method,
            )
            if unkept is not None:
                raise unkept

    def _metric_label(self, model: ServedModel | None, name: str) -> str:
        """A model the repository knows (served, loading or failed) by name; any other name a
        client sends is ``<unknown>``, so clients cannot grow the number of series."""
        return name if model is not None or name in self.repository.entries else metrics.UNKNOWN_MODEL


@dataclass(frozen=True)
class _StreamEvent:
    """What ModelStreamInfer's reader or the drain tells the stream besides answers."""

    done: bool = False
    closing: bool = False
    error: BaseException | None = None


def residency_parameters(proto: config_pb.ModelConfig, repository: ModelRepository, model: VersionView) -> None:
    """ModelConfig's parameters for residency: the load policy, whether it is resident, its measured footprint."""
    entry = repository.entries[model.name]
    proto.parameters["load"].string_value = "on-demand" if entry.on_demand else "always"
    proto.parameters["pinned"].string_value = "true" if entry.pinned else "false"
    proto.parameters["resident"].string_value = "true" if entry.versions else "false"
    footprint = repository.footprint(model.name, model.version)
    if footprint is not None:
        proto.parameters["memory_host_bytes"].string_value = str(footprint.host)
        if footprint.device_id is not None:
            proto.parameters["memory_device_bytes"].string_value = str(footprint.device)
            proto.parameters["memory_device_id"].string_value = str(footprint.device_id)


def model_config_proto(model: VersionView) -> config_pb.ModelConfig:
    """Triton's ModelConfig for a served model.

    Where every input has a per-row shape (``[-1, 4]``), ``max_batch_size`` is the batcher's
    and dims exclude the batch dimension, as in Triton. Where an input is one value per
    row (``text``: ``[-1]``), Triton's convention has no per-row dims to report and
    perf_analyzer refuses such a model; so, as Triton does for a model it does not batch
    itself, ``max_batch_size`` is 0 and dims are the full shape. Such a request still
    carries up to ``max_batch_rows`` rows and is batched dynamically with others.
    """
    config = model.config
    batching = config.batching
    per_row = all(len(spec.shape) > 1 for spec in model.signature.inputs)
    skip = 1 if per_row else 0
    proto = config_pb.ModelConfig(
        name=model.name,
        platform=registry.get(config.backend).platform,
        backend=config.backend,
        max_batch_size=batching.max_batch_size if per_row else 0,
        dynamic_batching=config_pb.ModelDynamicBatching(
            preferred_batch_size=batching.preferred_batch_sizes,
            max_queue_delay_microseconds=int(batching.max_queue_delay_ms * 1000),
            default_queue_policy=config_pb.ModelQueuePolicy(max_queue_size=batching.max_queue_size),
        ),
    )
    for spec in model.signature.inputs:
        proto.input.add(name=spec.name, data_type=DATATYPE_TO_TRITON[spec.datatype], dims=spec.shape[skip:])
    for spec in explanations.listed_outputs(model):
        proto.output.add(name=spec.name, data_type=DATATYPE_TO_TRITON[spec.datatype], dims=spec.shape[skip:])
    proto.parameters["max_batch_rows"].string_value = str(batching.max_batch_size)
    facts = model.describe()  # the served version's own engine, not config.toml's default backend
    on_gpu = facts.get("device") == "gpu"
    kind = config_pb.ModelInstanceGroup.KIND_GPU if on_gpu else config_pb.ModelInstanceGroup.KIND_CPU
    proto.instance_group.add(name=f"{model.name}_0", count=config.instances, kind=kind)
    for key, value in facts.items():
        proto.parameters[key].string_value = value
    if config.plugin:
        proto.parameters["plugin"].string_value = config.plugin
    if model.drift:
        proto.parameters["drift"].string_value = model.drift
    for key, value in explanations.how_to_ask(model).items():
        proto.parameters[key].string_value = value
    return proto


def statistics_proto(model: VersionView) -> pb.ModelStatistics:
    stats = model.stats

    def duration(value: Any) -> pb.StatisticDuration:
        return pb.StatisticDuration(count=value.count, ns=value.ns)

    proto = pb.ModelStatistics(
        name=model.name,
        version=model.version,
        last_inference=stats.last_inference_ms,
        inference_count=stats.inference_count,
        execution_count=stats.execution_count,
        inference_stats=pb.InferStatistics(
            success=duration(stats.success),
            fail=duration(stats.fail),
            queue=duration(stats.queue),
            compute_input=duration(stats.compute_input),
            compute_infer=duration(stats.compute_infer),
            compute_output=duration(stats.compute_output),
        ),
    )
    for size, per_size in sorted(stats.by_batch_size.items()):
        proto.batch_stats.add(
            batch_size=size,
            compute_input=duration(per_size.compute_input),
            compute_infer=duration(per_size.compute_infer),
            compute_output=duration(per_size.compute_output),
        )
    return proto
