"""Security events for chat: refused keys and addresses, unapproved labels, lockouts.

A flood of bad requests becomes one message per reason per window, not thousands:
``refused`` only counts (it runs on the guard's hot path); ``run`` turns each window's
counts into messages in the outbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from chatops.notify.messages import ChatMessage, security_message
from chatops.notify.outbox import Outbox
from chatops.notify.targets import Target

#: Refusals worth telling people about (rate limiting alone is not).
REPORTED = frozenset({"invalid_key", "missing_key", "address_not_allowed",
                      "label_not_approved", "scope_denied", "lockout_started",
                      "key_spray"})


_PROBE = ChatMessage("", "", "info", "")  # asks a target whether it takes digests at all


class SecurityDigest:
    def __init__(self, outbox: Outbox, targets: Mapping[str, Target], window: float) -> None:
        self.outbox = outbox
        self.all_targets = targets
        self.targets = [name for name, target in targets.items()
                        if target.for_security(_PROBE) is not None]
        self.window = window
        self._counts: dict[str, int] = {}
        self._clients: dict[str, dict[str, None]] = {}

    def refused(self, reason: str, client: str) -> None:
        if reason not in REPORTED or not self.targets:
            return
        self._counts[reason] = self._counts.get(reason, 0) + 1
        clients = self._clients.setdefault(reason, {})
        if len(clients) < 100:
            clients[client] = None

    def flush(self) -> int:
        counts, clients = self._counts, self._clients
        self._counts, self._clients = {}, {}
        for reason, count in sorted(counts.items()):
            message = security_message(reason, count, list(clients.get(reason, {})),
                                       self.window)
            for name in self.targets:
                payload = self.all_targets[name].for_security(message)
                if payload is not None:
                    self.outbox.put(name, "security", payload)
        return len(counts)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.window)
            self.flush()
