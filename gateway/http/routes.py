"""The HTTP/REST routes: KServe v2 REST, plus Triton's HTTP extensions, each a few lines
that read the request, call the data plane and write JSON (``gateway.http.codec`` for
tensors). What every route shares (authentication, admission by the drain, errors, CORS)
is ``gateway.http.middleware``; each route declares what it needs with ``route``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from gatewise.gateway import tracing
from gatewise.gateway.dataplane import Caller, DataPlane, InferRequest, ModelMetadata
from gatewise.gateway.http import codec
from gatewise.gateway.http.openapi import openapi_document
from gatewise.gateway.http.proto_json import to_json
from gatewise.gateway.intake import OFF_LOOP_BYTES
from gatewise.gateway.security.principal import Principal
from gatewise.gateway.settings import ServerSettings
from gatewise.gateway.validation import validate_inputs
from gatewise.protos.errors import InvalidInput, TooLarge

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JSON = "application/json"
PRINCIPAL = web.RequestKey("principal", Principal)
"""The caller the middleware authenticated (absent without authentication)."""


@dataclass(frozen=True)
class Rule:
    """What a route needs besides being routed: the HTTP counterpart of ``security.rules.RULES``."""

    exempt: bool = False
    """Answered without credentials and without admission (probes, the OpenAPI document)."""
    model_scoped: bool = False
    """Authorised against the ``{model}`` in its path ("" where the path names none: every model)."""
    admin: bool = False
    method: str = ""
    """The protocol's name for the call, for audit events of refusals."""


def route(rule: Rule) -> Callable[[Handler], Handler]:
    def mark(handler: Handler) -> Handler:
        handler.rule = rule  # type: ignore[attr-defined]
        return handler

    return mark


def json_response(document: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(document), status=status, content_type=JSON)


