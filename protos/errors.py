"""Every error Gatewise raises, each carrying the status a client sees on either front door.

    error                               gRPC code            HTTP status
    GatewiseError                       INTERNAL             500
    ├── InvalidConfig                   (load-time: fails one model)
    ├── ModelNotFound                   NOT_FOUND            404
    ├── ModelNotReady                   UNAVAILABLE          503
    ├── ShuttingDown                    UNAVAILABLE          503 (the call never ran: safe to retry)
    ├── RecordNotKept                   UNAVAILABLE          503 (policy "require": no answer without its record)
    ├── InvalidInput                    INVALID_ARGUMENT     400
    │   ├── MalformedMessage            (the request bytes are not the method's protobuf)
    │   └── TooLarge                                         413 (over the message limit)
    ├── QueueFull                       RESOURCE_EXHAUSTED   429
    ├── OverBudget                      RESOURCE_EXHAUSTED   507 (larger than the memory budget allows)
    ├── DeadlineExceeded                DEADLINE_EXCEEDED    504
    ├── EngineError                     INTERNAL             500
    ├── PluginError                     INVALID_ARGUMENT or INTERNAL (400 or 500)
    ├── AuthError                       UNAUTHENTICATED      401
    ├── Forbidden                       PERMISSION_DENIED    403
    └── StartupError                    (the server cannot start: `gatewise serve` says why and exits 1)
        └── KeyFileError                (the API key file is missing, not TOML, or an entry is bad)

``status`` is the gRPC code and ``http_status`` the HTTP one; each front door turns an
error into its wire form in one function (``gateway.servicer.grpc_status``,
``gateway.http.errors.http_error``) that reads only these two attributes. They live beside
the wire protocol because the status is part of the protocol: the gateway, the plugins and
the converters all raise from this one tree.
"""

from __future__ import annotations

from pathlib import Path

import grpc
from gatewise.protos.quoting import QUOTE_CHARS, clip, quote

ONNXRUNTIME_MISSING = (
    "ONNX Runtime is not installed: pip install 'gatewise[cpu]' (CPU) or 'gatewise[gpu]' (CUDA 13, driver >= 580); "
    "gatewise installs neither by itself because both packages write the same onnxruntime/ folder"
)
"""What the engine, the converters and the plugin harness say when neither ONNX Runtime package is there."""


class GatewiseError(Exception):
    """Root of every error the gateway turns into a gRPC status."""

    status: grpc.StatusCode = grpc.StatusCode.INTERNAL
    """The gRPC status code a client gets."""
    http_status: int = 500
    """The HTTP status a client gets."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidConfig(GatewiseError):
    """A model's config.toml is missing, malformed or names a bad value."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")


class ModelNotFound(GatewiseError):
    """No model (or no such version of it) is in the repository."""

    status = grpc.StatusCode.NOT_FOUND
    http_status = 404

    def __init__(self, name: str, version: str = "") -> None:
        what = f"model {quote(name)}" + (f" version {quote(version)}" if version else "")
        super().__init__(f"{what} is not in the repository")


class ModelNotReady(GatewiseError):
    """The model exists but is loading, unloading or failed to load."""

    status = grpc.StatusCode.UNAVAILABLE
    http_status = 503

    def __init__(self, name: str, state: str, reason: str = "") -> None:
        super().__init__(f"model {name!r} is not ready ({state})" + (f": {reason}" if reason else ""))


class ShuttingDown(GatewiseError):
    """The server stopped taking calls (SIGTERM); the call never ran, so a retry is safe."""

    status = grpc.StatusCode.UNAVAILABLE
    http_status = 503

    def __init__(self) -> None:
        super().__init__("the server is shutting down and takes no new calls; retry (another replica will answer)")


class RecordNotKept(GatewiseError):
    """The model's records policy is ``require`` and this decision's record could not be kept."""

    status = grpc.StatusCode.UNAVAILABLE
    http_status = 503

    def __init__(self, model: str, reason: str) -> None:
        super().__init__(
            f"model {model!r}: the decision record could not be kept ({reason}); "
            "its records policy is 'require', so no answer is returned without it"
        )
        self.model = model


class InvalidInput(GatewiseError):
    """A request's tensors do not fit the model's public signature."""

    status = grpc.StatusCode.INVALID_ARGUMENT
    http_status = 400


class MalformedMessage(InvalidInput):
    """The request's bytes do not parse as the protobuf message the method takes."""

    def __init__(self, method: str, message_type: str, problem: str) -> None:
        super().__init__(f"{method}: the request is not a valid {message_type} message ({problem})")


class TooLarge(InvalidInput):
    """A request body is over the message limit (HTTP 413; gRPC's own limit answers RESOURCE_EXHAUSTED)."""

    http_status = 413

    def __init__(self, size: int | None, limit: int) -> None:
        told = f" ({size} bytes)" if size is not None else ""
        super().__init__(f"the request body{told} is over the limit of {limit} bytes")


class QueueFull(GatewiseError):
    """The model's queue holds its maximum of waiting requests."""

    status = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 429

    def __init__(self, name: str, limit: int) -> None:
        super().__init__(f"model {name!r} queue is full ({limit} requests waiting); retry later")


class OverBudget(GatewiseError):
    """A model that cannot fit in the memory budget, even with every unpinned model evicted."""

    status = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 507  # Insufficient Storage: retrying will not help, unlike a full queue's 429


class DeadlineExceeded(GatewiseError):
    """The request's deadline passed before its batch ran."""

    status = grpc.StatusCode.DEADLINE_EXCEEDED
    http_status = 504

    def __init__(self, name: str) -> None:
        super().__init__(f"deadline passed while the request waited for model {name!r}")


class EngineError(GatewiseError):
    """The inference engine failed to load or to run a batch."""


class PluginError(GatewiseError):
    """A plugin's hook raised; the message names the plugin and the hook."""

    def __init__(self, plugin: str, hook: str, cause: BaseException, *, bad_input: bool = False) -> None:
        super().__init__(f"plugin {plugin!r} failed in {hook}: {cause}")
        self.plugin = plugin
        self.hook = hook
        if bad_input:
            self.status = grpc.StatusCode.INVALID_ARGUMENT
            self.http_status = 400


class AuthError(GatewiseError):
    """A bearer token is missing, malformed, unknown or expired."""

    status = grpc.StatusCode.UNAUTHENTICATED
    http_status = 401


class Forbidden(GatewiseError):
    """The caller is authenticated but may not do this."""

    status = grpc.StatusCode.PERMISSION_DENIED
    http_status = 403

    def __init__(self, principal: str, what: str) -> None:
        super().__init__(f"principal {principal!r} may not {clip(what, 4 * QUOTE_CHARS)}")
        self.principal = principal


class StartupError(GatewiseError):
    """The server cannot start (port taken, repository missing, bad TLS or auth files): one line, no traceback."""


class KeyFileError(StartupError):
    """The API key file is missing, not TOML, or an entry names a bad field."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
