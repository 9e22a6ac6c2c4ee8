"""The plugin manager: built-ins by name, per-model dispatch, failures named, audit isolated."""

from __future__ import annotations

import numpy as np
import pytest
from gatewise.plugins import BatchContext, hookimpl
from gatewise.plugins.manager import PluginManager
from gatewise.protos.errors import InvalidInput, PluginError

from conftest import request_finished_event


class Upper:
    """A model plugin that upper-cases text, to see whose hooks run."""

    @hookimpl
    def gatewise_preprocess(self, inputs, batch):  # accepts a subset of the arguments
        return {"text": np.array([value.upper() for value in inputs["text"]], dtype=object)}


class Failing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    @hookimpl
    def gatewise_preprocess(self, model, inputs, batch):
        raise self.error


class Auditor:
    def __init__(self) -> None:
        self.events: list[dict] = []

    @hookimpl
    def gatewise_request_finished(self, model_name, status, principal, rows):
        self.events.append({"model": model_name, "status": status, "principal": principal, "rows": rows})


def test_builtins_are_registered_by_name() -> None:
    assert "text-classification" in PluginManager(entry_points=False).names


def test_only_the_named_plugins_model_hooks_run() -> None:
    """Two plugins implement preprocess; a model's hooks call only the one its config names."""
    manager = PluginManager(entry_points=False, extra=[("upper", Upper()), ("failing", Failing(RuntimeError("x")))])
    hooks = manager.model_hooks("upper")
    out = hooks.preprocess(None, {"text": np.array(["abc"], dtype=object)}, BatchContext.single(1))
    assert list(out["text"]) == ["ABC"]


def test_unknown_plugin_lists_what_is_registered() -> None:
    with pytest.raises(KeyError, match="no plugin named 'nope'; registered: .*text-classification"):
        PluginManager(entry_points=False).model_hooks("nope")


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ValueError("bad date"), "INVALID_ARGUMENT"),
        (InvalidInput("input 'text' row 0 is not UTF-8"), "INVALID_ARGUMENT"),
        (RuntimeError("boom"), "INTERNAL"),
    ],
    ids=["ValueError", "InvalidInput", "RuntimeError"],
)
def test_plugin_failures_are_named_and_mapped(error: Exception, status: str) -> None:
    """ValueError and InvalidInput -> INVALID_ARGUMENT, anything else -> INTERNAL; every message names plugin
    and hook, so a client reads all plugin failures one way."""
    hooks = PluginManager(entry_points=False, extra=[("failing", Failing(error))]).model_hooks("failing")
    with pytest.raises(PluginError, match=f"plugin 'failing' failed in gatewise_preprocess: {error}") as info:
        hooks.preprocess(None, {}, BatchContext.single(1))
    assert info.value.status.name == status


def test_misspelt_hook_fails_at_registration() -> None:
    """A hookimpl whose name is not a hookspec is caught by check_pending."""

    class Typo:
        @hookimpl
        def gatewise_preprocesss(self, inputs):
            return inputs

    manager = PluginManager(entry_points=False)
    with pytest.raises(Exception, match="gatewise_preprocesss"):
        manager.register(Typo(), name="typo")


def test_audit_hooks_see_every_request_and_cannot_fail_it(caplog: pytest.LogCaptureFixture) -> None:
    """request_finished reaches every plugin even when another one raises; the failure is logged."""

    class Broken:
        @hookimpl
        def gatewise_request_finished(self):
            raise RuntimeError("audit store down")

    auditor = Auditor()
    manager = PluginManager(entry_points=False, extra=[("auditor", auditor), ("broken", Broken())])
    manager.request_finished(**request_finished_event(principal="alice", principal_via="key", rows=3, duration_s=0.1))
    assert auditor.events == [{"model": "m", "status": "OK", "principal": "alice", "rows": 3}]
    assert "plugin 'broken' failed in gatewise_request_finished" in caplog.text
