"""Pull mode: the service fetches the deploy branch on an interval and deploys what it
brings, for hosts that no webhook can reach. A new branch head is handled like a push
from the checkout's commit to it (``Pushes.deploy_push``: the same checks in the same
order: replay, window, the affected intents, each one's approval on the forge, a clean
checkout), and once: a head refused or deployed is not tried again until the branch
moves. A branch that moved backwards or sideways (force-pushed) is refused, as a pushed
one is.

Fetching is watched: ``fetch_alert_after`` failures in a row raise one alert, and the
first fetch that works again one recovery message; ``fetches`` keeps when the last one
worked and what Git said, for the drift view.
"""

from __future__ import annotations

import asyncio
import time

from msgspec import Struct

from chatops.application.asks import Push
from chatops.application.caller import Caller
from chatops.application.pushes import Pushes
from chatops.errors import ChatopsError, GitError
from chatops.notify.messages import fetch_message


class FetchHealth(Struct):
    """How fetching the deploy branch goes."""

    failures: int = 0  # in a row
    failing_since: float | None = None  # wall time of the first of them
    error: str = ""
    last_success: float | None = None  # wall time
    alerted: bool = False


class Polling(Pushes):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.fetches = FetchHealth()
        self._tried: str | None = None  # the last branch head handled (or refused)

    async def poll(self, caller: Caller) -> str:
        """One poll: fetch, then deploy what a new branch head brings. What happened."""
        sync = self.ctx.sync()
        try:
            async with self.ctx.checkout_lock:
                await asyncio.to_thread(sync.fetch)
        except GitError as exc:
            self._fetch_failed(caller, exc.message)
            return f"fetch failed: {exc.message}"
        self._fetch_worked(caller)
        head = await asyncio.to_thread(sync.resolve, None)
        here = await asyncio.to_thread(sync.head)
        if head in (here, self._tried):
            return "up to date" if head == here else f"{head[:12]} was handled already"
        self._tried = head  # a head that is not a fast-forward is refused by deploy_push
        author = await asyncio.to_thread(
            lambda: sync.git.out("log", "-1", "--format=%an", head) or "unknown")
        push = Push(ref=f"refs/heads/{sync.branch}", before=here, after=head,
                    delivery=f"poll-{head[:12]}", actor=f"{author} (pull mode)")
        try:
            full, order = await self.deploy_push(caller, push)
        except ChatopsError as exc:  # recorded in the audit trail by the use case
            return f"refused: {exc.message}"
        return (f"{full[:12]}: deploying {', '.join(order)}" if order
                else f"{full[:12]} affects no intent")

    def _fetch_failed(self, caller: Caller, error: str) -> None:
        health, now = self.fetches, time.time()
        health.failures += 1
        health.error = error
        if health.failing_since is None:
            health.failing_since = now
        limit = self.ctx.runtime.settings.fetch_alert_after
        if health.failures >= limit and not health.alerted:
            health.alerted = True
            self._record(caller, "fetch_failing", 503,
                         reason=f"{health.failures} fetches in a row failed: {error}")
            self._announce(failing=True, since=now - health.failing_since)

    def _fetch_worked(self, caller: Caller) -> None:
        health, now = self.fetches, time.time()
        if health.alerted and health.failing_since is not None:
            self._record(caller, "fetch_recovered", 200,
                         reason=f"fetching works again after {health.failures} failures")
            self._announce(failing=False, since=now - health.failing_since)
        self.fetches = FetchHealth(last_success=now)

    def _announce(self, *, failing: bool, since: float) -> None:
        sync, health = self.ctx.sync(), self.fetches
        self.announce(fetch_message(
            failing=failing, remote=sync.remote, branch=sync.branch, since=float(int(since)),
            count=health.failures, error=health.error), "fetch")
