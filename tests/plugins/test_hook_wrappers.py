"""Wrappers (``@hookimpl(wrapper=True)``) work on every hook: the manager calls hooks through pluggy's
own machinery, a wrapping-only plugin wraps every model's hooks, and the hooks whose implementations
are isolated from each other (audit, log redaction) keep that isolation with wrappers around them."""

from __future__ import annotations

import inspect
import logging
from typing import Any

import numpy as np
import pytest
from gatewise.plugins import BatchContext, hookimpl, hookspecs
from gatewise.plugins.manager import MODEL_HOOKS, PluginManager

from conftest import request_finished_event

EVERY_HOOK = sorted(
    name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("gatewise_")
)
EVENT = request_finished_event()


def wrapping_plugin(seen: list[str]) -> object:
    """A plugin with one wrapper for each hook of the spec, recording which ran."""

    def wrapper_for(hook: str) -> Any:
        def wrap() -> Any:
            seen.append(hook)
            return (yield)

        return hookimpl(specname=hook, wrapper=True)(wrap)

    return type("Wrapping", (), {f"wrap_{hook}": staticmethod(wrapper_for(hook)) for hook in EVERY_HOOK})()


class Own:
    """A model plugin whose preprocess adds one."""

    @hookimpl
    def gatewise_preprocess(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"x": inputs["x"] + 1}


class Other:
    """Another model's plugin: its plain implementation must not run for ``own``'s models."""

    @hookimpl
    def gatewise_preprocess(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise AssertionError("another plugin's model hook ran")


def test_the_spec_covers_the_hooks_the_manager_calls() -> None:
    assert set(MODEL_HOOKS) | {"gatewise_request_finished", "gatewise_redact_log"} == set(EVERY_HOOK)


def test_every_hook_runs_its_wrappers() -> None:
    """One wrapper per hook, in a plugin of its own: each runs when the gateway calls that hook."""
    seen: list[str] = []
    manager = PluginManager(entry_points=False, extra=[("own", Own()), ("wrapping", wrapping_plugin(seen))])
    hooks = manager.model_hooks("own")
    model, batch, x = object(), BatchContext.single(1), {"x": np.zeros(1)}
    hooks.load(model)
    hooks.signature(model)
    hooks.warmup_inputs(model)
    assert hooks.preprocess(model, x, batch)["x"][0] == 1
    hooks.postprocess(model, x, batch)
    hooks.explainer(model, x, x, {})
    manager.request_finished(**EVENT)
    manager.redact_log("a message", "gatewise.test", logging.INFO)
    assert sorted(set(seen)) == EVERY_HOOK


def test_a_wrapper_in_another_plugin_rewrites_a_models_result_and_plain_hooks_stay_the_models_own() -> None:
    class TimesTen:
        @hookimpl(wrapper=True)
        def gatewise_preprocess(self) -> Any:
            result = yield
            return {"x": result["x"] * 10}

    manager = PluginManager(entry_points=False, extra=[("own", Own()), ("other", Other()), ("times-ten", TimesTen())])
    out = manager.model_hooks("own").preprocess(object(), {"x": np.array([1.0])}, BatchContext.single(1))
    assert out["x"].tolist() == [20.0]  # (1 + 1) * 10: the wrapper around the model's own plugin alone


def test_audit_implementations_stay_isolated_with_a_wrapper_around_each() -> None:
    """A failing audit plugin neither stops another from recording nor the wrapper from seeing both calls."""
    recorded: list[str] = []
    wrapped: list[str] = []

    class Broken:
        @hookimpl
        def gatewise_request_finished(self, request_id: str) -> None:
            raise RuntimeError("audit sink down")

    class Records:
        @hookimpl
        def gatewise_request_finished(self, request_id: str) -> None:
            recorded.append(request_id)

    class Around:
        @hookimpl(wrapper=True)
        def gatewise_request_finished(self, status: str) -> Any:
            wrapped.append(status)
            return (yield)

    manager = PluginManager(
        entry_points=False, extra=[("records", Records()), ("broken", Broken()), ("around", Around())]
    )
    manager.request_finished(**EVENT)
    assert recorded == ["r"]
    assert len(wrapped) == 3  # around the built-in audit plugin, ``records`` and ``broken``


def test_log_redaction_chains_through_wrappers_and_skips_a_broken_redactor(caplog: pytest.LogCaptureFixture) -> None:
    class Stars:
        @hookimpl
        def gatewise_redact_log(self, message: str) -> str:
            return message.replace("secret", "******")

    class Broken:
        @hookimpl
        def gatewise_redact_log(self, message: str) -> str:
            raise ValueError("broken redactor")

    class Loud:
        @hookimpl(wrapper=True)
        def gatewise_redact_log(self) -> Any:
            results = yield
            return [result.upper() if isinstance(result, str) else result for result in results]

    manager = PluginManager(entry_points=False, extra=[("stars", Stars()), ("broken", Broken()), ("loud", Loud())])
    with caplog.at_level(logging.ERROR, logger="gatewise.plugins"):
        assert manager.redact_log("the secret word", "gatewise.test", logging.INFO) == "THE ****** WORD"
    assert "plugin 'broken' failed in gatewise_redact_log (ValueError)" in caplog.text
