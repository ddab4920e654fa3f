"""``chatops chat register``: the slash commands, registered with Discord."""

from __future__ import annotations

import json
import sys

from chatops.chat.commands import discord_commands
from chatops.cli.config import current_settings


def register_command(*, dry_run: bool) -> int:
    commands = discord_commands()
    if dry_run:
        sys.stdout.write(json.dumps(commands, indent=2) + "\n")
        return 0
    import httpx

    settings = current_settings()
    missing = [name for name, value in (
        ("CHATOPS_DISCORD_APPLICATION_ID", settings.discord_application_id),
        ("CHATOPS_DISCORD_BOT_TOKEN", settings.discord_bot_token)) if not value]
    if missing:
        sys.stderr.write(f"error: {' and '.join(missing)} not set: the Discord application's "
                         "id and its bot token (Developer Portal, Bot)\n")
        return 4
    assert settings.discord_bot_token is not None  # noqa: S101 - checked above
    url = f"{settings.discord_api}/applications/{settings.discord_application_id}/commands"
    try:
        resp = httpx.put(url, json=commands, timeout=30, headers={
            "Authorization": f"Bot {settings.discord_bot_token.get_secret_value()}"})
    except httpx.HTTPError as exc:
        sys.stderr.write(f"error: Discord did not answer at {settings.discord_api}: "
                         f"{type(exc).__name__}\n")
        return 4
    if resp.status_code >= 400:
        sys.stderr.write(f"error: Discord refused the commands ({resp.status_code}): "
                         f"{resp.text[:300]}\n")
        return 4
    sys.stdout.write(f"registered {len(commands)} commands: "
                     f"{', '.join('/' + str(c['name']) for c in commands)}\n")
    return 0
