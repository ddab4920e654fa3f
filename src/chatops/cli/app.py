"""The command-line interface (Click): one function per command; the work lives in the library.

Click rather than Typer: Typer builds its parameter converters with pydantic at every
start, which costs more than the whole of ``chatops validate`` on a thousand files.
"""

from __future__ import annotations

from pathlib import Path

import click

from chatops import __version__

_repo_option = click.option(
    "--repo",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="CHATOPS_REPO",
    default=None,
    help="GitOps repository (default: $CHATOPS_REPO, else the current directory).",
)
_format_option = click.option(
    "--format", "output", type=click.Choice(["text", "json"]), default="text",
    show_default=True, help="Output format.",
)


@click.group(
    name="chatops",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", "-V", prog_name="chatops",
                      message="%(prog)s %(version)s")
def app() -> None:
    """GitOps for Docker Compose hosts: validate intents, plan and run deploys."""


@app.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_repo_option
@_format_option
@click.option("--check-compose", is_flag=True,
              help="Also run 'docker compose -f FILE config --quiet' on each compose file.")
def validate(paths: tuple[Path, ...], repo: Path | None, output: str, check_compose: bool) -> None:
    """Check intent files: fields, YAML safety, dependencies.

    PATHS are intent files or folders (default: chatops/intents of the repository).
    Exit code 0 when all are valid, 1 otherwise.
    """
    from chatops.cli.commands import validate_command

    raise SystemExit(validate_command(list(paths), repo, json_output=output == "json",
                                      check_compose=check_compose))


@app.command()
@click.argument("name")
@_repo_option
@_format_option
@click.option("--no-rollback", is_flag=True, help="Plan without automatic rollback.")
def plan(name: str, repo: Path | None, output: str, no_rollback: bool) -> None:
    """Dry run: print every step a run of intent NAME would take. Changes nothing."""
    from chatops.cli.commands import plan_command

    raise SystemExit(plan_command(name, repo, json_output=output == "json",
                                  rollback=not no_rollback))


@app.command()
def schema() -> None:
    """Print the JSON Schema of an intent document (for editors and yaml-language-server)."""
    from chatops.cli.commands import schema_command

    raise SystemExit(schema_command())
