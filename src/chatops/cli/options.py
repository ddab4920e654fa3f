"""The options several commands share."""

from __future__ import annotations

from pathlib import Path

import click

repo_option = click.option(
    "--repo",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="CHATOPS_REPO",
    default=None,
    help="GitOps repository (default: $CHATOPS_REPO, else the current directory).",
)
format_option = click.option(
    "--format", "output", type=click.Choice(["text", "json"]), default="text",
    show_default=True, help="Output format.",
)

