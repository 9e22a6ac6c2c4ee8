"""The ``gatewise`` command: serve, convert, keys, demo, bench."""

from __future__ import annotations

import inspect
from importlib import metadata
from typing import Annotated, Any, NoReturn

import click
import typer
from gatewise.gateway.records.cli import records_app
from gatewise.gateway.security.keys import keys_app
from gatewise.gateway.settings import ServerSettings
from typer.core import TyperGroup

COMMANDS_GROUP = "gatewise.commands"
"""Entry points naming Typer apps that become ``gatewise`` sub-commands (``convert`` from this
distribution, ``demo`` and ``bench`` from the lab): loaded only when they run, so the serving
code never imports them."""

INSTALL_HINTS = {
    command: "the gatewise-lab package: pip install -e tools/gatewise-lab"
    " (from a clone of the repository; scripts/bootstrap.sh installs it)"
    for command in ("demo", "bench")
}
"""What to install for a command whose package is absent (the lab is not in the serving wheel)."""


def _command_entry_points() -> dict[str, metadata.EntryPoint]:
    return {entry.name: entry for entry in metadata.entry_points(group=COMMANDS_GROUP)}


class _Commands(TyperGroup):
    """The root command group: the commands declared here, then those of ``COMMANDS_GROUP``."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        own = super().list_commands(ctx)
        return own + sorted(set(_command_entry_points()) - set(own))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            entry = _command_entry_points().get(cmd_name)
            if entry is not None:
                command = typer.main.get_command(entry.load())
                command.name = cmd_name
                self.add_command(command)
            elif cmd_name in INSTALL_HINTS:
                return _missing(cmd_name)
        return super().get_command(ctx, cmd_name)


def _missing(command: str) -> click.Command:
    """A stand-in that says, in one ``error:`` line, what to install for ``command``."""

    def explain(arguments: tuple[str, ...]) -> NoReturn:
        typer.echo(f"error: gatewise {command} needs {INSTALL_HINTS[command]}", err=True)
        raise typer.Exit(1)

    # Whatever follows the command (its own options, --help) is taken as is: the options belong
    # to a command that is not here, so only the install line can be said about them.
    return click.Command(
        command,
        callback=explain,
        params=[click.Argument(["arguments"], nargs=-1, type=click.UNPROCESSED)],
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
        help=f"(not installed: needs {INSTALL_HINTS[command]})",
    )


app = typer.Typer(help="Gatewise: a plugin-based model-serving gateway.", no_args_is_help=True, cls=_Commands)
app.add_typer(keys_app, name="keys")
app.add_typer(records_app, name="records")


@app.callback()
def _root() -> None:
    """Convert models, serve them over gRPC, run the demo and the benchmarks."""


def _serve_options() -> dict[str, inspect.Parameter]:
    """One option per ``ServerSettings`` field, keyed by the field: its type, default and the
    first sentence of its docstring, read from ``GATEWISE_<FLAG>`` and ``GATEWISE_<FIELD>``.

    The flag drops a unit suffix (``grace_period_s`` is ``--grace-period``), so each setting
    is declared once, in ``gateway/settings.py``, and ``gatewise serve`` follows it.
    """
    options = {}
    for field, info in ServerSettings.model_fields.items():
        flag = field.removesuffix("_s")
        envvars = list(dict.fromkeys([f"GATEWISE_{flag.upper()}", f"GATEWISE_{field.upper()}"]))
        summary = (info.description or "").split("\n\n")[0].replace("\n", " ").rstrip(".")
        # A switch that is off by default is one flag (``--repository-control``), not a pair.
        names = [f"--{flag.replace('_', '-')}"] if info.annotation is bool and info.default is False else []
        if _is_list(info.annotation):  # click would split its variable on spaces: ServerSettings reads it
            envvars = []
        annotation = Annotated[info.annotation, typer.Option(*names, help=summary, envvar=envvars)]
        keyword = inspect.Parameter.KEYWORD_ONLY
        options[field] = inspect.Parameter(flag, keyword, default=info.default, annotation=annotation)
    return options


def _is_list(annotation: Any) -> bool:
    return getattr(annotation, "__origin__", None) is list


_SERVE_OPTIONS = _serve_options()
_LIST_FIELDS = {field for field, info in ServerSettings.model_fields.items() if _is_list(info.annotation)}


def serve(**flags: Any) -> None:
    """Serve every model in REPOSITORY over gRPC until SIGINT or SIGTERM."""
    from gatewise.gateway.server import run
    from gatewise.protos.errors import StartupError
    from pydantic import ValidationError

    given = {field: flags[option.name] for field, option in _SERVE_OPTIONS.items()}
    # A list flag not given leaves its GATEWISE_* variable to ServerSettings.
    given = {field: value for field, value in given.items() if value or field not in _LIST_FIELDS}
    try:
        settings = ServerSettings(**given)
    except ValidationError as exc:  # a value the flag's type accepted but the setting does not (--memory-budget 4XB)
        problems = "; ".join(
            f"--{str(error['loc'][0]).replace('_', '-')}: {error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors()
        )
        typer.echo(f"error: {problems}", err=True)
        raise typer.Exit(1) from exc
    try:
        run(settings)
    except StartupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


serve.__signature__ = inspect.Signature(list(_SERVE_OPTIONS.values()))  # type: ignore[attr-defined]
serve.__annotations__ = {option.name: option.annotation for option in _SERVE_OPTIONS.values()}
app.command()(serve)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
