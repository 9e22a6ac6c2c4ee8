"""Gatewise gateway: an Open Inference Protocol gRPC server with dynamic batching.

``gatewise serve --repository models`` starts it; ``GatewayServer`` embeds it.
Importing this package never imports torch or TensorRT.
"""

if __name__ != "gatewise.gateway":  # one import path per module: pyproject.toml maps gateway/ to gatewise.gateway
    raise ImportError(f"import gatewise.gateway, not {__name__}: the gateway/ folder installs as gatewise.gateway")

__version__ = "0.1.0"
