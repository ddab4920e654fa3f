"""``chatops traffic config``: the proxy configuration of an intent's blue-green services."""

from __future__ import annotations

import sys
from pathlib import Path

from chatops.cli.commands import load_or_explain
from chatops.errors import ChatopsError
from chatops.repo import GitOpsRepo
from chatops.settings import Settings


def config_command(name: str, repo: Path | None, *, write: bool) -> int:
    from chatops.traffic import driver_for
    from chatops.traffic.haproxy import HAProxy, render, write_atomically

    settings = Settings.from_env()
    gitops = GitOpsRepo.discover(repo)
    intent = load_or_explain(gitops, name, "configured")
    if intent is None:
        return 4
    docs = [d for d in intent.documents if d.strategy == "blue-green" and d.traffic
            and d.service]
    if not docs:
        sys.stderr.write(f"error: intent {name!r} has no blue-green step (strategy: "
                         "blue-green with a traffic block)\n")
        return 4
    for doc in docs:
        assert doc.traffic is not None  # noqa: S101 - filtered above
        assert doc.service is not None  # noqa: S101
        try:
            driver = driver_for(doc.stack, doc.service, doc.traffic, settings)
        except ChatopsError as exc:
            sys.stderr.write(f"error: {exc.message}\n")
            return 4
        if not isinstance(driver, HAProxy):
            sys.stderr.write(f"{doc.stack}/{doc.service}: driver {doc.traffic.driver} is "
                             "configured through its API; nothing to write\n")
            continue
        # Keep the slot a file already routes to: rewriting must never move traffic.
        text = render(driver.backend, driver.written_live() or "blue")
        if not write:
            sys.stdout.write(text)
            continue
        try:
            write_atomically(driver.config_path, text)
        except ChatopsError as exc:
            sys.stderr.write(f"error: {exc.message}\n")
            return 4
        sys.stdout.write(f"wrote {driver.config_path}; reload HAProxy once to load it "
                         "(switches after that need no reload)\n")
    return 0
