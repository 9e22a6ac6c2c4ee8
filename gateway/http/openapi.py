"""The OpenAPI 3 document served at ``/v2/openapi.json``: KServe's v2 REST paths and schema
names (``rest_predict_v2.yaml``), plus the Triton extensions served here."""

from __future__ import annotations

import functools
from typing import Any

from gatewise.gateway import __version__

_ERROR = {"$ref": "#/components/schemas/Error"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A JSON object schema; ``required`` names the properties every valid one has."""
    return {"type": "object", **({"required": list(required)} if required else {}), "properties": properties}


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def _of(kind: str) -> dict[str, str]:
    return {"type": kind}


def _answer(schema: dict[str, Any] | None, description: str, *errors: int) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": description}}
    if schema is not None:
        responses["200"]["content"] = {"application/json": {"schema": schema}}
    for status in errors:
        responses[str(status)] = {"description": _STATUS[status], "content": {"application/json": {"schema": _ERROR}}}
    return responses


_STATUS = {
    400: "bad request: invalid JSON, shape, datatype, data or parameter",
    401: "missing or invalid bearer token",
    403: "the caller may not use this model (or is not an administrator)",
    404: "no such model or version",
    408: "the request body did not arrive in time",
    413: "the request body is over the message limit",
    429: "the model's queue is full",
    503: "not ready, or shutting down (retry elsewhere)",
    504: "the request's timeout passed",
}
_MODEL = [
    {"name": "model", "in": "path", "required": True, "schema": _of("string")},
]
_VERSION = [*_MODEL, {"name": "version", "in": "path", "required": True, "schema": _of("string")}]


def _model_paths(suffix: str, operation: dict[str, Any], method: str = "get") -> dict[str, Any]:
    return {
        f"/v2/models/{{model}}{suffix}": {method: {**operation, "parameters": _MODEL}},
        f"/v2/models/{{model}}/versions/{{version}}{suffix}": {method: {**operation, "parameters": _VERSION}},
    }


@functools.cache
def openapi_document() -> dict[str, Any]:
    tensor = _object(
        {
            "name": _of("string"),
            "shape": _array(_of("integer")),
            "datatype": _of("string"),
            "parameters": _ref("Parameters"),
            "data": {"description": "row-major values, flat or nested; BYTES as strings"},
        },
        ("name", "shape", "datatype"),
    )
    infer_body = {
        "required": True,
        "content": {
            "application/json": {"schema": _ref("InferenceRequest")},
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary"},
                "description": "JSON header of Inference-Header-Content-Length bytes, then the binary tensors",
            },
        },
    }
    paths: dict[str, Any] = {
        "/v2/health/live": {"get": {"summary": "Server Live", "responses": _answer(_ref("LiveResponse"), "live")}},
        "/v2/health/ready": {
            "get": {"summary": "Server Ready", "responses": _answer(_ref("ReadyResponse"), "ready", 503)}
        },
        "/v2": {"get": {"summary": "Server Metadata", "responses": _answer(_ref("MetadataServerResponse"), "ok", 401)}},
        **_model_paths(
            "", {"summary": "Model Metadata", "responses": _answer(_ref("MetadataModelResponse"), "ok", 401, 403, 404)}
        ),
        **_model_paths("/ready", {"summary": "Model Ready", "responses": _answer(_ref("ReadyResponse"), "ready", 503)}),
        **_model_paths(
            "/infer",
            {
                "summary": "Inference",
                "requestBody": infer_body,
                "responses": _answer(_ref("InferenceResponse"), "ok", 400, 401, 403, 404, 408, 413, 429, 503, 504),
            },
            "post",
        ),
        **_model_paths("/config", {"summary": "Model Configuration (Triton)", "responses": _answer({}, "ok", 404)}),
        **_model_paths("/stats", {"summary": "Model Statistics (Triton)", "responses": _answer({}, "ok", 404)}),
        "/v2/models/stats": {"get": {"summary": "Statistics of every model (Triton)", "responses": _answer({}, "ok")}},
        "/v2/repository/index": {
            "post": {"summary": "Repository Index (Triton)", "responses": _answer(_of("array"), "ok")}
        },
        "/v2/repository/models/{model}/load": {
            "post": {"summary": "Load (Triton)", "parameters": _MODEL, "responses": _answer(None, "ok", 400, 403, 404)}
        },
        "/v2/repository/models/{model}/unload": {
            "post": {"summary": "Unload (Triton)", "parameters": _MODEL, "responses": _answer(None, "ok", 403, 404)}
        },
    }
    schemas = {
        "Error": _object({"error": _of("string")}, ("error",)),
        "Parameters": {"type": "object", "additionalProperties": {"oneOf": [_of(t) for t in _SCALAR_TYPES]}},
        "LiveResponse": _object({"live": _of("boolean")}),
        "ReadyResponse": _object({"ready": _of("boolean"), "name": _of("string")}),
        "MetadataServerResponse": _object(
            {"name": _of("string"), "version": _of("string"), "extensions": _array(_of("string"))},
            ("name", "version", "extensions"),
        ),
        "MetadataTensor": _object(
            {"name": _of("string"), "datatype": _of("string"), "shape": _array(_of("integer"))},
            ("name", "datatype", "shape"),
        ),
        "MetadataModelResponse": _object(
            {
                "name": _of("string"),
                "versions": _array(_of("string")),
                "platform": _of("string"),
                "inputs": _array(_ref("MetadataTensor")),
                "outputs": _array(_ref("MetadataTensor")),
            },
            ("name", "platform", "inputs", "outputs"),
        ),
        "RequestInput": tensor,
        "RequestOutput": _object({"name": _of("string"), "parameters": _ref("Parameters")}, ("name",)),
        "InferenceRequest": _object(
            {
                "id": _of("string"),
                "parameters": _ref("Parameters"),
                "inputs": _array(_ref("RequestInput")),
                "outputs": _array(_ref("RequestOutput")),
            },
            ("inputs",),
        ),
        "ResponseOutput": tensor,
        "InferenceResponse": _object(
            {
                "model_name": _of("string"),
                "model_version": _of("string"),
                "id": _of("string"),
                "parameters": _ref("Parameters"),
                "outputs": _array(_ref("ResponseOutput")),
            },
            ("model_name", "outputs"),
        ),
    }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Gatewise: Open Inference Protocol (KServe v2) REST", "version": __version__},
        "paths": paths,
        "components": {"schemas": schemas},
    }


_SCALAR_TYPES = ("boolean", "number", "string")
