"""Typer application: one function per command; the work happens in the library."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from chatops import __version__
from chatops.errors import ChatopsError

app = typer.Typer(
    name="chatops",
    help="GitOps for Docker Compose hosts: validate intents, plan and run deploys.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class Format(enum.StrEnum):
    text = "text"
    json = "json"


RepoOption = Annotated[
    Path | None,
    typer.Option(
        "--repo",
        envvar="CHATOPS_REPO",
        help="GitOps repository (default: the current directory).",
        show_default=False,
    ),
]
FormatOption = Annotated[Format, typer.Option("--format", help="Output format.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"chatops {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True,
                     help="Print the version and exit."),
    ] = False,
) -> None:
    """GitOps for Docker Compose hosts."""


@app.command()
def validate(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Intent files or folders (default: chatops/intents of the repo).",
                       show_default=False),
    ] = None,
    repo: RepoOption = None,
    output: FormatOption = Format.text,
    check_compose: Annotated[
        bool,
        typer.Option("--check-compose",
                     help="Also run 'docker compose -f FILE config --quiet' on each compose file."),
    ] = False,
) -> None:
    """Check intent files: fields, YAML safety, dependencies. Exit 1 when any is invalid."""
    from chatops.cli.commands import validate_command

    code = validate_command(paths or [], repo, json_output=output is Format.json,
                            check_compose=check_compose)
    raise typer.Exit(code)


@app.command()
def plan(
    name: Annotated[str, typer.Argument(help="Intent name (its file stem).")],
    repo: RepoOption = None,
    output: FormatOption = Format.text,
    no_rollback: Annotated[
        bool, typer.Option("--no-rollback", help="Plan without automatic rollback.")
    ] = False,
) -> None:
    """Dry run: print every step a run of NAME would take. Changes nothing."""
    from chatops.cli.commands import plan_command

    raise typer.Exit(plan_command(name, repo, json_output=output is Format.json,
                                  rollback=not no_rollback))


@app.command()
def schema() -> None:
    """Print the JSON Schema of an intent document (for editors and yaml-language-server)."""
    from chatops.cli.commands import schema_command

    raise typer.Exit(schema_command())


__all__ = ["ChatopsError", "app"]