class Routes:
    """The route handlers, bound to one data plane."""

    def __init__(self, dataplane: DataPlane, settings: ServerSettings) -> None:
        self.dataplane = dataplane
        self.settings = settings

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_get("/v2/models/stats", self.statistics)  # before /v2/models/{model} would take it
        for prefix in ("/v2/models/{model}", "/v2/models/{model}/versions/{version}"):
            router.add_get(prefix, self.model_metadata)
            router.add_get(prefix + "/ready", self.model_ready)
            router.add_post(prefix + "/infer", self.infer)
            router.add_get(prefix + "/config", self.model_config)
            router.add_get(prefix + "/stats", self.statistics)
        router.add_get("/v2/health/live", self.live)
        router.add_get("/v2/health/ready", self.ready)
        router.add_get("/v2", self.server_metadata)
        router.add_post("/v2/repository/index", self.repository_index)
        router.add_post("/v2/repository/models/{model}/load", self.load)
        router.add_post("/v2/repository/models/{model}/unload", self.unload)
        router.add_get("/v2/openapi.json", self.openapi)

    # ------------------------------------------------------------ health and metadata

    @route(Rule(exempt=True))
    async def live(self, request: web.Request) -> web.Response:
        return json_response({"live": self.dataplane.live()})

    @route(Rule(exempt=True))
    async def ready(self, request: web.Request) -> web.Response:
        """200 when ready, else 503: a Kubernetes httpGet probe reads only the status."""
        ready = self.dataplane.ready
        return json_response({"ready": ready}, 200 if ready else 503)

    @route(Rule(model_scoped=True, method="ModelReady"))
    async def model_ready(self, request: web.Request) -> web.Response:
        name, version = _model(request)
        ready = self.dataplane.model_ready(name, version)
        return json_response({"name": name, "ready": ready}, 200 if ready else 503)

    @route(Rule(method="ServerMetadata"))
    async def server_metadata(self, request: web.Request) -> web.Response:
        name, version, extensions = self.dataplane.server_metadata()
        return json_response({"name": name, "version": version, "extensions": list(extensions)})

    @route(Rule(model_scoped=True, method="ModelMetadata"))
    async def model_metadata(self, request: web.Request) -> web.Response:
        return json_response(_metadata_json(self.dataplane.model_metadata(*_model(request))))

    @route(Rule(model_scoped=True, method="ModelConfig"))
    async def model_config(self, request: web.Request) -> web.Response:
        return json_response(to_json(self.dataplane.model_config(*_model(request))))

    @route(Rule(model_scoped=True, method="ModelStatistics"))
    async def statistics(self, request: web.Request) -> web.Response:
        return json_response(to_json(self.dataplane.statistics(*_model(request))))

    @route(Rule(exempt=True))
    async def openapi(self, request: web.Request) -> web.Response:
        return json_response(openapi_document())

    # ------------------------------------------------------------ repository

    @route(Rule(method="RepositoryIndex"))
    async def repository_index(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        ready = body.get("ready", False)
        if not isinstance(ready, bool):
            raise InvalidInput(f"'ready' must be true or false, got {ready!r}")
        rows = self.dataplane.repository_index(ready, request.get(PRINCIPAL))
        return json_response([_index_json(row) for row in rows])

    @route(Rule(model_scoped=True, admin=True, method="RepositoryModelLoad"))
    async def load(self, request: web.Request) -> web.Response:
        parameters = (await self._json_body(request)).get("parameters") or {}
        if not isinstance(parameters, dict):
            raise InvalidInput("'parameters' must be an object")
        await self.dataplane.load(request.match_info["model"], list(parameters))
        return web.Response(status=200)

    @route(Rule(model_scoped=True, admin=True, method="RepositoryModelUnload"))
    async def unload(self, request: web.Request) -> web.Response:
        # tritonclient always sends {"parameters": {"unload_dependents": false}}; a model here has no dependents.
        await self._json_body(request)
        await self.dataplane.unload(request.match_info["model"])
        return web.Response(status=200)

    # ------------------------------------------------------------ inference

    @route(Rule(model_scoped=True, method="ModelInfer"))
    async def infer(self, request: web.Request) -> web.Response:
        name, version = _model(request)
        caller = Caller(request.get(PRINCIPAL), "http", "ModelInfer")
        self.dataplane.check_served(name, version, caller)  # 404 / 503 before the body is read
        body = await self.read_body(request)
        parsed = codec.parse_infer(body, request.headers.get(codec.HEADER_LENGTH))

        async def decode(model: Any, max_element_bytes: int) -> tuple[dict[str, Any], int]:
            # Large bodies decode in a worker thread, as gRPC's intake does: the loop serves every other call.
            if len(body) > OFF_LOOP_BYTES:
                inputs = await asyncio.to_thread(parsed.decode, max_element_bytes)
            else:
                inputs = parsed.decode(max_element_bytes)
            specs, max_batch_size = model.signature.inputs, model.config.max_batch_size
            return inputs, validate_inputs(model.name, inputs, specs, max_batch_size)

        infer_request = InferRequest(
            model_name=name,
            model_version=version,
            id=parsed.id,
            decode=decode,
            outputs=parsed.outputs,
            parameters=parsed.parameters,
            deadline=_deadline(parsed.parameters),
            rows=parsed.rows,
        )
        with tracing.span("infer", parent=tracing.extract(request.headers), model=name):
            answer = await self.dataplane.infer(infer_request, caller)
        payload, header_length = codec.encode_infer(answer, parsed.binary_outputs, parsed.all_binary)
        if header_length is None:
            return web.Response(body=payload, content_type=JSON)
        response = web.Response(body=payload, content_type="application/octet-stream")
        response.headers[codec.HEADER_LENGTH] = str(header_length)
        return response

    async def read_body(self, request: web.Request) -> bytes:
        """The (decompressed) body: 413 from Content-Length before a byte is read where it is given,
        else once the decompressed size passes the limit; 408 when it takes too long to arrive."""
        limit = self.settings.max_message_bytes
        if request.content_length is not None and request.content_length > limit and not _compressed(request):
            raise TooLarge(request.content_length, limit)
        try:
            async with asyncio.timeout(self.settings.http_read_timeout_s):
                return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise TooLarge(None, limit) from None
        except TimeoutError:
            raise web.HTTPRequestTimeout(
                text=f"the request body did not arrive within {self.settings.http_read_timeout_s:g} s"
            ) from None

    async def _json_body(self, request: web.Request) -> dict[str, Any]:
        """An optional JSON object body (empty: {})."""
        body = await self.read_body(request)
        if not body.strip():
            return {}
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"the request body is not valid JSON ({exc})") from None
        if not isinstance(document, dict):
            raise InvalidInput("the request body must be a JSON object")
        return document


def _model(request: web.Request) -> tuple[str, str]:
    info = request.match_info
    return info.get("model", ""), info.get("version", "")


def _compressed(request: web.Request) -> bool:
    """A compressed body's Content-Length says nothing of its decompressed size, which is what the limit caps."""
    return request.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")


def _deadline(parameters: dict[str, Any]) -> float | None:
    """Triton's ``timeout`` request parameter (microseconds) as a deadline; it never reaches the model."""
    timeout = parameters.pop("timeout", None)
    if timeout is None:
        return None
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
        raise InvalidInput(f"parameter 'timeout' must be a positive number of microseconds, got {timeout!r}")
    return time.monotonic() + timeout / 1e6


def _metadata_json(metadata: ModelMetadata) -> dict[str, Any]:
    def tensors(specs: Any) -> list[dict[str, Any]]:
        return [{"name": spec.name, "datatype": spec.datatype, "shape": list(spec.shape)} for spec in specs]

    return {
        "name": metadata.name,
        "versions": metadata.versions,
        "platform": metadata.platform,
        "inputs": tensors(metadata.inputs),
        "outputs": tensors(metadata.outputs),
    }


def _index_json(row: Any) -> dict[str, str]:
    entry = {"name": row.name, "version": row.version, "state": row.state}
    if row.reason:
        entry["reason"] = row.reason
    return entry
