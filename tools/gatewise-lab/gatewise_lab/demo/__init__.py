"""``gatewise demo``: build a repository of real fine-tuned models and call each one over gRPC.

``build_repository`` trains (seeded), converts and validates every demo model once and
reuses the result; ``run_demo`` builds, starts the gateway, calls every model and prints
what came in, what was redacted and what came out. Both import torch only while building.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gatewise_lab.demo.build import build_repository
    from gatewise_lab.demo.runner import run_demo

__all__ = ["build_repository", "run_demo"]


def __getattr__(name: str) -> Any:
    # NOTE: lazy, so `import gatewise_lab.demo` (the CLI does) costs nothing until the demo runs.
    if name == "build_repository":
        from gatewise_lab.demo.build import build_repository

        return build_repository
    if name == "run_demo":
        from gatewise_lab.demo.runner import run_demo

        return run_demo
    raise AttributeError(name)
