"""Gatewise plugins: hooks, the plugin manager and the built-in domain plugins.

A plugin is a module or object with ``@hookimpl`` functions from ``plugins.hookspecs``.
Plugin authors import them from the public ``gatewise`` package, which fronts this one::

    from gatewise import hookimpl

    @hookimpl
    def gatewise_postprocess(model, outputs, batch):
        ...

Ship it as a package whose ``pyproject.toml`` declares
``[project.entry-points.gatewise] my-plugin = "my_package.plugin"``, and name it in a
model's ``config.toml``: ``plugin = "my-plugin"``.
"""

if __name__ != "gatewise.plugins":  # one import path per module: pyproject.toml maps plugins/ to gatewise.plugins
    raise ImportError(f"import gatewise.plugins, not {__name__}: the plugins/ folder installs as gatewise.plugins")

from gatewise.plugins.context import BatchContext, ModelContext, Signature, Tensors
from gatewise.plugins.hookspecs import hookimpl, hookspec
from gatewise.plugins.manager import PluginManager

__all__ = ["BatchContext", "ModelContext", "PluginManager", "Signature", "Tensors", "hookimpl", "hookspec"]
