"""The command groups that manage the service's surroundings: its API keys, the
dashboard's people, the audit trail, notification targets, chat registration and the
proxy's configuration. Each command imports its work when it runs."""

from __future__ import annotations

from pathlib import Path

import click

from chatops.cli.options import format_option as _format_option
from chatops.cli.options import repo_option as _repo_option


@click.group()
def chat() -> None:
    """Chat commands (Discord, Slack)."""


@chat.command("register")
@click.option("--dry-run", is_flag=True, help="Print the commands as JSON; send nothing.")
def chat_register(dry_run: bool) -> None:
    """Register chatops's slash commands with the Discord application
    (CHATOPS_DISCORD_APPLICATION_ID, CHATOPS_DISCORD_BOT_TOKEN)."""
    from chatops.cli.chat import register_command

    raise SystemExit(register_command(dry_run=dry_run))


@click.group()
def secrets() -> None:
    """Secrets kept in Git: the host's age identity and the SOPS files."""


@secrets.command("init")
@_repo_option
def secrets_init(repo: Path | None) -> None:
    """Create this host's age identity (once) and a .sops.yaml naming it."""
    from chatops.cli.secrets import init_command

    raise SystemExit(init_command(repo))


@secrets.command("edit")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@_repo_option
@click.option("--with-sops/--without-sops", "use_sops", default=None,
              help="Edit through sops (default: when it is installed).")
def secrets_edit(file: Path, repo: Path | None, use_sops: bool | None) -> None:
    """Open FILE decrypted in $EDITOR, then encrypt it back (a new file is encrypted for
    the recipients .sops.yaml names for it)."""
    from chatops.cli.secrets import edit_command

    raise SystemExit(edit_command(file, repo, use_sops=use_sops))


@secrets.command("add-recipient")
@click.argument("recipient")
@_repo_option
def secrets_add_recipient(recipient: str, repo: Path | None) -> None:
    """Let age key RECIPIENT read every SOPS file (and name it in .sops.yaml)."""
    from chatops.cli.secrets import add_recipient_command

    raise SystemExit(add_recipient_command(recipient, repo))


@secrets.command("rotate")
@_repo_option
def secrets_rotate(repo: Path | None) -> None:
    """Re-encrypt every SOPS file with a new data key, for the recipients .sops.yaml
    names."""
    from chatops.cli.secrets import rotate_command

    raise SystemExit(rotate_command(repo))


@secrets.command("check")
@_repo_option
def secrets_check(repo: Path | None) -> None:
    """No plain secret in a file an intent uses, and every SOPS file opens here."""
    from chatops.cli.secrets import check_command

    raise SystemExit(check_command(repo))


@click.group()
def traffic() -> None:
    """The proxy in front of blue-green services."""


@traffic.command("config")
@click.argument("name")
@_repo_option
@click.option("--write", is_flag=True,
              help="Write it into $CHATOPS_HAPROXY_CONFIG instead of printing it.")
def traffic_config(name: str, repo: Path | None, write: bool) -> None:
    """Print (or write) the HAProxy frontend and backend of intent NAME's blue-green
    services."""
    from chatops.cli.traffic import config_command

    raise SystemExit(config_command(name, repo, write=write))


@click.group()
def keys() -> None:
    """API keys of the service, stored as hashes."""


@keys.command("create")
@click.argument("name")
@click.option("--intents", default="*", show_default=True, help="Glob of intent names.")
@click.option("--stacks", default="", help="Comma-separated stacks (default: all).")
@click.option("--actions", default="", help="Comma-separated actions (default: all).")
@click.option("--audit", "audit_scope", is_flag=True, help="May read the audit trail.")
@click.option("--read-only", is_flag=True, help="May read, may not start runs.")
@click.option("--override-window", is_flag=True,
              help="May deploy outside the deploy windows (recorded in the audit trail).")
@click.option("--rollback", "rollback_scope", is_flag=True,
              help="May deploy a commit older than the one deployed (a rollback).")
@click.option("--approve", "approve_scope", is_flag=True,
              help="May approve (or deny) runs that wait for approvals.")
def keys_create(  # noqa: PLR0917 - Click passes options positionally
    name: str, intents: str, stacks: str, actions: str, audit_scope: bool, read_only: bool,
    override_window: bool, rollback_scope: bool, approve_scope: bool,
) -> None:
    """Create key NAME and print its token once."""
    from chatops.cli.serving import keys_create_command

    raise SystemExit(keys_create_command(name, intents, stacks, actions, audit_scope,
                                         read_only, override_window, rollback_scope,
                                         approve_scope))


