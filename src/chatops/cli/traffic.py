"""``chatops traffic config``: the proxy configuration of an intent's blue-green services."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from chatops.cli.commands import load_or_explain
from chatops.cli.config import current_settings
from chatops.errors import ChatopsError
from chatops.repo import GitOpsRepo
from chatops.settings import Settings

if TYPE_CHECKING:
    from chatops.intents.traffic import Traffic


def config_command(name: str, repo: Path | None, *, write: bool) -> int:
    settings = current_settings()
    gitops = GitOpsRepo.discover(repo)
    intent = load_or_explain(gitops, name, "configured")
    if intent is None:
        return 4
    # Every step behind a proxy: blue-green, and a canary with a traffic block.
    docs = [d for d in intent.documents if d.traffic is not None and d.service]
    if not docs:
        sys.stderr.write(f"error: intent {name!r} has no step behind a proxy (strategy "
                         "blue-green or canary, with a traffic block)\n")
        return 4
    try:
        for doc in docs:
            assert doc.traffic is not None  # noqa: S101 - filtered above
            asyncio.run(_one(doc.stack, doc.service or "", doc.traffic, settings,
                             write=write))
    except ChatopsError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return 4
    return 0


async def _one(stack: str, service: str, traffic: Traffic, settings: Settings, *,
               write: bool) -> None:
    from chatops.traffic import DRIVERS, driver_for
    from chatops.traffic.haproxy import write_atomically

    driver = driver_for(stack, service, traffic, settings)
    try:
        text = await driver.configuration()
        path = driver.config_path
        if text is None or path is None:
            sys.stderr.write(f"{stack}/{service}: this driver is configured through its "
                             "API; nothing to write\n")
            return
        if not write:
            sys.stdout.write(text)
            return
        write_atomically(path, text)
        sys.stdout.write(f"wrote {path}; {DRIVERS[traffic.driver].loaded}\n")
    finally:
        await driver.close()
