"""The GRPCInferenceService: proto -> data plane call -> proto, a few lines per RPC.

Everything a call does is ``gateway.dataplane``'s; this module only translates. Every
error becomes its gRPC status in one place, ``grpc_status``: a ``GatewiseError`` its own
code and message, anything else INTERNAL. ``_status`` aborts unary calls with it and
ModelStreamInfer answers in-band with it. Nothing here blocks the event loop.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from gatewise.gateway import tracing
from gatewise.gateway.codec import encode_outputs, parameter_value, set_parameter
from gatewise.gateway.dataplane import Caller, DataPlane, InferRequest, InferResponse, StreamError
from gatewise.gateway.intake import read_inputs
from gatewise.gateway.security.principal import current_principal
from gatewise.gateway.throttle import RateLimitedLog
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos import grpc_service_pb2_grpc as pb_grpc
from gatewise.protos.errors import GatewiseError, ShuttingDown

__all__ = ["InferenceServicer", "grpc_status"]

log = logging.getLogger("gatewise.servicer")
_failures = RateLimitedLog(log)

_Response = TypeVar("_Response")


def grpc_status(exc: BaseException, method: str) -> tuple[grpc.StatusCode, str]:
    """(code, message) a client gets when ``method`` failed with ``exc``: the one error -> status table.

    A GatewiseError carries both. Anything else is a bug: it is logged here with its
    traceback, and the client reads only its type, never its text (which may quote a request).
    """
    if isinstance(exc, GatewiseError):
        return exc.status, exc.message
    _failures(logging.ERROR, f"{method}:{type(exc).__name__}", "%s failed", method, exc_info=exc)
    return grpc.StatusCode.INTERNAL, f"{method} failed: {type(exc).__name__}"


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

    def __init__(self, dataplane: DataPlane) -> None:
        self.dataplane = dataplane

    # ------------------------------------------------------------ health and metadata

    async def ServerLive(self, request: pb.ServerLiveRequest, context: Any) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=self.dataplane.live())

    async def ServerReady(self, request: pb.ServerReadyRequest, context: Any) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.dataplane.ready)

    async def ModelReady(self, request: pb.ModelReadyRequest, context: Any) -> pb.ModelReadyResponse:
        return pb.ModelReadyResponse(ready=self.dataplane.model_ready(request.name, request.version))

    async def ServerMetadata(self, request: pb.ServerMetadataRequest, context: Any) -> pb.ServerMetadataResponse:
        name, version, extensions = self.dataplane.server_metadata()
        return pb.ServerMetadataResponse(name=name, version=version, extensions=extensions)

    @_status
    async def ModelMetadata(self, request: pb.ModelMetadataRequest, context: Any) -> pb.ModelMetadataResponse:
        metadata = self.dataplane.model_metadata(request.name, request.version)
        response = pb.ModelMetadataResponse(name=metadata.name, versions=metadata.versions, platform=metadata.platform)
        for spec in metadata.inputs:
            response.inputs.add(name=spec.name, datatype=spec.datatype, shape=spec.shape)
        for spec in metadata.outputs:
            response.outputs.add(name=spec.name, datatype=spec.datatype, shape=spec.shape)
        return response

    @_status
    async def ModelConfig(self, request: pb.ModelConfigRequest, context: Any) -> pb.ModelConfigResponse:
        return pb.ModelConfigResponse(config=self.dataplane.model_config(request.name, request.version))

    @_status
    async def ModelStatistics(self, request: pb.ModelStatisticsRequest, context: Any) -> pb.ModelStatisticsResponse:
        return self.dataplane.statistics(request.name, request.version)

    # ------------------------------------------------------------ repository

    @_status
    async def RepositoryIndex(self, request: pb.RepositoryIndexRequest, context: Any) -> pb.RepositoryIndexResponse:
        response = pb.RepositoryIndexResponse()
        for row in self.dataplane.repository_index(request.ready, current_principal()):
            response.models.add(name=row.name, version=row.version, state=row.state, reason=row.reason)
        return response

    @_status
    async def RepositoryModelLoad(
        self, request: pb.RepositoryModelLoadRequest, context: Any
    ) -> pb.RepositoryModelLoadResponse:
        await self.dataplane.load(request.model_name, list(request.parameters))
        return pb.RepositoryModelLoadResponse()

    @_status
    async def RepositoryModelUnload(
        self, request: pb.RepositoryModelUnloadRequest, context: Any
    ) -> pb.RepositoryModelUnloadResponse:
        await self.dataplane.unload(request.model_name)
        return pb.RepositoryModelUnloadResponse()

    # ------------------------------------------------------------ inference

    @_status
    async def ModelInfer(
        self, request: pb.ModelInferRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInferResponse:
        with tracing.span("infer", model=request.model_name):
            answer = await self.dataplane.infer(infer_request(request, context), _caller("ModelInfer"))
            return infer_response(answer)

    async def ModelStreamInfer(
        self, request_iterator: AsyncIterator[pb.ModelInferRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ModelStreamInferResponse]:
        """Requests are answered as they finish (matched by ``id``), errors in-band; when the
        server drains, the stream ends with UNAVAILABLE (``DataPlane.stream_infer``)."""

        async def requests() -> AsyncIterator[InferRequest]:
            async for request in request_iterator:
                yield infer_request(request, context)

        try:
            async for item in self.dataplane.stream_infer(requests(), _caller("ModelStreamInfer")):
                if isinstance(item, StreamError):
                    _, message = grpc_status(item.error, "ModelStreamInfer")
                    echo = pb.ModelInferResponse(model_name=item.model_name, id=item.id)
                    yield pb.ModelStreamInferResponse(error_message=message, infer_response=echo)
                else:
                    yield pb.ModelStreamInferResponse(infer_response=infer_response(item))
        except ShuttingDown as exc:
            await context.abort(*grpc_status(exc, "ModelStreamInfer"))


def _caller(method: str) -> Caller:
    """The principal the auth interceptor proved (never read from metadata a client could forge)."""
    return Caller(current_principal(), "grpc", method)


def infer_request(request: pb.ModelInferRequest, context: grpc.aio.ServicerContext) -> InferRequest:
    """A ModelInferRequest as the data plane takes it; its tensors are decoded only once the model is found."""
    remaining = context.time_remaining()
    return InferRequest(
        model_name=request.model_name,
        model_version=request.model_version,
        id=request.id,
        decode=lambda model, max_element_bytes: read_inputs(request, model, max_element_bytes),
        outputs=[output.name for output in request.outputs],
        parameters={key: parameter_value(value) for key, value in request.parameters.items()},
        deadline=None if remaining is None else time.monotonic() + remaining,
        rows=request.inputs[0].shape[0] if request.inputs and request.inputs[0].shape else 0,
    )


def infer_response(answer: InferResponse) -> pb.ModelInferResponse:
    response = pb.ModelInferResponse(model_name=answer.model_name, model_version=answer.model_version, id=answer.id)
    encode_outputs(response, answer.outputs)
    for name, value in answer.parameters.items():
        set_parameter(response.parameters, name, value)
    return response