@keys.command("list")
@_format_option
def keys_list(output: str) -> None:
    """List keys (never their tokens)."""
    from chatops.cli.serving import keys_list_command

    raise SystemExit(keys_list_command(json_output=output == "json"))


@keys.command("revoke")
@click.argument("name")
def keys_revoke(name: str) -> None:
    """Revoke key NAME at once (a running service notices within seconds)."""
    from chatops.cli.serving import keys_revoke_command

    raise SystemExit(keys_revoke_command(name))


@click.group()
def users() -> None:
    """People of the dashboard (/ui), with passwords stored as argon2id hashes."""


@users.command("add")
@click.argument("name")
@click.option("--scopes", default="read", show_default=True,
              help="Comma-separated: read, run, rollback, approve, audit.")
@click.option("--intents", default="*", show_default=True, help="Glob of intent names.")
@click.option("--stacks", default="", help="Comma-separated stacks (default: all).")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input (else it is asked for).")
def users_add(name: str, scopes: str, intents: str, stacks: str,
              password_stdin: bool) -> None:
    """Create user NAME of the dashboard."""
    import sys

    from chatops.cli.serving import users_add_command

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    raise SystemExit(users_add_command(name, password, scopes, intents, stacks))


@users.command("list")
@_format_option
def users_list(output: str) -> None:
    """List the dashboard's users (never their passwords)."""
    from chatops.cli.serving import users_list_command

    raise SystemExit(users_list_command(json_output=output == "json"))


@users.command("remove")
@click.argument("name")
def users_remove(name: str) -> None:
    """Remove user NAME; their sessions end at once."""
    from chatops.cli.serving import users_remove_command

    raise SystemExit(users_remove_command(name))


@click.group()
def audit() -> None:
    """The service's hash-chained audit trail."""


@audit.command("verify")
def audit_verify() -> None:
    """Check that no audit record was edited or deleted. Exit 1 if one was."""
    from chatops.cli.serving import audit_verify_command

    raise SystemExit(audit_verify_command())


@audit.command("tail")
@click.option("-n", "--lines", default=20, show_default=True, type=click.IntRange(1, 10000))
@_format_option
def audit_tail(lines: int, output: str) -> None:
    """Show the newest audit records."""
    from chatops.cli.serving import audit_tail_command

    raise SystemExit(audit_tail_command(lines, json_output=output == "json"))


@click.group()
def notify() -> None:
    """Notification targets (CHATOPS_NOTIFY_URLS, DISCORD_WEBHOOK_URL, Kuma push)."""


@notify.command("test")
@click.argument("target", required=False)
def notify_test(target: str | None) -> None:
    """Send a test message to every target, or to those whose name contains TARGET."""
    from chatops.cli.serving import notify_test_command

    raise SystemExit(notify_test_command(target))


@click.command()
@_format_option
def doctor(output: str) -> None:
    """Check this host: engine, Compose, the repository and its remote, the state folder,
    proxies, forge and clock, chat; one line each, with what to fix (exit 1 if any)."""
    from chatops.cli.drift import doctor_command

    raise SystemExit(doctor_command(json_output=output == "json"))


@click.group(invoke_without_command=True)
@_format_option
@click.pass_context
def previews(ctx: click.Context, output: str) -> None:
    """The previews of pull requests the service runs (list them, or a subcommand)."""
    if ctx.invoked_subcommand is None:
        from chatops.cli.previews import list_command

        raise SystemExit(list_command(json_output=output == "json"))


@previews.command("destroy")
@click.argument("number", type=click.IntRange(1, 999_999_999))
def previews_destroy(number: int) -> None:
    """Remove every preview of pull request NUMBER now (containers, volumes, networks,
    routes)."""
    from chatops.cli.previews import destroy_command

    raise SystemExit(destroy_command(number))


@previews.command("config")
@click.option("--write", is_flag=True, help="Write the files (else print them).")
def previews_config(write: bool) -> None:
    """The file the preview proxy loads once (CHATOPS_PREVIEW_PROXY): HAProxy's frontend
    and backends over CHATOPS_PREVIEW_PORTS; Traefik needs none."""
    from chatops.cli.previews import config_command

    raise SystemExit(config_command(write=write))


@click.command(hidden=True)
@click.argument("run_id")
def handoff(run_id: str) -> None:
    """A self-upgrade's helper: recreate chatops's service for run RUN_ID, and put the old
    image back unless the new chatops reports healthy. The old service starts it."""
    from chatops.cli.handoff import handoff_command

    raise SystemExit(handoff_command(run_id))


GROUPS = (chat, secrets, traffic, keys, users, audit, notify, doctor, previews, handoff)
