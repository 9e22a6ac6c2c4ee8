"""``gatewise serve`` takes its defaults from ServerSettings.

``convert`` comes from its entry point, loaded only when it runs.
"""

from __future__ import annotations

from pathlib import Path

import gatewise.gateway.server
import pytest
import typer
from gatewise.gateway.cli import app
from gatewise.gateway.settings import ServerSettings
from typer.testing import CliRunner

runner = CliRunner()
FLAG_FIELDS = {name.removesuffix("_s"): name for name in ServerSettings.model_fields if name.endswith("_s")}


def serve_options() -> dict[str, object]:
    command = typer.main.get_command(app).get_command(None, "serve")  # type: ignore[arg-type, union-attr]
    return {FLAG_FIELDS.get(param.name, param.name): param for param in command.params}


def test_every_setting_is_a_serve_option_with_the_settings_default() -> None:
    """One place declares the defaults: each option's default is ServerSettings'."""
    options = serve_options()
    assert set(options) == set(ServerSettings.model_fields)
    for name, field in ServerSettings.model_fields.items():
        assert options[name].default == field.default, name


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[ServerSettings]:
    """The settings ``serve`` would run with (the server itself is not started)."""
    seen: list[ServerSettings] = []
    monkeypatch.setattr(gatewise.gateway.server, "run", seen.append)
    for name in ServerSettings.model_fields:
        for env in (f"GATEWISE_{name.upper()}", f"GATEWISE_{name.upper().removesuffix('_S')}"):
            monkeypatch.delenv(env, raising=False)
    return seen


def test_serve_with_no_flags_runs_the_default_settings(captured: list[ServerSettings]) -> None:
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 0, result.output
    assert captured == [ServerSettings()]


@pytest.mark.parametrize(
    ("env", "value", "field", "expected"),
    [
        ("GATEWISE_DRAIN_DELAY", "2.5", "drain_delay_s", 2.5),
        ("GATEWISE_DRAIN_DELAY_S", "3", "drain_delay_s", 3.0),
        ("GATEWISE_GRACE_PERIOD_S", "7", "grace_period_s", 7.0),
        ("GATEWISE_WATCH_INTERVAL_S", "1.5", "watch_interval_s", 1.5),
        ("GATEWISE_GRPC_PORT", "9001", "grpc_port", 9001),
        ("GATEWISE_REPOSITORY", "/srv/models", "repository", Path("/srv/models")),
        ("GATEWISE_REPOSITORY_CONTROL", "true", "repository_control", True),
        ("GATEWISE_ALLOW_UNAUTHENTICATED", "1", "allow_unauthenticated", True),
        ("GATEWISE_METRICS_HOST", "0.0.0.0", "metrics_host", "0.0.0.0"),
        ("GATEWISE_JWT_MAX_LIFETIME", "600", "jwt_max_lifetime_s", 600.0),
        ("GATEWISE_TLS_ADMIN_CLIENTS", "ops-a, Ops Team", "tls_admin_clients", ["ops-a", "Ops Team"]),
    ],
)
def test_environment_variables_reach_the_settings(
    captured: list[ServerSettings], monkeypatch: pytest.MonkeyPatch, env: str, value: str, field: str, expected: object
) -> None:
    monkeypatch.setenv(env, value)
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 0, result.output
    assert getattr(captured[0], field) == expected


def test_flags_override_the_environment(captured: list[ServerSettings], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWISE_DRAIN_DELAY_S", "3")
    result = runner.invoke(app, ["serve", "--drain-delay", "1", "--workers", "2", "--tracing"])
    assert result.exit_code == 0, result.output
    assert (captured[0].drain_delay_s, captured[0].workers, captured[0].tracing) == (1.0, 2, True)


def test_serve_help_shows_the_defaults() -> None:
    result = runner.invoke(app, ["serve", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "[default: 8001]" in result.output and "[default: 127.0.0.1]" in result.output


def test_convert_help_lists_the_convert_commands() -> None:
    """``convert``, loaded from its entry point, is listed and runs like any sub-app."""
    root = runner.invoke(app, ["--help"], terminal_width=200)
    assert "convert" in root.output
    result = runner.invoke(app, ["convert", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for command in ("onnx", "module", "tensorrt"):
        assert command in result.output


def test_list_flags_are_repeated_and_override_the_environment(
    captured: list[ServerSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWISE_TLS_ADMIN_CLIENTS", "from-env")
    result = runner.invoke(app, ["serve", "--tls-admin-clients", "Ops Team", "--tls-admin-clients", "b"])
    assert result.exit_code == 0, result.output
    assert captured[0].tls_admin_clients == ["Ops Team", "b"]
