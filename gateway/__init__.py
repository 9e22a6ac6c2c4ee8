"""Gatewise gateway: an Open Inference Protocol gRPC server with dynamic batching.

``gatewise serve --repository models`` starts it; ``GatewayServer`` embeds it.
Importing this package never imports torch or TensorRT.
"""

__version__ = "0.1.0"
