"""Test a Gatewise plugin without a server, as ``structlog.testing`` does for logs.

``PluginHarness`` runs a plugin's hooks in the gateway's order against any engine and
checks the contract; ``capture_logs`` and ``assert_not_logged`` prove that no payload
reaches a log. With pytest, ``pytest_plugins = ["gatewise.testing"]`` in a
``conftest.py`` adds the ``gatewise_logs`` fixture. See docs/plugins.md, "Testing a plugin".
"""

from gatewise.plugins.harness import (
    SPECIAL_TOKENS,
    PluginHarness,
    assert_not_logged,
    capture_logs,
    model_context,
    onnx_engine,
    texts,
    tiny_tokenizer,
)

__all__ = [
    "SPECIAL_TOKENS",
    "PluginHarness",
    "assert_not_logged",
    "capture_logs",
    "model_context",
    "onnx_engine",
    "texts",
    "tiny_tokenizer",
]

try:
    from gatewise.plugins.harness import gatewise_logs
except ImportError:  # no pytest: the fixture needs it, the helpers above do not
    pass
else:
    __all__ += ["gatewise_logs"]
